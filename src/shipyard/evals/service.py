"""The evaluation capability inside a running server: experiment jobs and the online scoring loop.

Jobs are asyncio tasks in the server process. A job interrupted by a shutdown is marked
`interrupted` and resumed at the next start (as are `running` ones a crash left behind), picking up
after the last persisted item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from shipyard.auth import Principal
from shipyard.errors import Conflict
from shipyard.evals.datasets import Datasets
from shipyard.evals.online import Online
from shipyard.evals.runner import ACTIVE, Experiments

log = logging.getLogger(__name__)


class EvalService:
    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.datasets = Datasets(platform.store)
        self.experiments = Experiments(platform)
        self.online = Online(platform)
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._online_task: asyncio.Task[None] | None = None

    def start(self, experiment_id: str, principal: Principal) -> None:
        if experiment_id in self.tasks:
            raise Conflict("the experiment is already running")
        task = asyncio.get_running_loop().create_task(self._run(experiment_id, principal),
                                                      name=f"shipyard-eval-{experiment_id}")
        self.tasks[experiment_id] = task

    async def _run(self, experiment_id: str, principal: Principal) -> None:
        try:
            await self.experiments.execute(experiment_id, principal)
        except asyncio.CancelledError:
            pass
        except Exception:  # recorded on the experiment as `failed` with the reason
            log.warning("experiment %s did not complete", experiment_id, exc_info=True)
        finally:
            self.tasks.pop(experiment_id, None)

    def resume(self, project_id: str, ref: str, principal: Principal) -> dict[str, Any]:
        exp = self.experiments.get(project_id, ref)
        if exp["status"] == "completed":
            raise Conflict("the experiment is complete; start a new one to run it again")
        self.start(exp["id"], principal)
        return {**exp, "status": "running"}

    async def cancel(self, project_id: str, ref: str) -> dict[str, Any]:
        exp = self.experiments.get(project_id, ref)
        task = self.tasks.get(exp["id"])
        if task is not None:
            self.experiments.cancel_status[exp["id"]] = "cancelled"
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif exp["status"] in ACTIVE:
            self.experiments._mark(exp["id"], status="cancelled")
        return self.experiments.get(project_id, ref)

    def principal_for(self, project_id: str, key_id: str | None) -> Principal | None:
        """Who a resumed run acts as: the key that started it (its limits, budget and models still
        apply), or the project's service identity when the platform has no keys. None: key revoked."""
        keys = self.platform.services.get("keys")
        if key_id is None or keys is None or getattr(keys, "open", True):
            return Principal(project_id=project_id, role="service")
        entry = keys.by_id.get(key_id)
        return None if entry is None or entry.revoked else entry.principal

    async def startup(self) -> None:
        for experiment_id, project_id, key_id in await asyncio.to_thread(self.experiments.unfinished):
            principal = self.principal_for(project_id, key_id)
            if principal is None:
                self.experiments._mark(experiment_id, status="failed",
                                       error="the API key that started this experiment no longer exists")
                continue
            log.info("resuming experiment %s", experiment_id)
            self.start(experiment_id, principal)
        if self.platform.settings.evals_online_interval > 0:
            self._online_task = asyncio.get_running_loop().create_task(self._online_loop(), name="shipyard-online-eval")
        self.platform.on_shutdown.append(self.shutdown)

    async def _online_loop(self) -> None:
        while True:
            await asyncio.sleep(self.platform.settings.evals_online_interval)
            try:
                await self.online.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("online evaluation tick failed")

    async def shutdown(self, _platform: Any = None) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()  # the runner records `interrupted`; the next start resumes it
        if self._online_task is not None:
            self._online_task.cancel()
            tasks.append(self._online_task)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def service(platform: Any) -> EvalService:
    return platform.service("evals", EvalService)
