"""The vector store on Qdrant's local mode (in memory and on disk), and on a server that is not there."""

from __future__ import annotations

import math
import multiprocessing
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from store_doubles import FailingUpserts, SleepRecorder, WatchedClient, connection_refused
from store_processes import HELD_REPO, hold_vector_folder

from app.errors import (
    ConfigError,
    NotFound,
    UnknownFile,
    UploadError,
    VectorStoreBusy,
    VectorStoreUnavailable,
)
from app.stores.vector_access import open_vector_store
from app.stores.vectors import (
    COLLECTION_NAME,
    MAX_SIMILAR,
    VECTOR_SIZE,
    FileVector,
    RepositoryUpload,
    SimilarFile,
    VectorStore,
    point_id,
)

pytest_plugins = ["store_fixtures"]

REPO = "https://github.com/example/alpha"
OTHER_REPO = "https://github.com/example/beta"
WHEN = datetime(2026, 1, 20, 10, 30, tzinfo=UTC)


def unit(*components: tuple[int, float]) -> list[float]:
    """A 64-d vector with the given (axis, value) components and zeros elsewhere."""
    vector = [0.0] * VECTOR_SIZE
    for axis, value in components:
        vector[axis] = value
    return vector


def files_of(count: int, *, offset: int = 0) -> list[FileVector]:
    return [
        FileVector(f"src/m{i}.py", "python", unit((i % VECTOR_SIZE, 1.0), (63, 0.5)))
        for i in range(offset, offset + count)
    ]


def stored_points(client: QdrantClient) -> list[models.Record]:
    records, _ = client.scroll(COLLECTION_NAME, limit=100_000, with_payload=True, with_vectors=False)
    return records


def payload_of(client: QdrantClient, repo_url: str, path: str) -> dict[str, Any]:
    (record,) = client.retrieve(COLLECTION_NAME, [point_id(repo_url, path)], with_payload=True)
    return record.payload or {}


# --- Collection ----------------------------------------------------------------------------------------


def test_collection_is_created_with_64_cosine_dimensions(
    vector_store: VectorStore, qdrant_client: QdrantClient
) -> None:
    vector_store.ensure_collection()
    vector_store.ensure_collection()
    params = qdrant_client.get_collection(COLLECTION_NAME).config.params.vectors
    assert isinstance(params, models.VectorParams)
    assert (params.size, params.distance) == (64, models.Distance.COSINE)


@pytest.mark.parametrize(
    ("size", "distance", "found"),
    [(32, models.Distance.COSINE, "32-d Cosine"), (64, models.Distance.DOT, "64-d Dot")],
)
def test_collection_of_another_shape_is_refused(
    qdrant_client: QdrantClient, size: int, distance: models.Distance, found: str
) -> None:
    qdrant_client.create_collection(
        COLLECTION_NAME, vectors_config=models.VectorParams(size=size, distance=distance)
    )
    store = VectorStore(qdrant_client)
    with pytest.raises(ConfigError, match=f"holds {found} vectors.*64-d Cosine"):
        store.ensure_collection()
    with pytest.raises(ConfigError):
        store.upsert_files(REPO, "c1", files_of(1))
    with pytest.raises(ConfigError):
        store.count_files(REPO)


def test_first_read_creates_the_collection(vector_store: VectorStore, qdrant_client: QdrantClient) -> None:
    assert vector_store.counts_by_repository() == {}
    assert qdrant_client.collection_exists(COLLECTION_NAME)


# --- Point ids and payloads ----------------------------------------------------------------------------


def test_point_id_is_stable_and_distinct_per_repository() -> None:
    assert point_id(REPO, "a.py") == point_id(REPO, "a.py")
    assert point_id(REPO, "a.py") != point_id(OTHER_REPO, "a.py")
    assert point_id(REPO, "a.py") != point_id(REPO, "b.py")
    # The pair is not a plain concatenation: moving characters between the parts changes the id.
    assert point_id("https://h/ab", "c") != point_id("https://h/a", "bc")


