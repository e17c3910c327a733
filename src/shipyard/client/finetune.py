"""SDK: fine-tuning files, jobs and models (`sdk.finetune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.client.base import resource


@resource("finetune")
class FineTune:
    def __init__(self, client: Any) -> None:
        self.client = client

    def upload(self, path: str | Path, purpose: str = "fine-tune") -> dict[str, Any]:
        """Upload a JSONL file; a bad file raises InvalidRequest naming every bad line."""
        path = Path(path)
        with path.open("rb") as fh:
            return self.client.request("POST", "/v1/files", files={"file": (path.name, fh)}, data={"purpose": purpose})

    def validate(self, path: str | Path, **params: Any) -> dict[str, Any]:
        """Check a local JSONL file without storing it: bad lines, token counts, time per epoch."""
        query = {k: v for k, v in params.items() if v is not None}
        return self.client.request("POST", "/api/finetune/validate", content=Path(path).read_bytes(), params=query)

    def create(self, **body: Any) -> dict[str, Any]:
        return self.client.request("POST", "/v1/fine_tuning/jobs", json=body)

    def get(self, job_id: str) -> dict[str, Any]:
        return self.client.request("GET", f"/v1/fine_tuning/jobs/{job_id}")

    def list(self, limit: int = 20) -> list[dict[str, Any]]:
        return self.client.request("GET", "/v1/fine_tuning/jobs", params={"limit": limit})["data"]

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.client.request("POST", f"/v1/fine_tuning/jobs/{job_id}/cancel")

    def events(self, job_id: str, since: int = 0, limit: int = 500) -> dict[str, Any]:
        """Events after sequence number `since`, oldest first, plus the job's current `job_status`."""
        return self.client.request("GET", f"/api/finetune/jobs/{job_id}/events",
                                   params={"since": since, "limit": limit})

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        return self.client.request("GET", f"/v1/fine_tuning/jobs/{job_id}/checkpoints", params={"limit": 100})["data"]

    def models(self) -> list[dict[str, Any]]:
        return self.client.request("GET", "/api/finetune/models")["data"]
