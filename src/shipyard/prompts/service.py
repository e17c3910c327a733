"""The prompt registry as a platform service, and the in-process calls other capabilities use.

    from shipyard.prompts import service as prompts
    rendered = prompts.render(platform, "support-reply", "production", {"question": "..."}, principal)
    answer = await prompts.run(platform, "support-reply", "production", {"question": "..."}, principal)

Files: a prompt is one YAML file (`name`, `messages` or `template`, `variables`, `model`, `params`,
optional `labels` and `message`); a folder of them is what `shipyard prompts push` sends, so prompts
can live in git and be promoted by CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from shipyard.auth import LOCAL_ADMIN, Principal
from shipyard.errors import InvalidRequest
from shipyard.prompts import template
from shipyard.prompts.registry import Registry, Version, dump_yaml

if TYPE_CHECKING:
    from shipyard.platform import Platform


class PromptService:
    """`platform.service("prompts", PromptService)`: the registry of prompts."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.registry = Registry(platform, "prompt", template.normalize, reserved=("import",))

    def push(self, project_id: str, doc: dict[str, Any], *, author: str | None = None,
             name: str | None = None) -> tuple[Version, bool]:
        """Add a version from a file-shaped document (name, spec fields, optional labels and message)."""
        if not isinstance(doc, dict):
            raise InvalidRequest("a prompt document must be an object")
        name = name or doc.get("name")
        labels = doc.get("labels") or []
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list):
            raise InvalidRequest("`labels` must be a list of label names", param="labels")
        message = doc.get("message") or doc.get("commit_message")
        spec = {k: v for k, v in doc.items() if k not in ("name", "labels", "message", "commit_message")}
        return self.registry.create(project_id, name, spec, message=message, author=author, labels=labels)

    def render(self, project_id: str, name: str, ref: Any, variables: dict[str, Any] | None,
               *, cached: bool = True) -> tuple[Version, dict[str, Any]]:
        version = self.registry.get(project_id, name, ref, cached=cached)
        return version, template.render(version.spec, variables, f"prompt '{name}' v{version.version}")

    def export(self, project_id: str, name: str, ref: Any = None) -> str:
        """One version as the YAML file `push` reads back (labels pointing at it included)."""
        version = self.registry.get(project_id, name, ref)
        return dump_yaml(to_document(version))


def to_document(version: Version) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": version.name, **version.spec}
    labels = [label for label in version.labels if label != "latest"]
    if labels:
        doc["labels"] = labels
    if version.message:
        doc["message"] = version.message
    return doc


def prompts_of(platform: Platform) -> PromptService:
    return platform.service("prompts", PromptService)


def render(platform: Platform, name: str, version_or_label: Any = None, variables: dict[str, Any] | None = None,
           principal: Principal = LOCAL_ADMIN) -> dict[str, Any]:
    """Render a prompt version in-process: {name, version, model, params, messages | text}."""
    version, rendered = prompts_of(platform).render(principal.project_id, name, version_or_label, variables)
    return {"name": version.name, "version": version.version, "model": version.spec.get("model"),
            "params": dict(version.spec.get("params") or {}), **rendered}


async def run(platform: Platform, name: str, version_or_label: Any = None, variables: dict[str, Any] | None = None,
              principal: Principal = LOCAL_ADMIN, **overrides: Any) -> dict[str, Any]:
    """Call the model with a prompt version (through the gateway, so it is traced): the chat completion."""
    ref = {"name": name, "version": version_or_label, "variables": variables or {}}
    body = {"prompt": ref, **{k: v for k, v in overrides.items() if v is not None}}
    return await platform.gateway.complete(body, principal)  # the prompts stage renders it (see stage.py)


def read_documents(paths: list[Path | str]) -> list[tuple[str, dict[str, Any]]]:
    """(file, document) for every YAML file given or found in the folders given, in a stable order.

    A file may hold one document or several (`---` separated)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidRequest(f"no such file or folder: {path}")
    out = []
    for file in files:
        try:
            docs = [d for d in yaml.safe_load_all(file.read_text()) if d is not None]
        except yaml.YAMLError as exc:
            raise InvalidRequest(f"{file}: not valid YAML: {exc}") from exc
        for doc in docs:
            if not isinstance(doc, dict):
                raise InvalidRequest(f"{file}: each document must be a mapping")
            doc.setdefault("name", file.stem)
            out.append((str(file), doc))
    return out
