"""The job queue on both databases: atomic claims, leases, cancellation seen by the heartbeat."""

from __future__ import annotations

import threading
import time

from shipyard.finetune import queue
from shipyard.finetune.tables import FineTuningJob
from shipyard.store import Store


def _job(store: Store, n: int = 1) -> list[str]:
    ids = []
    with store.session() as session:
        for _ in range(n):
            job = FineTuningJob(id=queue.new_id("ftjob"), project_id="default", model="smollm2",
                                base_ref="bundled:smollm2", training_file="file-x", hyperparameters={}, seed=0,
                                status="queued", current_step=0, attempts=0)
            session.add(job)
            ids.append(job.id)
    return ids


def test_claims_are_exclusive_under_concurrency(store: Store) -> None:
    ids = _job(store, 6)
    won: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        for _ in range(20):
            got = queue.claim(store, name, lease_seconds=60)
            if got:
                with lock:
                    won.append(got[0])

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == sorted(ids)  # every job claimed exactly once
    assert queue.claim(store, "late", 60) is None


def test_expired_lease_is_taken_over_and_the_old_worker_learns_it(store: Store) -> None:
    [job_id] = _job(store)
    assert queue.claim(store, "a", lease_seconds=0.3) == (job_id, None)
    assert queue.claim(store, "b", lease_seconds=60) is None  # a still holds it
    assert queue.heartbeat(store, job_id, "a", 0.3) is None
    time.sleep(0.5)  # a stops heartbeating: its lease runs out
    assert queue.claim(store, "b", lease_seconds=60) == (job_id, "a")
    assert queue.heartbeat(store, job_id, "a", 60) == "lost"
    assert queue.heartbeat(store, job_id, "b", 60) is None
    assert queue.set_fields(store, job_id, "a", status="succeeded") is False  # the old owner can write nothing
    with store.session() as session:
        job = session.get(FineTuningJob, job_id)
        assert job.attempts == 2 and job.worker_id == "b" and job.status == "validating_files"
    queue.set_fields(store, job_id, status="cancelled")
    assert queue.heartbeat(store, job_id, "b", 60) == "cancelled"
