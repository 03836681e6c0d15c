"""The operator's controls — list, cancel, requeue — and the job counters, on all three backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from support.workers import consumer, job_queue, submit

from app.errors import JobNotFound, JobNotWaiting, QueueFull
from app.jobs import HistoryRecord, JobState, Stage
from app.queue.backends import RedisBackend
from app.queue.control import QueueControl, RequeueOutcome
from app.queue.keys import Keys
from app.queue.stats import STAGE_BUCKETS, read_stats
from app.queue.status import OFFLINE_WORKER_SHOWN_SECONDS, read_status


@pytest.fixture
def keys(key_prefix: str) -> Keys:
    return Keys(key_prefix)


def control(backend: RedisBackend, keys: Keys, max_queue_size: int = 10) -> QueueControl:
    return QueueControl(
        backend, keys, max_queue_size=max_queue_size, retention_seconds=3600, default_ttl=86_400
    )


def kill(backend: RedisBackend, keys: Keys, repo_url: str) -> str:
    """Submit `repo_url` and let it die: one worker, one attempt, a transient failure."""
    job_id = submit(job_queue(backend, keys), repo_url)
    worker = consumer(backend, keys)
    worker.max_attempts = 1
    claim = worker.start(worker.poll(0.1), f"Cloning {repo_url}")
    assert worker.requeue(claim, f"{repo_url} could not be reached") == "dead"
    return job_id


def test_listing_shows_the_queue_in_claim_order_with_records(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    ids = [submit(queue, f"github.com/a/r{n}") for n in range(3)]
    # An older producer's bare URL: listed too, under its derived id.
    backend.eval("return redis.call('RPUSH', KEYS[1], ARGV[1])", [keys.queue], ["github.com/a/legacy"])
    listing = control(backend, keys).waiting()
    assert listing.total == 4
    assert [entry.task.job_id for entry in listing.entries[:3]] == ids
    assert [entry.position for entry in listing.entries] == [1, 2, 3, 4]
    assert all(entry.job and entry.job.state is JobState.QUEUED for entry in listing.entries[:3])
    assert listing.entries[3].task.repo_url == "github.com/a/legacy" and listing.entries[3].job is None
    assert len(control(backend, keys).waiting(limit=2).entries) == 2


def test_cancel_takes_a_waiting_job_out_once(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    first, second = submit(queue, "github.com/a/first"), submit(queue, "github.com/a/second")
    job = control(backend, keys).cancel(first)
    assert job.state is JobState.CANCELLED and job.finished_at is not None
    assert [entry.task.job_id for entry in control(backend, keys).waiting().entries] == [second]
    [record] = [json.loads(raw) for raw in backend.lrange(keys.history, 0, -1)]
    assert (record["job_id"], record["status"]) == (first, "cancelled")
    # The repository may be queued again at once; the cancelled job cannot be cancelled twice.
    assert submit(queue, "github.com/a/first") != first
    with pytest.raises(JobNotWaiting, match="cancelled, not waiting"):
        control(backend, keys).cancel(first)
    with pytest.raises(JobNotFound):
        control(backend, keys).cancel("00000000-0000-4000-8000-000000000000")
    assert read_stats(backend, keys).jobs[JobState.CANCELLED] == 1


def test_a_claimed_job_cannot_be_cancelled(backend: RedisBackend, keys: Keys) -> None:
    job_id = submit(job_queue(backend, keys), "github.com/a/busy")
    worker = consumer(backend, keys)
    worker.start(worker.poll(0.1), "Cloning github.com/a/busy")
    with pytest.raises(JobNotWaiting, match="is started"):
        control(backend, keys).cancel(job_id)


def test_requeue_gives_a_dead_job_fresh_attempts_and_a_fresh_ttl(backend: RedisBackend, keys: Keys) -> None:
    job_id = kill(backend, keys, "github.com/a/flaky")
    [dead] = control(backend, keys).dead().entries
    assert (dead.task.job_id, dead.job.state, dead.job.attempts) == (job_id, JobState.DEAD, 1)
    assert "could not be reached" in dead.job.error
    before = datetime.now(UTC)
    result = control(backend, keys).requeue(job_id)
    assert (result.outcome, result.reason) == (RequeueOutcome.QUEUED, "")
    assert control(backend, keys).dead().total == 0
    [entry] = control(backend, keys).waiting().entries
    assert entry.task.submitted_at >= before - timedelta(seconds=1)
    assert (entry.job.state, entry.job.attempts, entry.job.finished_at) == (JobState.QUEUED, 0, None)
    # It is waiting again, so it can be claimed, and a second submission finds it.
    assert submit(job_queue(backend, keys), "github.com/a/flaky") == job_id
    assert consumer(backend, keys).poll(0.1).task.job_id == job_id
    with pytest.raises(JobNotWaiting, match="not in the dead letters"):
        control(backend, keys).requeue(job_id)


def test_requeue_respects_the_cap_and_never_queues_a_repository_twice(
    backend: RedisBackend, keys: Keys
) -> None:
    dead = [kill(backend, keys, f"github.com/a/dead{n}") for n in range(3)]
    queue = job_queue(backend, keys)
    submit(queue, "github.com/a/dead1")  # waiting again already, submitted by hand
    results = control(backend, keys, max_queue_size=2).requeue_all()
    outcomes = {result.job_id: result.outcome for result in results}
    assert outcomes == {dead[0]: RequeueOutcome.QUEUED, dead[1]: RequeueOutcome.DUPLICATE,
                        dead[2]: RequeueOutcome.FULL}  # fmt: skip
    assert "already waiting" in next(r.reason for r in results if r.job_id == dead[1])
    assert "queue is full (2 pending)" in next(r.reason for r in results if r.job_id == dead[2])
    assert sorted(e.task.job_id for e in control(backend, keys).dead().entries) == sorted(dead[1:])
    with pytest.raises(QueueFull):
        control(backend, keys, max_queue_size=2).requeue(dead[2])


def test_counters_count_every_ended_job_once_with_stage_histograms(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    for repo, seconds in (("github.com/a/one", 0.7), ("github.com/a/two", 40.0)):
        submit(queue, repo)
        worker = consumer(backend, keys)
        claim = worker.start(worker.poll(0.1), f"Cloning {repo}")
        record = HistoryRecord(job_id=claim.task.job_id, repo_url=repo, status=JobState.FINISHED,
                               timestamp=datetime.now(UTC), stage_seconds={Stage.TRAINING: seconds})  # fmt: skip
        assert worker.finish(claim, record)
        assert not worker.finish(claim, record)  # a second finish of the same delivery counts nothing
    kill(backend, keys, "github.com/a/three")
    stats = read_stats(backend, keys)
    assert (stats.jobs[JobState.FINISHED], stats.jobs[JobState.DEAD], stats.jobs[JobState.FAILED]) == (
        2,
        1,
        0,
    )
    training = stats.stages[Stage.TRAINING]
    assert (training.count, training.total) == (2, pytest.approx(40.7))
    assert [training.buckets[bound] for bound in STAGE_BUCKETS] == [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]


def test_a_worker_whose_lease_ran_out_is_shown_offline_then_dropped(
    backend: RedisBackend, keys: Keys
) -> None:
    gone = consumer(backend, keys, worker_id="w-gone", lease=1.0)
    gone.heartbeat(0.1)
    backend.delete(keys.lease("w-gone"))  # as if the lease had expired
    now = datetime.now(UTC).timestamp()
    [view] = read_status(backend, keys, now=now).workers
    assert (view.alive, view.shown, view.offline_seconds) == (False, True, pytest.approx(0, abs=0.01))
    later = read_status(backend, keys, now=now + 120).workers[0]
    assert later.offline_seconds == pytest.approx(120, abs=0.01) and later.shown
    assert not read_status(backend, keys, now=now + OFFLINE_WORKER_SHOWN_SECONDS + 1).workers[0].shown
    gone.heartbeat(0.1, "Idle")  # back: online, and its offline stamp forgotten
    [back] = read_status(backend, keys, now=now + 2000).workers
    assert back.alive and "offline_since" not in back.fields


def test_busy_with_names_the_waiting_or_running_job_of_a_repository(
    backend: RedisBackend, keys: Keys
) -> None:
    queue = job_queue(backend, keys)
    running = submit(queue, "github.com/a/running")
    waiting = submit(queue, "github.com/a/waiting")
    worker = consumer(backend, keys)
    worker.start(worker.poll(0.1), "Cloning github.com/a/running")
    assert control(backend, keys).busy_with("github.com/a/running") == running
    assert control(backend, keys).busy_with("github.com/a/waiting") == waiting
    assert control(backend, keys).busy_with("github.com/a/idle") is None
