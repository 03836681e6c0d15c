"""The design's correctness properties of the control plane, each against all three Redis backends.

Each example gets its own key namespace (and its own app), so examples never see each other's queue.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from support.environment import ADMIN_TOKEN, cloud_settings
from support.strategies import hostile_repo_urls, valid_repo_urls
from support.workers import consumer

from app.jobs import Stage
from app.main import create_app
from app.queue.backends import RedisBackend
from app.queue.status import ERROR_PREFIX, IDLE, stage_status
from app.services import Services, build_services

INGEST = "/api/v1/ingestion/ingest/"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def fresh_api(backend: RedisBackend, key_prefix: str) -> Callable[[], contextmanager]:
    """A context manager giving (client, services) over a namespace of its own."""

    @contextmanager
    def make(**overrides: object) -> Iterator[tuple[TestClient, Services]]:
        settings = cloud_settings(f"{key_prefix}{uuid.uuid4().hex[:8]}:", **overrides)
        services = build_services(settings, backend)
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            yield client, services

    return make


@given(case=valid_repo_urls())
def test_property_1_task_queue_round_trip(fresh_api, case: tuple[str, str]) -> None:
    raw, canonical = case
    with fresh_api() as (client, services):
        response = client.post(INGEST + raw, headers=AUTH)
        assert response.status_code == 202, response.text
        body = response.json()
        uuid.UUID(body["job_id"])
        assert body["queue_position"] == 1 and body["status"] == "queued"
        [entry] = services.backend.lrange(services.keys.queue, 0, -1)
        task = json.loads(entry)
        assert (task["job_id"], task["repo_url"]) == (body["job_id"], canonical)
        assert client.get(f"/api/v1/ingestion/jobs/{body['job_id']}").json()["repo_url"] == canonical


@given(raw=hostile_repo_urls())
def test_property_3_url_validation_rejects_invalid_input(fresh_api, raw: str) -> None:
    with fresh_api() as (client, services):
        # Every character travels: encode what a URL path cannot carry as-is.
        response = client.post(INGEST + _path_encode(raw), headers=AUTH)
        assert response.status_code == 400, (raw, response.status_code, response.text)
        assert response.json()["detail"]
        assert services.jobs.size() == 0


def _path_encode(raw: str) -> str:
    from urllib.parse import quote

    return quote(raw, safe="/:@")


status_strings = st.one_of(
    st.just(IDLE),
    st.builds(
        stage_status,
        st.sampled_from(list(Stage)),
        st.text(min_size=1).filter(lambda s: not s[0].isspace()),
        st.floats(0, 1),
    ),
    st.builds(
        lambda message: ERROR_PREFIX + message, st.text(min_size=1).filter(lambda s: not s[0].isspace())
    ),
    st.text(),
)


@given(stored=status_strings)
def test_property_4_status_endpoint_reflects_redis_state(fresh_api, stored: str) -> None:
    with fresh_api() as (client, services):
        worker = consumer(services.backend, services.keys, lease=30)
        worker.heartbeat(2.0)
        services.backend.set(services.keys.status, stored)
        body = client.get("/api/v1/ingestion/worker/status").json()
        assert body["status"] == (stored or IDLE)
        assert [entry["worker_id"] for entry in body["workers"]] == [worker.worker_id]


@given(stored=status_strings)
def test_property_4_without_a_live_worker_status_is_offline(fresh_api, stored: str) -> None:
    with fresh_api() as (client, services):
        services.backend.set(services.keys.status, stored)
        assert client.get("/api/v1/ingestion/worker/status").json()["status"] == "Offline"


error_cases = st.sampled_from(
    ["bad-url", "no-token", "wrong-token", "unknown-job", "bad-limit", "full", "bad-id"]
)


@given(case=error_cases, data=st.data())
def test_property_15_errors_never_answer_200(fresh_api, case: str, data: st.DataObject) -> None:
    expected = {"bad-url": 400, "no-token": 401, "wrong-token": 401, "unknown-job": 404, "bad-limit": 422,
                "full": 429, "bad-id": 422}  # fmt: skip
    with fresh_api(max_queue_size=1) as (client, _services):
        if case == "bad-url":
            response = client.post(INGEST + _path_encode(data.draw(hostile_repo_urls()).lstrip("/") or "x"),
                                   headers=AUTH)  # fmt: skip
            assert response.status_code in (400, 404)
            return
        if case == "full":
            client.post(INGEST + "github.com/a/first", headers=AUTH)
            response = client.post(INGEST + "github.com/a/second", headers=AUTH)
        elif case in ("no-token", "wrong-token"):
            headers = (
                {}
                if case == "no-token"
                else {"Authorization": "Bearer " + data.draw(st.text("abc", min_size=1))}
            )
            response = client.post(INGEST + "github.com/a/b", headers=headers)
        elif case == "unknown-job":
            response = client.get(f"/api/v1/ingestion/jobs/{data.draw(st.uuids())}")
        elif case == "bad-id":
            response = client.get(f"/api/v1/ingestion/jobs/{data.draw(st.text('xyz-', min_size=1))}")
        else:
            limit = data.draw(st.one_of(st.integers(max_value=0), st.integers(min_value=101)))
            response = client.get(f"/api/v1/ingestion/jobs/history?limit={limit}")
        assert response.status_code == expected[case]
        assert response.status_code != 200


@given(pending=st.integers(min_value=0, max_value=14))
def test_property_16_queue_cap_enforcement(fresh_api, pending: int) -> None:
    with fresh_api() as (client, services):
        for n in range(pending):
            services.backend.eval(
                "return redis.call('RPUSH', KEYS[1], ARGV[1])",
                [services.keys.queue],
                [json.dumps({"job_id": str(uuid.uuid4()), "repo_url": f"github.com/x/r{n}"})],
            )
        response = client.post(INGEST + "github.com/new/repo", headers=AUTH)
        if pending >= 10:
            assert response.status_code == 429
            assert int(response.headers["Retry-After"]) > 0
            assert services.jobs.size() == pending
        else:
            assert response.status_code == 202
            assert response.json()["queue_position"] == pending + 1


tokens = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126)),
    st.just(ADMIN_TOKEN[:-1]),
    st.just(ADMIN_TOKEN + "x"),
    st.just(ADMIN_TOKEN.upper()),
)


@given(token=tokens, scheme=st.sampled_from(["Bearer", "bearer", "Basic", "Token", ""]))
def test_property_17_authentication_required(fresh_api, token: str | None, scheme: str) -> None:
    if token == ADMIN_TOKEN and scheme.lower() == "bearer":
        return
    with fresh_api() as (client, services):
        headers = {} if token is None else {"Authorization": f"{scheme} {token}".strip()}
        response = client.post(INGEST + "github.com/pallets/flask", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert services.jobs.size() == 0