def test_payload_carries_the_schema_fields(qdrant_client: QdrantClient) -> None:
    store = VectorStore(qdrant_client, clock=lambda: WHEN)
    store.upsert_files(REPO, "abc123", [FileVector("src/app.ts", "typescript", unit((0, 1.0)))])
    assert payload_of(qdrant_client, REPO, "src/app.ts") == {
        "file_path": "src/app.ts",
        "repo_url": REPO,
        "language": "typescript",
        "commit": "abc123",
        "embedding_type": "structural",
        "model": "node2vec",
        "ingested_at": "2026-01-20T10:30:00+00:00",
    }


repo_urls = st.from_regex(
    r"https://(github\.com|gitlab\.com)/[a-z0-9-]{1,12}/[a-z0-9._-]{1,12}", fullmatch=True
)
file_paths = st.from_regex(r"[a-zA-Z0-9_]{1,10}(/[a-zA-Z0-9_.-]{1,10}){0,3}\.(py|js|ts|tsx)", fullmatch=True)
vectors = st.lists(
    st.floats(-1.0, 1.0, allow_nan=False, width=32), min_size=VECTOR_SIZE, max_size=VECTOR_SIZE
).map(
    lambda values: [1.0, *values[1:]]  # never the zero vector, which has no direction
)
repository_files = st.lists(
    st.builds(
        FileVector,
        path=file_paths,
        language=st.sampled_from(["python", "javascript", "typescript"]),
        vector=vectors,
    ),
    max_size=25,
    unique_by=lambda file: file.path,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    repositories=st.dictionaries(repo_urls, repository_files, min_size=1, max_size=3),
    batch_size=st.integers(1, 8),
)
def test_property_8_every_embedding_is_uploaded_with_file_path_and_repo_url(
    repositories: dict[str, list[FileVector]], batch_size: int
) -> None:
    client = QdrantClient(location=":memory:")
    try:
        store = VectorStore(client, batch_size=batch_size)
        for repo_url, files in repositories.items():
            assert store.replace_repository(repo_url, "c1", files) == RepositoryUpload(len(files), 0)

        uploaded: dict[str, set[str]] = {repo_url: set() for repo_url in repositories}
        for record in stored_points(client):
            payload = record.payload or {}
            assert {
                "file_path",
                "repo_url",
                "language",
                "commit",
                "embedding_type",
                "model",
            } <= payload.keys()
            assert record.id == point_id(payload["repo_url"], payload["file_path"])
            uploaded[payload["repo_url"]].add(payload["file_path"])
        assert uploaded == {
            repo_url: {file.path for file in files} for repo_url, files in repositories.items()
        }
        assert store.counts_by_repository() == {
            repo_url: len(files) for repo_url, files in repositories.items() if files
        }
    finally:
        client.close()


# --- Re-ingests ----------------------------------------------------------------------------------------


def test_reingest_overwrites_instead_of_duplicating(
    vector_store: VectorStore, qdrant_client: QdrantClient
) -> None:
    vector_store.replace_repository(REPO, "c1", files_of(10))
    assert vector_store.replace_repository(REPO, "c2", files_of(10)) == RepositoryUpload(
        upserted=10, deleted=0
    )
    assert vector_store.count_files(REPO) == 10
    assert len(stored_points(qdrant_client)) == 10
    assert {record.payload["commit"] for record in stored_points(qdrant_client)} == {"c2"}  # type: ignore[index]


def test_reingest_deletes_the_points_of_removed_files(
    vector_store: VectorStore, qdrant_client: QdrantClient
) -> None:
    vector_store.replace_repository(REPO, "c1", files_of(10))
    kept = files_of(7)
    assert vector_store.replace_repository(REPO, "c2", kept) == RepositoryUpload(upserted=7, deleted=3)
    assert {record.payload["file_path"] for record in stored_points(qdrant_client)} == {f.path for f in kept}  # type: ignore[index]
    with pytest.raises(UnknownFile):
        vector_store.similar_files(REPO, "src/m9.py")


def test_reingest_with_no_files_empties_the_repository(vector_store: VectorStore) -> None:
    vector_store.replace_repository(REPO, "c1", files_of(5))
    assert vector_store.replace_repository(REPO, "c2", []) == RepositoryUpload(upserted=0, deleted=5)
    assert vector_store.count_files(REPO) == 0


