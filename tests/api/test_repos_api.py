"""Search and repository routes over real stores (PostgreSQL or SQLite, Qdrant local mode), and the
degraded service when a store is down: 503 on those routes while ingestion keeps working."""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from stores.metadata_options import open_test_store
from support.environment import ADMIN_TOKEN, cloud_settings, throwaway_postgres_database

from app.main import create_app
from app.services import Services, build_services
from app.stores.metadata import EdgeRecord, FileRecord
from app.stores.vector_access import VectorStoreAccess, open_vector_store, vector_store_access
from app.stores.vectors import FileVector

REPO = "github.com/acme/shop"
OTHER = "github.com/acme/blog"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def basis(index: int, jitter: float = 0.0) -> list[float]:
    vector = [0.0] * 64
    vector[index] = 1.0
    vector[(index + 1) % 64] = jitter
    return vector


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with throwaway_postgres_database() as url:
        yield url


@pytest.fixture
def stocked(make_backend, key_prefix: str, tmp_path: Path, database_url: str | None) -> Iterator[Services]:
    """Services whose stores hold two small repositories."""
    settings = cloud_settings(key_prefix, data_dir=tmp_path, neon_database_url=database_url)
    services = build_services(settings, make_backend("memory"))
    files = {
        "app/cart.py": basis(0), "app/checkout.py": basis(0, 0.2), "app/payment.py": basis(0, 0.9),
        "docs/readme.py": basis(30),
    }  # fmt: skip
    edges = [("app/cart.py", "app/checkout.py"), ("app/checkout.py", "app/payment.py"),
             ("app/payment.py", "app/cart.py")]  # fmt: skip
    services.metadata.record_ingest(
        REPO,
        "c1",
        [FileRecord(p, "python", 100, "ok") for p in files],
        [EdgeRecord(s, d, "import") for s, d in edges],
    )
    services.metadata.record_ingest(OTHER, "c9", [FileRecord("post.js", "javascript", 10, "ok")], [])
    with services.vectors.session() as store:
        store.replace_repository(REPO, "c1", [FileVector(p, "python", v) for p, v in files.items()])
        store.replace_repository(OTHER, "c9", [FileVector("post.js", "javascript", basis(0, 0.1))])
    yield services
    services.close()


@pytest.fixture
def client(stocked: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=stocked)) as api:
        yield api


def test_similar_files_best_first_within_the_repository(client: TestClient) -> None:
    response = client.get(
        "/api/v1/search/similar",
        params={"repo_url": "https://github.com/acme/shop", "path": "app/cart.py", "k": 2},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["repo_url"] == REPO and body["scope"] == "repository"
    assert [hit["path"] for hit in body["results"]] == ["app/checkout.py", "app/payment.py"]
    assert body["results"][0]["score"] > body["results"][1]["score"]
    assert all(hit["repo_url"] == REPO for hit in body["results"])
    checkout, payment = (hit["evidence"] for hit in body["results"])
    assert (checkout["imports_it"], checkout["imported_by_it"]) == (True, False)
    assert (payment["imports_it"], payment["imported_by_it"]) == (False, True)
    assert checkout["same_folder"] and checkout["shared_neighbours"] == 1
    assert checkout["shared_examples"] == ["app/payment.py"]
    assert checkout["changed_together"] == 0 and checkout["last_changed_together"] is None
    assert checkout["cosine"] == pytest.approx(1 / (1 + 0.2**2) ** 0.5, abs=1e-4)


def test_similar_files_across_repositories_are_refused_with_the_reason(client: TestClient) -> None:
    params = {"repo_url": REPO, "path": "app/cart.py", "k": 10, "scope": "all"}
    response = client.get("/api/v1/search/similar", params=params)
    assert response.status_code == 400
    assert "unrelated" in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"repo_url": REPO, "path": "missing.py"}, 404),
        ({"repo_url": "github.com/acme/unknown", "path": "app/cart.py"}, 404),
        ({"repo_url": REPO, "path": "app/cart.py", "k": 101}, 422),
        ({"repo_url": REPO, "path": "app/cart.py", "k": 0}, 422),
        ({"repo_url": "ssh://github.com/acme/shop", "path": "app/cart.py"}, 400),
    ],
)
def test_similar_files_errors(client: TestClient, params: dict, code: int) -> None:
    response = client.get("/api/v1/search/similar", params=params)
    assert response.status_code == code
    assert response.json()["detail"]


