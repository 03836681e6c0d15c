"""Claim, lease, finish, requeue and reap — on the in-process store, real Redis and Upstash REST."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from support.workers import consumer, job_queue, submit, wait_for

from app.jobs import HistoryRecord, JobResult, JobState, Task
from app.queue.backends import RedisBackend
from app.queue.consumer import Claim
from app.queue.keys import Keys
from app.queue.status import IDLE, read_status


@pytest.fixture
def keys(key_prefix: str) -> Keys:
    return Keys(key_prefix)


def finished_record(claim: Claim, files_processed: int = 0) -> HistoryRecord:
    task = claim.task
    return HistoryRecord(
        job_id=task.job_id, repo_url=task.repo_url, status=JobState.FINISHED, timestamp=datetime.now(UTC),
        files_processed=files_processed,
    )  # fmt: skip


def test_claim_moves_the_payload_into_the_processing_list(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/pallets/flask")
    worker = consumer(backend, keys)

    claim = worker.poll(0.1)
    assert claim is not None and claim.task.job_id == job_id
    assert backend.llen(keys.queue) == 0
    assert worker.held() == [claim.payload]

    started = worker.start(claim, "Training Graph on github.com/pallets/flask")
    assert started.attempts == 1
    job = queue.get(job_id)
    assert (job.state, job.attempts, job.worker_id, job.stage) == (
        JobState.STARTED,
        1,
        worker.worker_id,
        "cloning",
    )
    # A claimed repository may be queued again (it could change while the first job runs).
    assert submit(queue, "github.com/pallets/flask") != job_id


def test_finish_records_history_once_and_frees_the_claim(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/pallets/flask")
    worker = consumer(backend, keys)
    claim = worker.start(worker.poll(0.1), "Training Graph on github.com/pallets/flask")

    record = finished_record(claim, files_processed=3)
    assert worker.finish(claim, record)
    assert not worker.finish(claim, record)

    history = [json.loads(raw) for raw in backend.lrange(keys.history, 0, -1)]
    assert [entry["job_id"] for entry in history] == [job_id]
    job = queue.get(job_id)
    assert (job.state, job.progress, job.result) == (JobState.FINISHED, 100, JobResult(files_processed=3))
    assert worker.held() == []
    assert backend.get(keys.status) == IDLE


def test_reaper_returns_a_dead_workers_job_to_the_head_of_the_queue(
    backend: RedisBackend, keys: Keys
) -> None:
    queue = job_queue(backend, keys)
    first = submit(queue, "github.com/a/first")
    submit(queue, "github.com/a/second")
    doomed = consumer(backend, keys, lease=1.0)
    claim = doomed.start(doomed.poll(0.0), "Training Graph on github.com/a/first")

    survivor = consumer(backend, keys, lease=5.0)
    survivor.heartbeat(0.1)
    assert survivor.reap(lock_seconds=0.05) == []  # the lease is still live

    wait_for(lambda: backend.get(keys.lease(doomed.worker_id)) is None, 5, "the lease to expire")
    outcomes = survivor.reap(lock_seconds=0.05)
    assert [(o.worker_id, o.job_id, o.outcome) for o in outcomes] == [(doomed.worker_id, first, "queued")]
    assert json.loads(backend.lrange(keys.queue, 0, 0)[0])["job_id"] == first
    job = queue.get(first)
    assert job.state is JobState.QUEUED and job.attempts == 1 and "lease expired" in job.error
    assert doomed.worker_id not in backend.smembers(keys.workers)
    # The dead worker wakes up late: its finish must not record anything.
    assert not doomed.finish(claim, finished_record(claim))
    assert backend.lrange(keys.history, 0, -1) == []


def test_third_lost_delivery_makes_the_job_dead(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/poison/pill")
    reaper = consumer(backend, keys, lease=30.0)
    for attempt in (1, 2, 3):
        victim = consumer(backend, keys, lease=1.0)
        claim = victim.start(victim.poll(0.0), "Training Graph on github.com/poison/pill")
        assert claim.attempts == attempt
        wait_for(lambda v=victim: backend.get(keys.lease(v.worker_id)) is None, 5, "the lease to expire")
        backend.delete(keys.reaper_lock)
        [outcome] = reaper.reap(lock_seconds=0.05)
        assert outcome.outcome == ("dead" if attempt == 3 else "queued")

    assert backend.llen(keys.queue) == 0
    assert json.loads(backend.lrange(keys.dead, 0, -1)[0])["job_id"] == job_id
    job = queue.get(job_id)
    assert job.state is JobState.DEAD and job.attempts == 3
    [record] = [json.loads(raw) for raw in backend.lrange(keys.history, 0, -1)]
    assert (record["job_id"], record["status"], record["attempts"]) == (job_id, "dead", 3)


def test_only_one_reaper_acts_at_a_time(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    for n in range(5):
        submit(queue, f"github.com/a/r{n}")
    doomed = consumer(backend, keys, lease=1.0)
    for _ in range(5):
        doomed.poll(0.0)
    wait_for(lambda: backend.get(keys.lease(doomed.worker_id)) is None, 5, "the lease to expire")

    reapers = [consumer(backend, keys, lease=30.0) for _ in range(4)]
    results: list[list] = []
    barrier = threading.Barrier(len(reapers))

    def reap(reaper) -> None:
        barrier.wait()
        results.append(reaper.reap(lock_seconds=5.0))

    threads = [threading.Thread(target=reap, args=(reaper,)) for reaper in reapers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(result) for result in results) == [0, 0, 0, 5]
    assert backend.llen(keys.queue) == 5


def test_hand_back_does_not_count_the_attempt(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/a/b")
    worker = consumer(backend, keys)
    worker.start(worker.poll(0.0), "Training Graph on github.com/a/b")
    assert worker.hand_back_all("shutting down") == 1
    job = queue.get(job_id)
    assert (job.state, job.attempts) == (JobState.QUEUED, 0)
    assert backend.llen(keys.queue) == 1


@pytest.mark.parametrize(
    "entry", ["github.com/legacy/plain", json.dumps({"repo_url": "github.com/legacy/design", "ttl": 60})]
)
def test_entries_from_older_producers_are_accepted(backend: RedisBackend, keys: Keys, entry: str) -> None:
    backend.eval("return redis.call('RPUSH', KEYS[1], ARGV[1])", [keys.queue], [entry])
    worker = consumer(backend, keys)
    claim = worker.start(worker.poll(0.0), "Training Graph on x")
    assert claim.task.repo_url.startswith("github.com/legacy/")
    job = job_queue(backend, keys).get(claim.task.job_id)
    assert job.state is JobState.STARTED and job.repo_url == claim.task.repo_url
    # The same entry always maps to the same job id, so a redelivery updates the same record.
    assert Task.from_payload(entry, 86_400).job_id == claim.task.job_id


def test_status_view_follows_leases(backend: RedisBackend, keys: Keys) -> None:
    worker = consumer(backend, keys, lease=1.0)
    worker.heartbeat(0.0, "Training Graph on github.com/a/b", stage="training", progress=40)
    view = read_status(backend, keys)
    assert view.status == "Training Graph on github.com/a/b"
    assert view.lead is not None and view.lead.fields["progress"] == "40"
    assert view.lead.heartbeat_age_seconds is not None and view.lead.heartbeat_age_seconds < 5
    wait_for(lambda: backend.get(keys.lease(worker.worker_id)) is None, 5, "the lease to expire")
    assert read_status(backend, keys).status == "Offline"


def test_deregister_sets_offline_only_for_the_last_worker(backend: RedisBackend, keys: Keys) -> None:
    first, second = consumer(backend, keys), consumer(backend, keys)
    first.heartbeat(0.1, IDLE)
    second.heartbeat(0.1, IDLE)
    first.deregister()
    assert backend.get(keys.status) == IDLE
    second.deregister()
    assert backend.get(keys.status) == "Offline"
    assert backend.smembers(keys.workers) == set()


def test_idle_lease_outlasts_two_polls(backend: RedisBackend, keys: Keys) -> None:
    worker = consumer(backend, keys, lease=1.0)
    worker.poll(30.0)
    ttl = backend.eval("return redis.call('PTTL', KEYS[1])", [keys.lease(worker.worker_id)], [])
    assert ttl > 70_000


def test_submitted_at_is_timezone_aware_utc(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    before = datetime.now(UTC)
    job = queue.get(submit(queue, "github.com/a/b"))
    assert job.submitted_at is not None and job.submitted_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= job.submitted_at <= datetime.now(UTC)
