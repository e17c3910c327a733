"""Settings: defaults, shipyard.yaml, and the environment, in that order of strength."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import Settings, load_settings


def test_defaults_are_the_embedded_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHIPYARD_CONFIG", raising=False)
    s = Settings()
    assert s.port == 4000 and s.host == "127.0.0.1"
    assert s.effective_database_url.startswith("sqlite:///") and s.effective_database_url.endswith("shipyard.db")
    assert [m.name for m in s.model_specs] == ["smollm2", "all-minilm-l6-v2"]


def test_yaml_then_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "shipyard.yaml"
    cfg.write_text("port: 5000\nhost: 0.0.0.0\nmodels:\n  - name: smollm2\n    provider: openai\n"
                   "    base_url: http://x/v1\n    api_key: env:MY_KEY\n")
    monkeypatch.setenv("SHIPYARD_PORT", "6000")
    monkeypatch.setenv("MY_KEY", "sk-123")
    s = load_settings(cfg)
    assert s.port == 6000  # environment beats the file
    assert s.host == "0.0.0.0"  # the file beats the default
    specs = {m.name: m for m in s.model_specs}
    assert specs["smollm2"].provider == "openai"  # a configured model takes the bundled one's name
    assert specs["smollm2"].resolved_api_key() == "sk-123"
    assert "all-minilm-l6-v2" in specs


def test_bad_yaml_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "shipyard.yaml"
    cfg.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_settings(cfg)
