"""The worker loop with trivial jobs: every outcome, several workers, shutdown, outages, idle backoff."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry
from support.environment import redis_address, via_port
from support.tcp_proxy import TcpProxy
from support.workers import (
    FAST,
    by_repo,
    failing_job,
    job_queue,
    run_in_thread,
    staged_job,
    submit,
    wait_for,
    worker,
)  # fmt: skip

from app.errors import CloneTimeout, ParseError, RepoNotFound, TrainingError, UploadError
from app.jobs import JobResult, JobState, Stage, Task
from app.queue.backends import RedisBackend, RedisPyBackend
from app.queue.keys import Keys
from app.queue.status import is_valid_status, read_status, stage_status
from app.worker.job import JobContext
from app.worker.loop import WorkerTiming


@pytest.fixture
def keys(key_prefix: str) -> Keys:
    return Keys(key_prefix)


def history(backend: RedisBackend, keys: Keys) -> list[dict]:
    return [json.loads(raw) for raw in backend.lrange(keys.history, 0, -1)]


def test_burst_processes_every_job_in_order_and_records_history(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    ids = [submit(queue, f"github.com/a/repo{n}") for n in range(3)]
    done = worker(backend, keys, staged_job(files=7)).run(burst=True)
    assert done == 3
    records = history(backend, keys)
    assert [record["job_id"] for record in records] == ids[::-1]
    for record in records:
        assert record["status"] == "finished"
        assert record["files_processed"] == 7 and record["embeddings_generated"] == 7
        assert set(record["stage_seconds"]) == {"cloning", "parsing", "training", "uploading"}
        assert record["attempts"] == 1 and record["worker_id"]
        assert datetime.fromisoformat(record["timestamp"]).tzinfo is not None
    for job_id in ids:
        job = queue.get(job_id)
        assert job.state is JobState.FINISHED and job.progress == 100
    assert backend.get(keys.status) == "Offline"


def test_failures_end_the_job_and_the_loop_goes_on(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    behaviours = {
        "missing": failing_job(RepoNotFound("repository github.com/a/missing not found")),
        "broken": failing_job(ParseError("every file failed to parse")),
        "diverges": failing_job(TrainingError("loss became NaN")),
        "bug": failing_job(ZeroDivisionError("division by zero")),
    }
    ids = {name: submit(queue, f"github.com/a/{name}") for name in [*behaviours, "fine"]}
    worker(backend, keys, by_repo(behaviours, staged_job())).run(burst=True)

    states = {name: queue.get(job_id) for name, job_id in ids.items()}
    assert states["fine"].state is JobState.FINISHED
    assert states["missing"].error == "repository github.com/a/missing not found"
    # An unexpected error names the stage it broke in (the job had reported cloning).
    assert states["bug"].error == "internal error in the cloning stage (ZeroDivisionError: division by zero)"
    for name in behaviours:
        assert states[name].state is JobState.FAILED, name
    records = {record["job_id"]: record for record in history(backend, keys)}
    assert sorted(record["status"] for record in records.values()) == ["failed"] * 4 + ["finished"]
    assert records[ids["broken"]]["stage"] == "parsing" and records[ids["bug"]]["stage"] == "cloning"


def test_transient_failures_are_retried_then_dead(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    calls: list[int] = []

    def flaky(context: JobContext) -> JobResult:
        calls.append(1)
        if len(calls) < 2:
            raise UploadError("Qdrant did not answer")
        return JobResult(files_processed=1)

    flaky_id = submit(queue, "github.com/a/flaky")
    worker(backend, keys, flaky).run(burst=True)
    job = queue.get(flaky_id)
    assert (job.state, job.attempts, len(calls)) == (JobState.FINISHED, 2, 2)

    hopeless_id = submit(queue, "github.com/a/hopeless")
    worker(backend, keys, failing_job(CloneTimeout("clone took longer than 300 s"))).run(burst=True)
    job = queue.get(hopeless_id)
    assert (job.state, job.attempts) == (JobState.DEAD, 3)
    assert "300 s" in job.error
    assert json.loads(backend.lrange(keys.dead, 0, 0)[0])["job_id"] == hopeless_id


def test_transient_retry_waits_with_backoff_and_keeps_the_lease(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/a/slow-network")
    starts: list[float] = []

    def flaky(context: JobContext) -> JobResult:
        starts.append(time.monotonic())
        if len(starts) == 1:
            raise UploadError("Qdrant did not answer")
        return JobResult()

    timing = WorkerTiming(**{**FAST.__dict__, "retry_base": 0.4})
    worker(backend, keys, flaky, timing=timing).run(burst=True)
    assert queue.get(job_id).state is JobState.FINISHED
    assert starts[1] - starts[0] >= 0.2  # at least half of the first backoff step
    assert [timing.retry_delay(n) <= timing.retry_cap * 1.5 for n in (1, 5, 50)] == [True] * 3
    steps = [
        WorkerTiming(**{**FAST.__dict__, "retry_base": 2, "retry_cap": 60}).retry_delay(n)
        for n in (1, 2, 3, 10)
    ]
    assert 1 <= steps[0] <= 3 and 2 <= steps[1] <= 6 and 4 <= steps[2] <= 12 and 30 <= steps[3] <= 90


def test_invalid_repository_in_the_queue_fails_with_the_reason(backend: RedisBackend, keys: Keys) -> None:
    backend.eval("return redis.call('RPUSH', KEYS[1], ARGV[1])", [keys.queue], ["ssh://github.com/a/b"])
    worker(backend, keys, staged_job()).run(burst=True)
    [record] = history(backend, keys)
    assert record["status"] == "failed" and "scheme 'ssh:'" in record["error"]


@given(age_hours=st.floats(24.01, 24 * 365), ttl_hours=st.sampled_from([24]))
def test_property_18_stale_tasks_are_skipped(
    make_backend, key_prefix: str, age_hours: float, ttl_hours: int
) -> None:
    backend = make_backend("redis")
    keys = Keys(f"{key_prefix}{time.monotonic_ns()}:")
    submitted = datetime.now(UTC) - timedelta(hours=age_hours)
    task = Task(job_id="00000000-0000-4000-8000-000000000001", repo_url="github.com/a/old",
                submitted_at=submitted, ttl=ttl_hours * 3600)  # fmt: skip
    backend.eval("return redis.call('RPUSH', KEYS[1], ARGV[1])", [keys.queue], [task.payload()])
    ran: list[int] = []
    worker(backend, keys, lambda context: ran.append(1) or JobResult()).run(burst=True)
    [record] = history(backend, keys)
    assert ran == []
    assert record["status"] == "skipped" and "TTL" in record["error"]
    assert record["age_seconds"] == pytest.approx(age_hours * 3600, abs=60)
    assert job_queue(backend, keys).get(task.job_id).state is JobState.SKIPPED


def test_fresh_task_without_timestamp_is_processed(backend: RedisBackend, keys: Keys) -> None:
    backend.eval("return redis.call('RPUSH', KEYS[1], ARGV[1])", [keys.queue], ["github.com/a/plain"])
    worker(backend, keys, staged_job()).run(burst=True)
    assert history(backend, keys)[0]["status"] == "finished"


class StatusRecorder:
    """A backend wrapper that reads the status key after every write, so no transition goes unseen."""

    def __init__(self, inner: RedisBackend, keys: Keys) -> None:
        self._inner, self._keys, self.seen = inner, keys, []
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def eval(self, script, keys, args):
        with self._lock:
            result = self._inner.eval(script, keys, args)
            value = self._inner.get(self._keys.status)
            if value is not None and (not self.seen or self.seen[-1] != value):
                self.seen.append(value)
            return result


@given(outcomes=st.lists(st.sampled_from(["ok", "fail"]), min_size=1, max_size=3))
def test_property_2_and_11_status_follows_the_stages_then_idle_or_error(
    make_backend, key_prefix: str, outcomes
) -> None:
    backend = make_backend("memory")
    keys = Keys(f"{key_prefix}{time.monotonic_ns()}:")
    queue = job_queue(backend, keys)
    for n, outcome in enumerate(outcomes):
        submit(queue, f"github.com/a/{outcome}{n}")
    jobs = {f"fail{n}": failing_job(ParseError(f"bad file {n}")) for n in range(len(outcomes))}
    recorder = StatusRecorder(backend, keys)
    unthrottled = WorkerTiming(**{**FAST.__dict__, "progress_interval": 0.0})
    worker(recorder, keys, by_repo(jobs, staged_job()), timing=unthrottled).run(burst=True)
    seen = recorder.seen
    assert all(is_valid_status(status) for status in seen), seen
    # Each job: its stages in their words (training with its share of epochs), then Idle or Error: {message}.
    expected = ["Idle"]
    for n, outcome in enumerate(outcomes):
        repo = f"github.com/a/{outcome}{n}"
        if outcome == "ok":
            expected += [f"Cloning {repo}", f"Parsing {repo}", f"Training {repo} 50%", f"Training {repo} 100%",
                         f"Uploading {repo}", "Idle"]  # fmt: skip
        else:
            expected += [f"Cloning {repo}", f"Error: bad file {n}"]
    expected.append("Offline")
    assert seen == expected


@given(status=st.text())
def test_property_11_status_forms(status: str) -> None:
    forms = r"(Idle|Offline|(Cloning|Parsing|Uploading) \S.*|Training \S.* \d{1,3}%|Error: \S.*)"
    assert is_valid_status(status) == bool(re.fullmatch(forms, status, re.DOTALL) and _percent_ok(status))
    for stage in Stage:
        assert is_valid_status(stage_status(stage, "github.com/a/b", 0.4))
    assert stage_status(Stage.TRAINING, "github.com/a/b", 0.4) == "Training github.com/a/b 40%"
    assert stage_status(Stage.CLONING, "github.com/a/b", 0.4) == "Cloning github.com/a/b"


def _percent_ok(status: str) -> bool:
    match = re.fullmatch(r"Training \S.* (\d{1,3})%", status, re.DOTALL)
    return match is None or (
        int(match.group(1)) <= 100 and not (len(match.group(1)) > 1 and match.group(1)[0] == "0")
    )


def test_a_finished_job_carries_no_live_stage(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/a/done")
    flaky_id = submit(queue, "github.com/a/flaky")
    behaviours = {"flaky": failing_job(UploadError("Qdrant did not answer"))}
    runner = worker(backend, keys, by_repo(behaviours, staged_job()))
    thread = run_in_thread(runner)
    wait_for(lambda: queue.get(job_id).state is JobState.FINISHED, message="the job to finish")
    wait_for(lambda: queue.get(flaky_id).state is JobState.DEAD, message="the flaky job to die")
    job = queue.get(job_id)
    assert (job.stage, job.progress) == (None, 100)
    status = read_status(backend, keys)
    [me] = status.workers
    assert me.fields["stage"] == "" and me.fields["job_id"] == "" and me.fields["progress"] == "0"
    assert status.status.startswith("Error: ") and me.fields["status"] == status.status
    runner.request_stop()
    thread.join(10)
    # Two jobs, four attempts (the flaky one three times): the worker counts the two jobs.
    assert runner.jobs_done == 2


def test_progress_moves_within_stages(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/a/slow")
    seen: list[tuple[str, int]] = []
    release = threading.Event()

    def observed(context: JobContext) -> JobResult:
        for stage in Stage:
            for fraction in (0.0, 0.5, 1.0):
                context.report(stage, fraction)
                job = queue.get(job_id)
                seen.append((job.stage, job.progress))
        release.set()
        return JobResult()

    unthrottled = WorkerTiming(**{**FAST.__dict__, "progress_interval": 0.0})
    worker(backend, keys, observed, timing=unthrottled).run(burst=True)
    assert release.is_set()
    assert [progress for _, progress in seen] == sorted(progress for _, progress in seen)
    assert ("training", 60) in seen and ("uploading", 100) in seen


def test_three_workers_process_every_job_exactly_once(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    ids = {submit(queue, f"github.com/many/repo{n}") for n in range(24)}
    runs: list[str] = []
    lock = threading.Lock()

    def record(context: JobContext) -> JobResult:
        with lock:
            runs.append(context.claim.task.job_id)
        time.sleep(0.01)
        return JobResult()

    workers = [worker(backend, keys, record) for _ in range(3)]
    threads = [run_in_thread(w, burst=True) for w in workers]
    for thread in threads:
        thread.join(60)
    assert sorted(runs) == sorted(ids)
    finished = [r["job_id"] for r in history(backend, keys) if r["status"] == "finished"]
    assert sorted(finished) == sorted(ids)
    assert sum(1 for w in workers if w.jobs_done) >= 2


def test_warm_stop_finishes_the_current_job(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    first = submit(queue, "github.com/a/first")
    second = submit(queue, "github.com/a/second")
    started = threading.Event()

    def slow(context: JobContext) -> JobResult:
        started.set()
        time.sleep(0.5)
        return JobResult()

    w = worker(backend, keys, slow)
    thread = run_in_thread(w)
    assert started.wait(10)
    w.request_stop()
    thread.join(20)
    assert queue.get(first).state is JobState.FINISHED
    assert queue.get(second).state is JobState.QUEUED
    assert backend.get(keys.status) == "Offline"


def test_job_past_the_grace_period_is_handed_back(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/a/endless")
    started = threading.Event()

    def endless(context: JobContext) -> JobResult:
        started.set()
        while True:
            context.check_cancelled()
            time.sleep(0.01)

    timing = WorkerTiming(**{**FAST.__dict__, "shutdown_grace": 0.3})
    w = worker(backend, keys, endless, timing=timing)
    thread = run_in_thread(w)
    assert started.wait(10)
    w.request_stop()
    thread.join(20)
    job = queue.get(job_id)
    assert (job.state, job.attempts) == (JobState.QUEUED, 0)
    assert backend.llen(keys.queue) == 1 and backend.get(keys.status) == "Offline"


def test_cold_stop_hands_the_job_back_at_once(backend: RedisBackend, keys: Keys) -> None:
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/a/long")
    started = threading.Event()

    def long(context: JobContext) -> JobResult:
        started.set()
        for _ in range(3000):
            context.check_cancelled()
            time.sleep(0.01)
        return JobResult()

    w = worker(backend, keys, long)
    thread = run_in_thread(w)
    assert started.wait(10)
    stopped_at = time.monotonic()
    w.request_stop(cold=True)
    thread.join(20)
    assert time.monotonic() - stopped_at < 10
    assert queue.get(job_id).state is JobState.QUEUED and backend.llen(keys.queue) == 1


def test_idle_worker_backs_off_and_says_so(backend: RedisBackend, keys: Keys) -> None:
    timing = WorkerTiming(poll_interval=0.05, idle_poll_interval=0.4, active_window=0.5, heartbeat=0.2,
                          reap_interval=60, shutdown_grace=1, max_backoff=0.5)  # fmt: skip
    w = worker(backend, keys, staged_job(), timing=timing)
    published = lambda: backend.hgetall(keys.worker(w.consumer.worker_id)).get("poll_interval")  # noqa: E731
    thread = run_in_thread(w)
    wait_for(lambda: published() == "0.05", 5, "the fast interval right after start")
    wait_for(lambda: published() == "0.4", 10, "the poll interval to back off to the idle interval")
    seen = set()
    submit(job_queue(backend, keys), "github.com/a/wake")
    wait_for(lambda: seen.add(published()) or w.jobs_done == 1, 10, "the job")
    wait_for(lambda: published() == "0.05", 5, "the fast interval after new work")
    w.request_stop()
    thread.join(10)


@pytest.fixture
def redis_proxy():
    proxy = TcpProxy(*redis_address()[:2])
    yield proxy
    proxy.close()


def test_redis_outage_backs_off_logs_once_and_resumes(
    redis_proxy: TcpProxy, redis_client, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(via_port(redis_proxy.port), socket_connect_timeout=1, socket_timeout=1,
                                  retry=Retry(NoBackoff(), 1), decode_responses=True)  # fmt: skip
    backend = RedisPyBackend(client)
    keys = Keys(key_prefix)
    queue = job_queue(backend, keys)
    job_id = submit(queue, "github.com/a/during-outage")
    w = worker(backend, keys, staged_job(seconds=1.0))
    with caplog.at_level(logging.INFO):
        thread = run_in_thread(w)
        wait_for(lambda: redis_client.hget(keys.job(job_id), "state") == "started", 10, "the job to start")
        redis_proxy.cut(seconds=2.0)
        wait_for(lambda: w.jobs_done == 1, 30, "the job to finish after the outage")
        submit(queue, "github.com/a/after-outage")
        wait_for(lambda: w.jobs_done == 2, 30, "the next job")
        w.request_stop()
        thread.join(20)
    assert sorted(record["status"] for record in history(backend, keys)) == ["finished", "finished"]
    assert caplog.text.count("Redis unreachable (") == 1
    assert "Redis reachable again" in caplog.text