def test_repository_is_never_without_its_new_vectors(qdrant_client: QdrantClient) -> None:
    new_files = files_of(6, offset=4)  # keeps m4..m9, adds none of m0..m3
    seen: list[int] = []

    def check_new_version_is_complete() -> None:
        for file in new_files:
            assert payload_of(qdrant_client, REPO, file.path)["commit"] == "c2"
        seen.append(len(stored_points(qdrant_client)))

    store = VectorStore(WatchedClient(qdrant_client, check_new_version_is_complete), batch_size=2)  # type: ignore[arg-type]
    store.replace_repository(REPO, "c1", files_of(10))
    store.replace_repository(REPO, "c2", new_files)
    assert seen == [10, 8]  # two delete batches of two stale points each, after all upserts
    assert store.count_files(REPO) == 6


def test_two_repositories_never_overwrite_each_other(vector_store: VectorStore) -> None:
    vector_store.replace_repository(REPO, "a1", files_of(5))
    vector_store.replace_repository(OTHER_REPO, "b1", files_of(5))
    vector_store.replace_repository(REPO, "a2", files_of(2))
    assert vector_store.counts_by_repository() == {REPO: 2, OTHER_REPO: 5}
    assert vector_store.count_files(OTHER_REPO) == 5


def test_local_storage_commits_through_a_write_ahead_log(tmp_path: Path) -> None:
    with open_vector_store(None, None, tmp_path / "qdrant") as store:
        store.replace_repository(REPO, "c1", files_of(2))
    storage = tmp_path / "qdrant" / "collection" / COLLECTION_NAME / "storage.sqlite"
    with closing(sqlite3.connect(storage)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_vectors_survive_reopening_the_folder(tmp_path: Path) -> None:
    with open_vector_store(None, None, tmp_path / "qdrant") as store:
        store.replace_repository(REPO, "c1", files_of(4))
    with open_vector_store(None, None, tmp_path / "qdrant") as reopened:
        assert reopened.count_files(REPO) == 4
        assert len(reopened.similar_files(REPO, "src/m0.py", k=10)) == 3


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([FileVector("a.py", "python", [1.0] * 63)], "63 dimensions"),
        ([FileVector("a.py", "python", [math.nan] + [1.0] * 63)], "NaN or infinite"),
        ([FileVector("a.py", "python", [1.0] * 64), FileVector("a.py", "python", [2.0] * 64)], "Duplicate"),
    ],
)
def test_invalid_vectors_are_refused_before_anything_is_written(
    vector_store: VectorStore, files: list[FileVector], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        vector_store.replace_repository(REPO, "c1", files)
    assert vector_store.count_files(REPO) == 0


def test_numpy_vectors_are_accepted(vector_store: VectorStore) -> None:
    matrix = np.random.default_rng(1).standard_normal((3, VECTOR_SIZE)).astype(np.float32)
    vector_store.upsert_files(
        REPO, "c1", [FileVector(f"f{i}.py", "python", row) for i, row in enumerate(matrix)]
    )
    assert vector_store.count_files(REPO) == 3


# --- Similar files -------------------------------------------------------------------------------------


@pytest.fixture
def neighbourhood(vector_store: VectorStore) -> VectorStore:
    """a.py's neighbours in order: b (closest), c, d (orthogonal); beta/x.py is a.py's twin."""
    vector_store.replace_repository(
        REPO,
        "c1",
        [
            FileVector("a.py", "python", unit((0, 1.0))),
            FileVector("b.py", "python", unit((0, 1.0), (1, 0.1))),
            FileVector("c.ts", "typescript", unit((0, 1.0), (1, 0.8))),
            FileVector("d.js", "javascript", unit((1, 1.0))),
        ],
    )
    vector_store.replace_repository(OTHER_REPO, "c9", [FileVector("x.py", "python", unit((0, 2.0)))])
    return vector_store


def test_similar_files_stay_in_the_repository_by_default(neighbourhood: VectorStore) -> None:
    similar = neighbourhood.similar_files(REPO, "a.py", k=3)
    assert [(file.repo_url, file.path, file.language) for file in similar] == [
        (REPO, "b.py", "python"),
        (REPO, "c.ts", "typescript"),
        (REPO, "d.js", "javascript"),
    ]
    assert similar[0].score == pytest.approx(1 / math.sqrt(1.01), abs=1e-5)
    assert similar[2].score == pytest.approx(0.0, abs=1e-5)
    assert [file.score for file in similar] == sorted((file.score for file in similar), reverse=True)


def test_similar_files_across_all_repositories(neighbourhood: VectorStore) -> None:
    similar = neighbourhood.similar_files(REPO, "a.py", k=2, all_repositories=True)
    assert similar[0] == SimilarFile(OTHER_REPO, "x.py", "python", pytest.approx(1.0, abs=1e-5))  # type: ignore[arg-type]
    assert similar[1].path == "b.py"


def test_similar_files_never_include_the_file_itself(neighbourhood: VectorStore) -> None:
    paths = [
        file.path for file in neighbourhood.similar_files(REPO, "a.py", k=MAX_SIMILAR, all_repositories=True)
    ]
    assert sorted(paths) == ["b.py", "c.ts", "d.js", "x.py"]


@pytest.mark.parametrize(
    ("repo_url", "path"), [(REPO, "missing.py"), ("https://github.com/example/none", "a.py")]
)
def test_unknown_file_is_not_found(neighbourhood: VectorStore, repo_url: str, path: str) -> None:
    with pytest.raises(UnknownFile) as raised:
        neighbourhood.similar_files(repo_url, path)
    assert isinstance(raised.value, NotFound)


@pytest.mark.parametrize("k", [0, -1, MAX_SIMILAR + 1])
def test_k_must_be_between_1_and_100(neighbourhood: VectorStore, k: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        neighbourhood.similar_files(REPO, "a.py", k=k)


def test_one_store_serves_many_threads(vector_store: VectorStore) -> None:
    repos = [f"https://github.com/example/r{i}" for i in range(6)]

    def ingest_and_search(repo: str) -> int:
        for commit, count in enumerate((8, 5, 6)):
            vector_store.replace_repository(repo, f"c{commit}", files_of(count))
            vector_store.similar_files(repo, "src/m0.py", k=3)
            vector_store.counts_by_repository()
        return vector_store.count_files(repo)

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(ingest_and_search, repos)) == [6] * 6


# --- Retries -------------------------------------------------------------------------------------------


def test_upload_retries_with_exponential_backoff_then_succeeds(
    qdrant_client: QdrantClient, sleeps: SleepRecorder
) -> None:
    client = FailingUpserts(qdrant_client, [connection_refused(), connection_refused()])
    store = VectorStore(client, sleep=sleeps)  # type: ignore[arg-type]
    store.replace_repository(REPO, "c1", files_of(3))
    assert client.upsert_calls == 3
    assert sleeps.waits == [2, 4]
    assert store.count_files(REPO) == 3


def test_upload_fails_after_three_attempts(qdrant_client: QdrantClient, sleeps: SleepRecorder) -> None:
    client = FailingUpserts(qdrant_client, [connection_refused()] * 3)
    store = VectorStore(client, sleep=sleeps)  # type: ignore[arg-type]
    with pytest.raises(UploadError, match=r"after 3 attempts.*Connection refused") as raised:
        store.replace_repository(REPO, "c1", files_of(3))
    assert client.upsert_calls == 3
    assert sleeps.waits == [2, 4]
    assert raised.value.transient
    assert isinstance(raised.value.__cause__, ResponseHandlingException)


def test_attempts_are_configurable(qdrant_client: QdrantClient, sleeps: SleepRecorder) -> None:
    client = FailingUpserts(qdrant_client, [connection_refused()] * 5)
    store = VectorStore(client, upload_attempts=5, sleep=sleeps)  # type: ignore[arg-type]
    with pytest.raises(UploadError, match="after 5 attempts"):
        store.upsert_files(REPO, "c1", files_of(1))
    assert sleeps.waits == [2, 4, 8, 16]


def test_server_errors_are_retried_and_client_errors_are_not(
    qdrant_client: QdrantClient, sleeps: SleepRecorder
) -> None:
    unavailable = UnexpectedResponse(503, "Service Unavailable", b"", httpx.Headers())
    bad_request = UnexpectedResponse(400, "Bad Request", b'{"status":{"error":"bad"}}', httpx.Headers())
    client = FailingUpserts(qdrant_client, [unavailable, bad_request])
    store = VectorStore(client, sleep=sleeps)  # type: ignore[arg-type]
    with pytest.raises(UploadError, match=r"not retried.*HTTP 400") as raised:
        store.upsert_files(REPO, "c1", files_of(1))
    assert client.upsert_calls == 2
    assert sleeps.waits == [2]
    assert not raised.value.transient


def test_upserts_go_in_batches(qdrant_client: QdrantClient) -> None:
    client = FailingUpserts(qdrant_client, [])
    VectorStore(client, batch_size=4).upsert_files(REPO, "c1", files_of(10))  # type: ignore[arg-type]
    assert client.upsert_calls == 3


# --- A server that is not there ------------------------------------------------------------------------


def test_unreachable_server_makes_reads_unavailable(closed_port: int) -> None:
    with open_vector_store(f"http://127.0.0.1:{closed_port}") as store:
        reads: list[Callable[[], object]] = [
            store.ensure_collection,
            lambda: store.similar_files(REPO, "a.py"),
            lambda: store.count_files(REPO),
            store.counts_by_repository,
        ]
        for read in reads:
            with pytest.raises(VectorStoreUnavailable, match="Connection refused"):
                read()


def test_unreachable_server_upload_retries_then_fails(closed_port: int, sleeps: SleepRecorder) -> None:
    client = QdrantClient(url=f"http://127.0.0.1:{closed_port}", check_compatibility=False)
    with VectorStore(client, sleep=sleeps) as store, pytest.raises(UploadError, match="after 3 attempts"):
        store.replace_repository(REPO, "c1", files_of(2))
    assert sleeps.waits == [2, 4]


def test_silent_server_times_out(silent_port: int) -> None:
    with (
        open_vector_store(f"http://127.0.0.1:{silent_port}", timeout_seconds=1) as store,
        pytest.raises(VectorStoreUnavailable, match="Timeout"),
    ):
        store.count_files(REPO)


# --- Opening (property 12, local mode's folder lock) ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://qdrant.example.com:6333", "http://10.0.0.5:6333", "ftp://127.0.0.1:6333", "qdrant.example.com"],
)
def test_remote_server_needs_https(url: str) -> None:
    with pytest.raises(ConfigError, match="QDRANT_URL"):
        open_vector_store(url, "key")


