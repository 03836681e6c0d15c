"""Every route that takes a repository URL answers a hostile one with a 4xx and its reason, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from support.environment import ADMIN_TOKEN, cloud_settings
from support.strategies import hostile_repo_urls

from app.config import load_settings
from app.main import create_app
from app.queue.backends import RedisPyBackend, new_memory_client
from app.services import build_services

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ISSUE_CASES = ["https://[github.com/a/b", "https://github.com]/a/b", "https://github.com\uff0fa/b",
               "https://github.com\uff20x/a/b", "https://github.com\uff1a80/a/b"]  # fmt: skip


@pytest.fixture(params=["CLOUD", "LOCAL"], scope="module")
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for every example: a URL the policy refuses changes nothing, so examples never interact."""
    data = tmp_path_factory.mktemp("data")
    if request.param == "CLOUD":
        settings = cloud_settings("test:url-routes:", data_dir=data, allow_embedded_stores=True)
    else:
        settings = load_settings(mode="LOCAL", pharos_admin_token=ADMIN_TOKEN, data_dir=data)
    services = build_services(settings, RedisPyBackend(new_memory_client(), name="memory"))
    with TestClient(create_app(services=services), raise_server_exceptions=False) as api:
        yield api
    services.close()


def _requests(api: TestClient, raw: str) -> dict[str, object]:
    """One request per route that names a repository."""
    query = {"repo_url": raw}
    return {
        "ingest (path)": api.post("/api/v1/ingestion/ingest/" + quote(raw, safe="/:@"), headers=AUTH),
        "ingest (body)": api.post("/api/v1/ingestion/ingest", json=query, headers=AUTH),
        "search": api.get("/api/v1/search/similar", params=query | {"path": "a.py"}),
        "files": api.get("/api/v1/repos/files", params=query),
        "graph": api.get("/api/v1/repos/graph", params=query),
        "delete": api.delete("/api/v1/repos", params=query, headers=AUTH),
    }


def _assert_refused(api: TestClient, raw: str) -> None:
    for route, response in _requests(api, raw).items():
        assert response.status_code == 400, (route, raw, response.status_code, response.text[:300])
        assert response.json()["detail"], (route, raw)


@pytest.mark.parametrize("raw", ISSUE_CASES)
def test_urls_that_broke_the_parser_are_400_on_every_route(client: TestClient, raw: str) -> None:
    _assert_refused(client, raw)


@given(raw=hostile_repo_urls())
def test_property_3_hostile_urls_are_400_on_every_route(client: TestClient, raw: str) -> None:
    if raw.startswith(("/", "file:")) and "LOCAL" in str(client.app.state.settings.mode):
        return  # a local path is a valid source in MODE=LOCAL
    _assert_refused(client, raw)


@given(raw=st.text(st.characters(codec="utf-8"), max_size=80))
def test_property_3_no_text_gives_a_500(client: TestClient, raw: str) -> None:
    for route, response in _requests(client, raw).items():
        assert response.status_code < 500, (route, raw, response.status_code, response.text[:300])


def test_an_overlong_path_segment_is_no_500(client: TestClient) -> None:
    raw = str(Path("/tmp") / ("x" * 300) / "repo")
    response = client.post("/api/v1/ingestion/ingest/" + raw.lstrip("/"), headers=AUTH)
    assert response.status_code in (202, 200, 400), response.text[:300]
