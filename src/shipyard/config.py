"""The one settings object.

Every knob has one name used everywhere: the field name here, `SHIPYARD_<NAME>` in the environment,
`<name>` in `shipyard.yaml`, and `--<name>` on the CLI where the CLI exposes it. Environment beats
the file, the file beats the defaults.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CHAT_MODEL = "smollm2"
DEFAULT_EMBEDDING_MODEL = "all-minilm-l6-v2"


class ModelSpec(BaseModel):
    """One public model name and the provider that serves it."""

    name: str
    provider: str
    model: str | None = None  # upstream model name, or a GGUF path / `bundled:NAME` for local models
    base_url: str | None = None
    api_key: str | None = None  # literal, or `env:VAR` to read it from the environment at start
    timeout: float | None = None  # seconds; falls back to Settings.upstream_timeout
    params: dict[str, Any] = Field(default_factory=dict)  # provider-specific (n_ctx, n_threads, ...)

    def resolved_api_key(self) -> str | None:
        if self.api_key and self.api_key.startswith("env:"):
            return os.environ.get(self.api_key[4:])
        return self.api_key


def bundled_models() -> list[ModelSpec]:
    """The two local models a fresh install serves with no configuration at all."""
    return [
        ModelSpec(name=DEFAULT_CHAT_MODEL, provider="local", model="bundled:smollm2"),
        ModelSpec(name=DEFAULT_EMBEDDING_MODEL, provider="local-embeddings", model="bundled:all-minilm-l6-v2"),
    ]


class _YamlSource(PydanticBaseSettingsSource):
    """Reads `shipyard.yaml`; sits below the environment in priority."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        data = yaml.safe_load(self.path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: expected a mapping at the top level")
        return data


