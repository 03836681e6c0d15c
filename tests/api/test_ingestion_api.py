"""The control plane's routes against every Redis backend (in-process, real Redis, Upstash REST)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from support.environment import ADMIN_TOKEN, cloud_settings

from app.jobs import Task
from app.main import create_app
from app.queue.backends import RedisPyBackend, UpstashBackend, upstash_client
from app.services import Services, build_services

INGEST = "/api/v1/ingestion/ingest/"


def test_ingest_queues_a_job_with_its_record(api: TestClient, auth: dict, services: Services) -> None:
    response = api.post(INGEST + "github.com/pallets/flask", headers=auth)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert (body["queue_position"], body["queue_size"], body["max_queue_size"]) == (1, 1, 10)
    uuid.UUID(body["job_id"])

    entries = services.backend.lrange(services.keys.queue, 0, -1)
    assert len(entries) == 1
    task = json.loads(entries[0])
    assert task["job_id"] == body["job_id"]
    assert task["repo_url"] == "github.com/pallets/flask"
    assert task["ttl"] == 86400
    assert task["submitted_at"].endswith("Z")

    job = api.get(f"/api/v1/ingestion/jobs/{body['job_id']}").json()
    assert job["state"] == "queued"
    assert job["attempts"] == 0
    assert job["repo_url"] == "github.com/pallets/flask"
    assert job["submitted_at"] == task["submitted_at"]


def test_same_repository_pending_returns_the_waiting_job(
    api: TestClient, auth: dict, services: Services
) -> None:
    first = api.post(INGEST + "github.com/pallets/flask", headers=auth).json()
    api.post(INGEST + "github.com/psf/requests", headers=auth)
    again = api.post(INGEST + "https://github.com/pallets/flask.git", headers=auth)
    assert again.status_code == 200
    assert again.json()["job_id"] == first["job_id"]
    assert again.json()["queue_position"] == 1
    assert again.json()["queue_size"] == 2
    assert services.jobs.size() == 2


def test_names_differing_in_case_queue_once_and_keep_the_spelling_to_clone(
    api: TestClient, auth: dict, services: Services
) -> None:
    first = api.post(INGEST + "github.com/Pallets/Flask", headers=auth)
    again = api.post(INGEST + "https://github.com/pallets/FLASK", headers=auth)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["job_id"] == first.json()["job_id"]
    [entry] = services.backend.lrange(services.keys.queue, 0, -1)
    task = Task.from_payload(entry, 60)
    assert (task.repo_url, task.source) == ("github.com/pallets/flask", "github.com/Pallets/Flask")
    assert (
        services.settings.repo_policy.parse(task.source).clone_source
        == "https://github.com/Pallets/Flask.git"
    )


def test_queue_cap_answers_429_with_retry_after(api: TestClient, auth: dict, services: Services) -> None:
    for n in range(10):
        assert api.post(INGEST + f"github.com/owner/repo{n}", headers=auth).status_code == 202
    response = api.post(INGEST + "github.com/owner/one-too-many", headers=auth)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Queue is full" in response.json()["detail"]
    assert services.jobs.size() == 10


def test_fifty_concurrent_requests_leave_exactly_ten_queued(services: Services) -> None:
    app = create_app(services=services)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            requests = [client.post(INGEST + f"github.com/burst/repo{n}", headers=headers) for n in range(50)]
            return [response.status_code for response in await asyncio.gather(*requests)]

    codes = asyncio.run(burst())
    assert codes.count(202) == 10
    assert codes.count(429) == 40
    assert services.jobs.size() == 10


@pytest.mark.parametrize(
    "header",
    [None, "Bearer s3cr3t-guess", "Basic dGVzdA==", f"Bearer {ADMIN_TOKEN}x", "Bearer ", "bearer nope-42"],
)
def test_ingest_without_the_token_is_401_and_logged_without_it(
    api: TestClient, services: Services, header: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": header} if header else {}
    with caplog.at_level(logging.WARNING):
        response = api.post(INGEST + "github.com/pallets/flask", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert services.jobs.size() == 0
    assert "Rejected POST" in caplog.text
    assert ADMIN_TOKEN not in caplog.text
    for secret in ("s3cr3t-guess", "dGVzdA==", "nope-42"):
        assert secret not in caplog.text


def test_invalid_url_is_400_with_the_reason_before_redis(
    api: TestClient, auth: dict, services: Services
) -> None:
    response = api.post(INGEST + "ssh://github.com/a/b", headers=auth)
    assert response.status_code == 400
    assert "scheme 'ssh:'" in response.json()["detail"]
    assert services.jobs.size() == 0


def test_local_paths_need_the_explicit_setting(backend, key_prefix: str, tmp_path) -> None:
    allowed = build_services(cloud_settings(key_prefix, allow_local_repos=True), backend)
    with TestClient(create_app(services=allowed)) as client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        assert client.post(INGEST + str(tmp_path), headers=headers).status_code == 202
        assert client.post(INGEST + f"file://{tmp_path}/other", headers=headers).status_code == 202


def test_unknown_job_is_404(api: TestClient) -> None:
    response = api.get(f"/api/v1/ingestion/jobs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "No job" in response.json()["detail"]
    assert api.get("/api/v1/ingestion/jobs/not-a-uuid").status_code == 422


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_history_limit_is_bounded(api: TestClient, limit: int) -> None:
    assert api.get(f"/api/v1/ingestion/jobs/history?limit={limit}").status_code == 422


NOW = "2026-12-01T12:00:00+00:00"


def test_history_is_newest_first_and_limited(api: TestClient, services: Services) -> None:
    for n in range(15):
        record = {"job_id": str(n), "repo_url": f"github.com/a/r{n}", "status": "finished", "timestamp": NOW}
        services.backend.eval(
            "redis.call('LPUSH', KEYS[1], ARGV[1])", [services.keys.history], [json.dumps(record)]
        )
    jobs = api.get("/api/v1/ingestion/jobs/history").json()["jobs"]
    assert [job["job_id"] for job in jobs] == [str(n) for n in range(14, 4, -1)]
    assert len(api.get("/api/v1/ingestion/jobs/history?limit=100").json()["jobs"]) == 15


def test_worker_status_is_offline_without_workers(api: TestClient, services: Services) -> None:
    services.backend.set(services.keys.status, "Idle")
    body = api.get("/api/v1/ingestion/worker/status").json()
    assert body["status"] == "Offline"
    assert body["workers"] == []


def test_health_reports_each_dependency(api: TestClient) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json()["dependencies"]["redis"]["ok"] is True


def _blackhole() -> socket.socket:
    """A listening socket that never accepts: connections hang until the client's timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    return server


