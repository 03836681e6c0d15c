"""The operator's API: queue and dead letters, cancel, requeue, delete a repository, /metrics, the graph's
views, the dashboard and offline docs, local paths in MODE=LOCAL, and MODE=CLOUD refusing embedded stores."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from support.environment import ADMIN_TOKEN, cloud_settings
from support.workers import consumer

from app.config import load_settings
from app.errors import ConfigError
from app.main import create_app
from app.services import Services, build_services
from app.stores.metadata import EdgeRecord, FileRecord
from app.stores.vectors import FileVector

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
INGEST = "/api/v1/ingestion/ingest"
REPO = "github.com/acme/shop"


def dead_job(api: TestClient, services: Services, repo: str) -> str:
    job_id = api.post(f"{INGEST}/{repo}", headers=AUTH).json()["job_id"]
    worker = consumer(services.backend, services.keys)
    worker.max_attempts = 1
    claim = worker.start(worker.poll(0.1), f"Cloning {repo}")
    assert worker.requeue(claim, f"{repo} could not be reached") == "dead"
    return job_id


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/ingestion/queue"), ("GET", "/api/v1/ingestion/dead"),
     ("POST", f"/api/v1/ingestion/jobs/{uuid.uuid4()}/cancel"),
     ("POST", f"/api/v1/ingestion/jobs/{uuid.uuid4()}/requeue"), ("POST", "/api/v1/ingestion/dead/requeue"),
     ("DELETE", f"/api/v1/repos?repo_url={REPO}"), ("POST", INGEST)],
)  # fmt: skip
def test_every_operation_needs_the_token(api: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = api.request(method, path, headers=headers, json={"repo_url": REPO})
        assert response.status_code == 401, (method, path, response.text)


def test_list_and_cancel_waiting_jobs(api: TestClient) -> None:
    first = api.post(f"{INGEST}/github.com/a/first", headers=AUTH).json()["job_id"]
    second = api.post(INGEST, json={"repo_url": "https://github.com/a/second.git"}, headers=AUTH).json()[
        "job_id"
    ]
    listing = api.get("/api/v1/ingestion/queue", headers=AUTH).json()
    assert listing["total"] == 2
    assert [(job["position"], job["job_id"], job["repo_url"]) for job in listing["jobs"]] == [
        (1, first, "github.com/a/first"), (2, second, "github.com/a/second")]  # fmt: skip
    cancelled = api.post(f"/api/v1/ingestion/jobs/{first}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = api.post(f"/api/v1/ingestion/jobs/{first}/cancel", headers=AUTH)
    assert again.status_code == 409 and "cancelled, not waiting" in again.json()["detail"]
    assert api.post(f"/api/v1/ingestion/jobs/{uuid.uuid4()}/cancel", headers=AUTH).status_code == 404
    assert api.post("/api/v1/ingestion/jobs/not-an-id/cancel", headers=AUTH).status_code == 422
    assert api.get("/api/v1/ingestion/jobs/history").json()["jobs"][0]["status"] == "cancelled"


def test_requeue_one_or_all_dead_jobs(api: TestClient, services: Services) -> None:
    dead = [dead_job(api, services, f"github.com/a/dead{n}") for n in range(3)]
    listing = api.get("/api/v1/ingestion/dead", headers=AUTH).json()
    assert listing["total"] == 3 and [job["job_id"] for job in listing["jobs"]] == dead[::-1]
    assert all(job["state"] == "dead" and "could not be reached" in job["error"] for job in listing["jobs"])
    one = api.post(f"/api/v1/ingestion/jobs/{dead[0]}/requeue", headers=AUTH)
    assert one.status_code == 200 and one.json()["outcome"] == "queued"
    assert api.post(f"/api/v1/ingestion/jobs/{dead[0]}/requeue", headers=AUTH).status_code == 409
    summary = api.post("/api/v1/ingestion/dead/requeue", headers=AUTH).json()
    assert (summary["requeued"], summary["left"]) == (2, 0)
    assert api.get("/api/v1/ingestion/queue", headers=AUTH).json()["total"] == 3
    assert api.get(f"/api/v1/ingestion/jobs/{dead[1]}").json()["attempts"] == 0


def test_requeue_at_the_cap_answers_429(services: Services, key_prefix: str) -> None:
    settings = services.settings.model_copy(update={"max_queue_size": 1})
    capped = build_services(settings, services.backend, vectors=services.vectors, metadata=services.metadata)
    with TestClient(create_app(services=capped)) as api:
        job_id = dead_job(api, capped, "github.com/a/dead")
        api.post(f"{INGEST}/github.com/a/waiting", headers=AUTH)
        response = api.post(f"/api/v1/ingestion/jobs/{job_id}/requeue", headers=AUTH)
        assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
        assert "queue is full" in response.json()["detail"]


def stock(services: Services) -> None:
    files = [
        "shop/models/cart.py",
        "shop/models/item.py",
        "shop/pricing/money.py",
        "shop/api/routes.py",
        "cli.py",
    ]
    edges = [("shop/models/cart.py", "shop/models/item.py"), ("shop/models/cart.py", "shop/pricing/money.py"),
             ("shop/api/routes.py", "shop/models/cart.py"), ("cli.py", "shop/api/routes.py"),
             ("shop/models/item.py", "shop/models/cart.py")]  # fmt: skip
    services.metadata.record_ingest(
        REPO,
        "c1",
        [FileRecord(p, "python", 10, "ok") for p in files],
        [EdgeRecord(s, d, "import") for s, d in edges],
    )
    with services.vectors.session() as store:
        vectors = [[float(i == n) for i in range(64)] for n in range(len(files))]
        store.replace_repository(
            REPO, "c1", [FileVector(p, "python", v) for p, v in zip(files, vectors, strict=True)]
        )


def test_delete_a_repository_removes_its_vectors_and_rows(api: TestClient, services: Services) -> None:
    stock(services)
    busy = api.post(f"{INGEST}/{REPO}", headers=AUTH).json()["job_id"]
    refused = api.delete("/api/v1/repos", params={"repo_url": REPO}, headers=AUTH)
    assert refused.status_code == 409 and busy in refused.json()["detail"]
    api.post(f"/api/v1/ingestion/jobs/{busy}/cancel", headers=AUTH)
    deleted = api.delete("/api/v1/repos", params={"repo_url": f"https://{REPO}"}, headers=AUTH)
    assert deleted.status_code == 200
    assert deleted.json() == {"repo_url": REPO, "files": 5, "edges": 5, "vectors": 5}
    assert api.get("/api/v1/repos").json()["repositories"] == []
    assert api.get("/api/v1/search/similar", params={"repo_url": REPO, "path": "cli.py"}).status_code == 404
    assert api.delete("/api/v1/repos", params={"repo_url": REPO}, headers=AUTH).status_code == 404
    assert api.delete("/api/v1/repos", params={"repo_url": "ftp://x/y"}, headers=AUTH).status_code == 400


def test_graph_view_focus_depth_collapse_and_filters(api: TestClient, services: Services) -> None:
    stock(services)
    params = {"repo_url": REPO, "focus": "shop/models/cart.py", "depth": 1}
    view = api.get("/api/v1/repos/graph", params=params).json()
    relations = {node["name"]: node["relation"] for node in view["nodes"]}
    assert relations == {"shop/models/cart.py": "focus", "shop/models/item.py": "both",
                         "shop/pricing/money.py": "dependency", "shop/api/routes.py": "dependent"}  # fmt: skip
    assert view["files_total"] == 5 and "cli.py" not in view["files"]
    assert view["cycles"] == [["shop/models/cart.py", "shop/models/item.py"]]
    collapsed = api.get("/api/v1/repos/graph", params={**params, "depth": 2, "collapse": 1}).json()
    assert {node["name"]: node["files"] for node in collapsed["nodes"]} == {
        "shop/": 3, "shop/models/cart.py": 1, "cli.py": 1}  # fmt: skip
    assert {(e["src"], e["dst"], e["count"]) for e in collapsed["node_edges"]} == {
        ("shop/models/cart.py", "shop/", 2), ("shop/", "shop/models/cart.py", 2), ("cli.py", "shop/", 1)}  # fmt: skip
    filtered = api.get(
        "/api/v1/repos/graph", params={"repo_url": REPO, "exclude": "^cli", "include": "shop/"}
    ).json()
    assert "cli.py" not in filtered["files"] and len(filtered["files"]) == 4
    dot = api.get("/api/v1/repos/graph", params={**params, "collapse": 1, "format": "dot"}).text
    assert '"shop/" [shape=folder' in dot and "fillcolor" in dot
    assert api.get("/api/v1/repos/graph", params={**params, "focus": "nope.py"}).status_code == 404
    bad = api.get("/api/v1/repos/graph", params={"repo_url": REPO, "include": "("})
    assert bad.status_code == 400 and "not a regular expression" in bad.json()["detail"]


def test_metrics_in_prometheus_format(api: TestClient, services: Services) -> None:
    dead_job(api, services, "github.com/a/dead")
    api.post(f"{INGEST}/github.com/a/waiting", headers=AUTH)
    consumer(services.backend, services.keys, worker_id="w-metrics").heartbeat(2.0, "Idle")
    response = api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples[("neo_queue_length", ())] == 1
    assert samples[("neo_dead_letters", ())] == 1
    assert samples[("neo_jobs_total", (("state", "dead"),))] == 1
    assert samples[("neo_jobs_total", (("state", "finished"),))] == 0
    assert samples[("neo_worker_up", (("device", "cpu"), ("worker_id", "w-metrics")))] == 1
    assert ("neo_worker_heartbeat_age_seconds", (("worker_id", "w-metrics"),)) in samples


def test_the_dashboard_and_the_docs_are_served_from_the_app(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/dashboard/dashboard.js", "/dashboard/neighbourhood.js", "/dashboard/dashboard.css"} <= set(
        assets
    )
    assert not [url for url in assets if url.startswith(("http:", "https:", "//"))]
    for asset in assets:
        if asset.startswith("/dashboard/"):
            assert api.get(asset).status_code == 200, asset
    assert 'for="token"' in page.text and 'for="repo-url"' in page.text
    for docs in ("/docs", "/redoc"):
        html = api.get(docs).text
        urls = re.findall(r'(?:src|href|url)\s*[=:]\s*["\']([^"\']+)["\']', html)
        assert urls and not [url for url in urls if url.startswith(("http:", "https:", "//"))], (docs, urls)
        for url in urls:
            assert api.get(url).status_code == 200, url


def test_local_paths_in_their_natural_form(key_prefix: str, tmp_path: Path, make_backend) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    settings = load_settings(mode="LOCAL", pharos_admin_token=ADMIN_TOKEN, redis_key_prefix=key_prefix,
                             data_dir=tmp_path / "data")  # fmt: skip
    services = build_services(settings, make_backend("memory"))
    with TestClient(create_app(services=services)) as api:
        by_body = api.post(INGEST, json={"repo_url": str(checkout)}, headers=AUTH)
        assert by_body.status_code == 202, by_body.text
        by_path = api.post(f"{INGEST}{checkout}", headers=AUTH)  # …/ingest/tmp/…/checkout
        assert by_path.status_code == 200 and by_path.json()["job_id"] == by_body.json()["job_id"]
        assert api.get(f"/api/v1/ingestion/jobs/{by_body.json()['job_id']}").json()["repo_url"] == str(
            checkout
        )
    services.close()


def test_local_paths_are_refused_in_cloud_mode(api: TestClient, tmp_path: Path) -> None:
    response = api.post(INGEST, json={"repo_url": str(tmp_path)}, headers=AUTH)
    assert response.status_code == 400 and "local paths" in response.json()["detail"]
    assert api.post(f"{INGEST}{tmp_path}", headers=AUTH).status_code == 400


def test_cloud_mode_refuses_to_start_without_remote_stores(key_prefix: str) -> None:
    with pytest.raises(ConfigError, match="MODE=CLOUD needs NEON_DATABASE_URL and QDRANT_URL"):
        create_app(cloud_settings(key_prefix))
    with pytest.raises(ConfigError, match="needs QDRANT_URL: without it"):
        create_app(cloud_settings(key_prefix, neon_database_url="postgresql://postgres@127.0.0.1:5432/test"))
    remote = cloud_settings(key_prefix, neon_database_url="postgresql://postgres@127.0.0.1:5432/test",
                            qdrant_url="http://127.0.0.1:6333")  # fmt: skip
    assert create_app(remote).state.settings.qdrant_url == "http://127.0.0.1:6333"