def _config_path() -> Path | None:
    explicit = os.environ.get("SHIPYARD_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    local = Path("shipyard.yaml")
    return local if local.exists() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", extra="ignore")

    config: Path | None = None
    data_dir: Path = Path("~/.shipyard")
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 4000

    models: list[ModelSpec] = Field(default_factory=list)
    include_bundled_models: bool = True

    upstream_timeout: float = 600.0
    max_body_bytes: int = 8 * 1024 * 1024
    # Local llama.cpp: how many generations run at once per model, and how many may wait for a slot.
    local_parallel: int = 1
    local_queue_size: int = 64
    local_threads: int | None = None

    # The batched writer that keeps database writes off the request path.
    writer_queue_size: int = 100_000
    writer_batch_size: int = 500
    writer_flush_interval: float = 0.2

    # Store what went into and came out of each model call in its span (off: metadata only).
    trace_content: bool = True

    # Vector collections: HNSW graph parameters (embedded hnswlib index and pgvector alike), embedding
    # batch size, and how often a changed embedded index is written beside the database.
    vector_hnsw_m: int = 16
    vector_hnsw_ef_construction: int = 128
    vector_hnsw_ef_search: int = 64
    vector_embed_batch: int = 64
    vector_index_save_interval: float = 10.0
    vector_payload_cache: int = 200_000  # documents per embedded collection kept in memory for fast hits

    # Evaluation: items scored at once per experiment; how often online rules look for new traffic.
    evals_concurrency: int = 4
    evals_online_interval: float = 30.0
    evals_online_batch: int = 200

    log_level: str = "warning"

    # Gateway controls (keys, limits, budgets, cache, routing): see docs/controls.md.
    auth: str = "auto"  # auto: keys required once one exists (first start on a non-loopback host makes one); on
    admin_key: str | None = None  # the first admin key, instead of a generated one
    redis_prefix: str = "shipyard:"
    control_poll_interval: float = 1.0  # seconds between checks for changes made on other replicas
    limits_burst_seconds: float = 60.0  # a per-minute limit may be spent in a burst of this many seconds' worth
    default_rpm: int | None = None  # limits for keys and projects that set none
    default_tpm: int | None = None
    cache_enabled: bool = False
    cache_backend: str = "auto"  # auto (redis when configured, else sqlite) | memory | sqlite | redis
    cache_ttl: float = 3600.0
    cache_max_entries: int = 10_000
    cache_semantic_models: list[str] = Field(default_factory=list)  # opt-in semantic cache per model
    cache_similarity: float = 0.95
    cache_embedding_model: str = DEFAULT_EMBEDDING_MODEL
    deployments: list[dict[str, Any]] = Field(default_factory=list)  # seeded into the database on first start
    retries: int = 0  # retries on 429/5xx/timeouts for plain models; deployments set their own
    retry_backoff: float = 0.25
    breaker_failures: int = 5  # consecutive failures that open a deployment's circuit
    breaker_cooldown: float = 30.0  # seconds a tripped deployment rests before one trial request

    # Observability (traces, metrics, drift): see docs/observe.md.
    metrics_enabled: bool = True  # count gateway calls into the Prometheus series served at /metrics
    otlp_endpoint: str | None = None  # e.g. http://collector:4318/v1/traces: every stored span is exported too
    otlp_headers: dict[str, str] = Field(default_factory=dict)  # sent with every export (auth tokens)
    trace_retention_days: float = 0.0  # delete traces, spans and their scores older than this; 0 keeps them
    retention_interval: float = 3600.0  # seconds between retention sweeps
    trace_stream: str | None = None  # Redis stream the replicas hand spans through; default per database
    drift_webhook_url: str | None = None  # drift alerts are POSTed here as JSON
    drift_alpha: float = 0.01  # a drift test with a p-value under this (and a real effect) raises an alert
    drift_interval: float = 0.0  # seconds between scheduled drift checks of every active model; 0: on demand
    drift_embedding_model: str = DEFAULT_EMBEDDING_MODEL
    # Fine-tuning (issue 9). The embedded worker trains inside `shipyard serve`; at scale turn it off and run
    # `shipyard worker` on the machines with the GPUs (they share the database and `finetune_dir`).
    finetune_embedded_worker: bool = True
    finetune_dir: Path | None = None  # checkpoints and adapters; default <data_dir>/finetune
    finetune_device: str | None = None  # cuda, cuda:1, mps or cpu; default: CUDA when available
    finetune_lease_seconds: float = 60.0  # a job whose worker stopped heartbeating this long is taken up again
    finetune_poll_interval: float = 2.0
    finetune_max_file_bytes: int = 200 * 1024 * 1024
    finetune_eval_max_items: int = 50
    finetune_model_sync_interval: float = 5.0  # how often a server picks up models registered by other workers
    # Guardrails: scan model input and output in the gateway (policies per project/key/model in the DB).
    guard_enabled: bool = True
    guard_redact_storage: bool = False  # mask PII and secrets in what Shipyard stores (records, traces)
    guard_policy_refresh: float = 10.0  # seconds between policy reloads (other workers' edits)
    # Chains: default per-step timeout, and hosts every chain's http steps may call (besides their own list).
    chain_step_timeout: float = 120.0
    chain_http_allow_hosts: list[str] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls, _config_path()))

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'shipyard.db'}"

    @cached_property
    def model_specs(self) -> list[ModelSpec]:
        """Configured models, plus the bundled ones unless a configured model already took the name."""
        specs = list(self.models)
        if self.include_bundled_models:
            taken = {m.name for m in specs}
            specs += [m for m in bundled_models() if m.name not in taken]
        return specs


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings, optionally from an explicit config file (the CLI's --config)."""
    if config is None:
        return Settings(**overrides)
    previous = os.environ.get("SHIPYARD_CONFIG")
    os.environ["SHIPYARD_CONFIG"] = str(Path(config).expanduser())
    try:
        return Settings(config=Path(config).expanduser(), **overrides)
    finally:
        if previous is None:
            del os.environ["SHIPYARD_CONFIG"]
        else:
            os.environ["SHIPYARD_CONFIG"] = previous