@pytest.mark.parametrize(
    "url",
    ["https://abc.eu-central.aws.cloud.qdrant.io:6333", "http://127.0.0.1:6333", "http://localhost:6333"],
)
def test_https_or_loopback_server_is_accepted_without_a_request(url: str) -> None:
    open_vector_store(url, None).close()


def test_store_needs_a_url_or_a_folder() -> None:
    with pytest.raises(ConfigError):
        open_vector_store(None, None, None)


def test_memory_store_for_one_process() -> None:
    with open_vector_store(None, None, ":memory:") as store:
        store.replace_repository(REPO, "c1", files_of(2))
        assert store.count_files(REPO) == 2


def test_folder_held_by_another_process_is_busy(tmp_path: Path) -> None:
    folder = tmp_path / "qdrant"
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=hold_vector_folder, args=(str(folder), ready, release))
    holder.start()
    try:
        assert ready.wait(timeout=60), "the holding process did not open the folder"
        with pytest.raises(VectorStoreBusy, match="vector store busy") as raised:
            open_vector_store(None, None, folder)
        assert isinstance(raised.value, VectorStoreUnavailable)
        assert f"process {holder.pid} (" in str(raised.value) and "Stop that process" in str(raised.value)
    finally:
        release.set()
        holder.join(timeout=60)
    assert holder.exitcode == 0
    with open_vector_store(None, None, folder) as store:
        assert store.count_files(HELD_REPO) == 1