@pytest.mark.parametrize("kind", ["refused", "silent", "upstash-refused", "upstash-silent"])
def test_unreachable_redis_is_503_within_seconds_on_every_route(
    kind: str, key_prefix: str, auth: dict
) -> None:
    hole = _blackhole()
    port = hole.getsockname()[1] if "silent" in kind else _closed_port()
    settings = cloud_settings(key_prefix, redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_seconds=1)
    if kind.startswith("upstash"):
        backend = UpstashBackend(upstash_client(f"http://127.0.0.1:{port}", "t", timeout_s=1))
    else:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            port=port,
            socket_connect_timeout=1,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
        )
        backend = RedisPyBackend(client)
    services = build_services(settings, backend)
    routes = [
        ("post", INGEST + "github.com/pallets/flask"),
        ("get", f"/api/v1/ingestion/jobs/{uuid.uuid4()}"),
        ("get", "/api/v1/ingestion/jobs/history"),
        ("get", "/api/v1/ingestion/worker/status"),
        ("get", "/health"),
    ]
    with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
        for method, path in routes:
            started = time.monotonic()
            response = getattr(client, method)(path, headers=auth)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert elapsed < 5, (path, elapsed)
            text = response.text
            assert "Traceback" not in text and ADMIN_TOKEN not in text
    hole.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_openapi_documents_every_route_and_its_errors(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    expected = {
        ("/api/v1/ingestion/ingest/{repo_url}", "post"): {"202", "400", "401", "429", "503"},
        ("/api/v1/ingestion/jobs/{job_id}", "get"): {"200", "404", "503"},
        ("/api/v1/ingestion/jobs/history", "get"): {"200", "503"},
        ("/api/v1/ingestion/worker/status", "get"): {"200", "503"},
        ("/health", "get"): {"200", "503"},
    }
    for (path, method), codes in expected.items():
        operation = spec["paths"][path][method]
        assert codes <= set(operation["responses"]), (path, operation["responses"].keys())
        assert "$ref" in json.dumps(operation["responses"]["200" if "200" in codes else "202"])