def test_repositories_files_and_graph(client: TestClient) -> None:
    repos = {r["repo_url"]: r for r in client.get("/api/v1/repos").json()["repositories"]}
    assert set(repos) == {REPO, OTHER}
    assert (repos[REPO]["file_count"], repos[REPO]["edge_count"], repos[REPO]["last_commit"]) == (4, 3, "c1")

    files = client.get("/api/v1/repos/files", params={"repo_url": REPO}).json()["files"]
    assert [f["path"] for f in files] == [
        "app/cart.py",
        "app/checkout.py",
        "app/payment.py",
        "docs/readme.py",
    ]
    assert files[0] == {"path": "app/cart.py", "language": "python", "size": 100, "parse_status": "ok"}

    graph = client.get("/api/v1/repos/graph", params={"repo_url": REPO}).json()
    assert len(graph["edges"]) == 3 and graph["edges"][0]["kind"] == "import"
    assert graph["cycles"] == [["app/cart.py", "app/checkout.py", "app/payment.py"]]

    dot = client.get("/api/v1/repos/graph", params={"repo_url": REPO, "format": "dot"})
    assert dot.headers["content-type"].startswith("text/vnd.graphviz")
    assert '"app/cart.py" -> "app/checkout.py";' in dot.text


def test_unknown_repository_is_404(client: TestClient) -> None:
    for path in ("/api/v1/repos/files", "/api/v1/repos/graph"):
        assert client.get(path, params={"repo_url": "github.com/acme/none"}).status_code == 404


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_stores_down_answer_503_while_ingestion_works(make_backend, key_prefix: str, tmp_path: Path) -> None:
    port = closed_port()
    settings = cloud_settings(
        key_prefix,
        data_dir=tmp_path,
        neon_database_url=f"postgresql://postgres@127.0.0.1:{port}/test",
        qdrant_url=f"http://127.0.0.1:{port}",
        qdrant_timeout_seconds=1,
        database_timeout_seconds=1,
    )
    services = build_services(settings, make_backend("redis"))
    with TestClient(create_app(services=services), raise_server_exceptions=False) as api:
        for path, params in (
            ("/api/v1/search/similar", {"repo_url": REPO, "path": "a.py"}),
            ("/api/v1/repos", {}),
            ("/api/v1/repos/files", {"repo_url": REPO}),
            ("/api/v1/repos/graph", {"repo_url": REPO}),
        ):
            response = api.get(path, params=params)
            assert response.status_code == 503, (path, response.text)
            assert str(port) not in response.text
        health = api.get("/health")
        assert health.status_code == 503
        states = {name: state["ok"] for name, state in health.json()["dependencies"].items()}
        assert states == {"redis": True, "database": False, "qdrant": False}
        assert api.post("/api/v1/ingestion/ingest/github.com/acme/shop", headers=AUTH).status_code == 202
        assert api.get("/api/v1/ingestion/worker/status").status_code == 200
    services.close()


def _hold(path: str, ready, release) -> None:

    with open_vector_store(None, None, path) as store:
        store.ping()
        ready.set()
        release.wait(60)


def test_local_folder_held_by_the_worker_is_503_vector_store_busy(
    make_backend, key_prefix: str, tmp_path: Path
) -> None:
    settings = cloud_settings(key_prefix, data_dir=tmp_path)
    services = build_services(settings, make_backend("memory"))
    services.metadata.record_ingest(REPO, "c1", [FileRecord("a.py", "python", 1, "ok")], [])
    with services.vectors.session() as store:
        store.replace_repository(REPO, "c1", [FileVector("a.py", "python", basis(1))])
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(settings.qdrant_path), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with TestClient(create_app(services=services), raise_server_exceptions=False) as api:
            response = api.get("/api/v1/search/similar", params={"repo_url": REPO, "path": "a.py"})
            assert response.status_code == 503
            assert response.json()["detail"].startswith("vector store busy")
            assert response.headers["Retry-After"] == "5"
            assert api.get("/health").json()["dependencies"]["qdrant"]["ok"] is True
            release.set()
            holder.join(30)
            again = api.get("/api/v1/search/similar", params={"repo_url": REPO, "path": "a.py"})
            assert again.status_code == 200
    finally:
        release.set()
        holder.join(30)
    services.close()


def test_one_process_shares_one_local_store(tmp_path: Path) -> None:
    access = vector_store_access(None, None, tmp_path / "q", single_process=True)
    with access.session() as first, access.session() as second:
        assert first is second
    access.close()
    per_use = vector_store_access(None, None, tmp_path / "q", single_process=False)
    assert isinstance(per_use, VectorStoreAccess)
    with per_use.session() as store:
        store.ping()
    # Released after use: another opener gets the folder.
    with open_vector_store(None, None, tmp_path / "q") as store:
        store.ping()
    assert open_test_store(None, tmp_path / "m.db").backend_name == "sqlite"
