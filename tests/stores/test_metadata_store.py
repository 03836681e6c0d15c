"""The metadata store, run against the machine's PostgreSQL and against a SQLite file alike."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metadata_options import open_test_store
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.errors import JobNotFound, MetadataUnavailable, NotFound, UnknownRepository
from app.jobs import HistoryRecord
from app.stores.metadata import CoChangeRecord, EdgeRecord, FileRecord, MetadataStore, RepositorySummary

pytest_plugins = ["store_fixtures"]

REPO = "https://github.com/example/alpha"
OTHER_REPO = "https://github.com/example/beta"
WHEN = datetime(2026, 1, 20, 10, 30, tzinfo=UTC)


def journal(job_id: str, status: str, **fields: object) -> HistoryRecord:
    """A history record as the worker journals it; `fields` override the defaults."""
    values: dict[str, object] = {"job_id": job_id, "repo_url": REPO, "status": status, "timestamp": WHEN}
    return HistoryRecord.model_validate({**values, **fields})


def python_file(path: str, size: int = 100, parse_status: str = "ok") -> FileRecord:
    return FileRecord(path=path, language="python", size=size, parse_status=parse_status)


FILES = [python_file("pkg/__init__.py", 0), python_file("pkg/a.py"), python_file("pkg/b.py", 2048)]
EDGES = [
    EdgeRecord("pkg/a.py", "pkg/b.py", "import"),
    EdgeRecord("pkg/b.py", "pkg/__init__.py", "import"),
    EdgeRecord("pkg/a.py", "pkg/b.py", "type_import"),
]


# --- Ingests -------------------------------------------------------------------------------------------


def test_record_ingest_then_read_it_back(metadata_store: MetadataStore) -> None:
    summary = metadata_store.record_ingest(REPO, "c1", FILES, EDGES, ingested_at=WHEN)

    assert summary == RepositorySummary(REPO, "c1", WHEN, file_count=3, edge_count=3)
    assert metadata_store.list_repositories() == [summary]
    assert metadata_store.get_repository(REPO) == summary
    assert metadata_store.list_files(REPO) == sorted(FILES, key=lambda file: file.path)
    graph = metadata_store.get_graph(REPO)
    assert graph.repository == summary
    assert graph.files == sorted(FILES, key=lambda file: file.path)
    assert graph.edges == sorted(EDGES, key=lambda edge: (edge.src, edge.dst, edge.kind))


def test_co_change_pairs_are_replaced_with_the_ingest_and_deleted_with_the_repository(
    metadata_store: MetadataStore,
) -> None:
    pairs = [
        CoChangeRecord("pkg/a.py", "pkg/b.py", 3, WHEN, 2.5),
        CoChangeRecord("pkg/__init__.py", "pkg/a.py", 1, WHEN, 0.5),
    ]
    metadata_store.record_ingest(REPO, "c1", FILES, EDGES, co_changes=pairs)
    assert metadata_store.get_co_changes(REPO) == sorted(pairs, key=lambda pair: (pair.a, pair.b))
    metadata_store.record_ingest(REPO, "c2", FILES, EDGES, co_changes=pairs[:1])
    assert metadata_store.get_co_changes(REPO) == pairs[:1]
    with pytest.raises(ValueError):  # a pair naming a file the ingest does not hold
        metadata_store.record_ingest(
            REPO, "c3", FILES, EDGES, co_changes=[CoChangeRecord("pkg/a.py", "x.py", 1, WHEN, 1.0)]
        )
    assert metadata_store.get_co_changes(REPO) == pairs[:1]
    metadata_store.delete_repository(REPO)
    with pytest.raises(UnknownRepository):
        metadata_store.get_co_changes(REPO)


def test_ingest_time_comes_from_the_clock_and_keeps_its_zone(make_metadata_store: Callable) -> None:
    store = make_metadata_store(clock=lambda: WHEN)
    store.record_ingest(REPO, "c1", FILES, [])
    stored = store.get_repository(REPO).last_ingested_at
    assert stored == WHEN
    assert stored is not None and stored.utcoffset() == timedelta(0)


def test_times_are_stored_and_read_in_utc(metadata_store: MetadataStore) -> None:
    metadata_store.record_ingest(REPO, "c1", [], [], ingested_at=WHEN.replace(tzinfo=None))
    assert metadata_store.get_repository(REPO).last_ingested_at == WHEN

    an_hour_east = WHEN.astimezone(timezone(timedelta(hours=1)))
    metadata_store.record_job(journal("j", "finished", timestamp=an_hour_east))
    ended = metadata_store.get_job("j").timestamp
    assert ended == WHEN
    assert ended.utcoffset() == timedelta(0)


def test_reingest_replaces_files_and_edges(metadata_store: MetadataStore) -> None:
    metadata_store.record_ingest(REPO, "c1", FILES, EDGES, ingested_at=WHEN)
    files = [python_file("pkg/a.py", 5, "failed"), python_file("pkg/c.py")]
    edges = [EdgeRecord("pkg/c.py", "pkg/a.py", "import")]
    later = WHEN + timedelta(hours=1)

    metadata_store.record_ingest(REPO, "c2", files, edges, ingested_at=later)

    assert metadata_store.list_repositories() == [RepositorySummary(REPO, "c2", later, 2, 1)]
    assert metadata_store.list_files(REPO) == files
    assert metadata_store.get_graph(REPO).edges == edges


def test_two_repositories_never_overwrite_each_other(metadata_store: MetadataStore) -> None:
    metadata_store.record_ingest(REPO, "a1", FILES, EDGES, ingested_at=WHEN)
    metadata_store.record_ingest(OTHER_REPO, "b1", FILES, EDGES, ingested_at=WHEN)
    metadata_store.record_ingest(REPO, "a2", FILES[:1], [], ingested_at=WHEN)

    assert [repo.url for repo in metadata_store.list_repositories()] == [REPO, OTHER_REPO]
    assert metadata_store.get_graph(OTHER_REPO).files == sorted(FILES, key=lambda file: file.path)
    assert len(metadata_store.get_graph(OTHER_REPO).edges) == len(EDGES)
    assert metadata_store.get_repository(OTHER_REPO).last_commit == "b1"
    assert metadata_store.list_files(REPO) == FILES[:1]


@pytest.mark.parametrize(
    ("files", "edges"),
    [
        pytest.param([*FILES, python_file("pkg/a.py")], [], id="duplicate-file"),
        pytest.param(FILES, [*EDGES, EDGES[0]], id="duplicate-edge"),
        pytest.param(FILES, [EdgeRecord("pkg/a.py", "pkg/missing.py", "import")], id="edge-to-unknown-file"),
    ],
)
def test_failed_ingest_leaves_the_previous_version_intact(
    metadata_store: MetadataStore, files: list[FileRecord], edges: list[EdgeRecord]
) -> None:
    before = metadata_store.record_ingest(REPO, "c1", FILES, EDGES, ingested_at=WHEN)
    graph_before = metadata_store.get_graph(REPO)

    with pytest.raises(ValueError, match="was refused"):
        metadata_store.record_ingest(REPO, "c2", files, edges, ingested_at=WHEN + timedelta(days=1))

    assert metadata_store.list_repositories() == [before]
    assert metadata_store.get_graph(REPO) == graph_before


def test_failed_first_ingest_leaves_no_repository(metadata_store: MetadataStore) -> None:
    with pytest.raises(ValueError):
        metadata_store.record_ingest(REPO, "c1", [*FILES, FILES[0]], [])
    assert metadata_store.list_repositories() == []
    with pytest.raises(UnknownRepository):
        metadata_store.get_repository(REPO)


def test_unknown_repository_is_not_found(metadata_store: MetadataStore) -> None:
    metadata_store.record_ingest(REPO, "c1", FILES, EDGES)
    for read in (metadata_store.get_repository, metadata_store.list_files, metadata_store.get_graph):
        with pytest.raises(UnknownRepository) as raised:
            read(OTHER_REPO)
        assert isinstance(raised.value, NotFound)


def test_empty_repository_is_recorded(metadata_store: MetadataStore) -> None:
    metadata_store.record_ingest(REPO, "c1", [], [], ingested_at=WHEN)
    assert metadata_store.get_graph(REPO).repository == RepositorySummary(REPO, "c1", WHEN, 0, 0)


def test_large_ingest_round_trips(metadata_store: MetadataStore) -> None:
    files = [python_file(f"pkg/m{i:05}.py", i) for i in range(5_000)]
    edges = [
        EdgeRecord(files[i].path, files[(i * 7 + j) % 5_000].path, "import")
        for i in range(5_000)
        for j in (1, 2, 3, 4)
    ]
    metadata_store.record_ingest(REPO, "c1", files, edges)
    graph = metadata_store.get_graph(REPO)
    assert graph.files == files
    assert sorted(graph.edges, key=lambda e: (e.src, e.dst)) == sorted(edges, key=lambda e: (e.src, e.dst))
    assert metadata_store.get_repository(REPO).edge_count == 20_000


paths = st.lists(
    st.from_regex(r"[a-z]{1,8}(/[a-z_]{1,8}){0,2}\.(py|ts|js)", fullmatch=True), unique=True, max_size=12
)


@st.composite
def repository_versions(draw: st.DrawFn) -> tuple[list[FileRecord], list[EdgeRecord]]:
    files = [
        FileRecord(
            path,
            draw(st.sampled_from(["python", "typescript", "javascript"])),
            draw(st.integers(0, 10**9)),
            draw(st.sampled_from(["ok", "failed"])),
        )
        for path in draw(paths)
    ]
    if not files:
        return files, []
    pairs = st.tuples(st.sampled_from(files), st.sampled_from(files), st.sampled_from(["import", "require"]))
    edges = {EdgeRecord(src.path, dst.path, kind) for src, dst, kind in draw(st.lists(pairs, max_size=20))}
    return files, sorted(edges, key=lambda e: (e.src, e.dst, e.kind))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    versions=st.lists(repository_versions(), min_size=1, max_size=3), repo=st.sampled_from([REPO, OTHER_REPO])
)
def test_ingest_round_trip_keeps_only_the_last_version(
    metadata_store: MetadataStore, versions: list[tuple[list[FileRecord], list[EdgeRecord]]], repo: str
) -> None:
    for number, (files, edges) in enumerate(versions):
        metadata_store.record_ingest(repo, f"c{number}", files, edges)
    files, edges = versions[-1]
    graph = metadata_store.get_graph(repo)
    assert graph.files == sorted(files, key=lambda file: file.path)
    assert graph.edges == edges
    assert (graph.repository.file_count, graph.repository.edge_count) == (len(files), len(edges))


# --- Jobs ----------------------------------------------------------------------------------------------


def test_record_job_inserts_then_overwrites(metadata_store: MetadataStore) -> None:
    dead = journal("job-1", "dead", attempts=1, error="lease expired", stage_seconds={"cloning": 1.5})
    metadata_store.record_job(dead)
    assert metadata_store.get_job("job-1") == dead

    failed = journal(
        "job-1",
        "failed",
        attempts=2,
        error="Clone failed: repository not found",
        timestamp=WHEN + timedelta(seconds=90),
        duration_seconds=90.0,
        stage_seconds={"cloning": 1.5, "parsing": 12.25},
    )
    metadata_store.record_job(failed)
    assert metadata_store.get_job("job-1") == failed


def test_record_job_keeps_the_failures_the_graph_isolated(metadata_store: MetadataStore) -> None:
    failures = [
        {"path": "web/package.json", "step": "config", "reason": "nested deeper than 64 levels"},
        {"path": "web/a.ts", "step": "resolve", "specifier": "#x", "reason": "IndexError: boom"},
        {"path": "web/deep.js", "step": "parse", "reason": "scan stopped", "status": "partial"},
    ]
    finished = journal("job-2", "finished", failures_total=7, failures=failures, files_processed=3)
    metadata_store.record_job(finished)
    stored = metadata_store.get_job("job-2")
    assert (stored.failures_total, stored.failures) == (7, finished.failures)
    assert stored.failures[1].specifier == "#x" and stored.failures[2].status == "partial"

    metadata_store.record_job(journal("job-3", "dead", error="lease expired"))
    assert (metadata_store.get_job("job-3").failures_total, metadata_store.get_job("job-3").failures) == (
        None,
        [],
    )


def test_unknown_job_is_not_found(metadata_store: MetadataStore) -> None:
    with pytest.raises(JobNotFound):
        metadata_store.get_job("no-such-job")


# --- Threads -------------------------------------------------------------------------------------------


def test_one_store_serves_many_threads(make_metadata_store: Callable) -> None:
    store = make_metadata_store(pool_size=2)
    repos = [f"https://github.com/example/r{i}" for i in range(6)]

    def ingest_and_read(repo: str) -> int:
        for commit in range(3):
            store.record_ingest(repo, f"c{commit}", FILES[: commit + 1], [])
            store.record_job(journal(f"{repo}#{commit}", "finished", repo_url=repo))
            store.list_repositories()
        return len(store.list_files(repo))

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(ingest_and_read, repos)) == [3] * 6
    assert [repo.last_commit for repo in store.list_repositories()] == ["c2"] * 6


# --- Unavailable databases -----------------------------------------------------------------------------


def test_refused_postgres_connection_is_unavailable(closed_port: int) -> None:
    with open_test_store(f"postgresql://postgres:s3cret@127.0.0.1:{closed_port}/test") as store:
        with pytest.raises(
            MetadataUnavailable,
            match=re.escape(f"Cannot connect to the database at 127.0.0.1:{closed_port}/test"),
        ) as refused:
            store.list_repositories()
        # Callers right after a failed connect are answered at once instead of queueing.
        with pytest.raises(MetadataUnavailable, match="a moment ago") as paused:
            store.record_job(journal("j", "failed"))
        assert "s3cret" not in str(refused.value) + str(paused.value)


def test_silent_postgres_server_times_out(silent_port: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_port}/test"
    with (
        open_test_store(url, connect_timeout_seconds=2) as store,
        pytest.raises(MetadataUnavailable, match="timeout"),
    ):
        store.ping()


def test_postgres_connections_stay_within_the_cap(postgres_url: str) -> None:
    with open_test_store(postgres_url, pool_size=1, wait_seconds=0.2) as store:
        store.migrate()
        with (
            store._database.transaction(write=False),
            pytest.raises(MetadataUnavailable, match=r"All 1 connections to the database at .* stayed busy"),
        ):
            store.list_repositories()
        store.list_repositories()


def _terminate_other_sessions(url: str) -> None:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


def test_connection_closed_during_a_read_fails_once_then_recovers(postgres_url: str) -> None:
    with open_test_store(postgres_url) as store:
        before = store.list_repositories()
        with (
            pytest.raises(MetadataUnavailable, match=r"The connection to the database at .* failed"),
            store._database.transaction(write=False) as connection,
        ):
            connection.execute(text("SELECT 1"))
            _terminate_other_sessions(postgres_url)
            connection.execute(text("SELECT 1"))
        assert store.list_repositories() == before


def test_dead_pooled_connection_is_replaced_before_use(postgres_url: str) -> None:
    """Neon closes idle connections when it scales to zero: the next call must not see that."""
    with open_test_store(postgres_url, pool_size=1) as store:
        before = store.list_repositories()
        _terminate_other_sessions(postgres_url)
        assert store.list_repositories() == before


def test_postgres_reads_are_read_only_and_writes_are_not(postgres_url: str) -> None:
    with open_test_store(postgres_url, pool_size=1) as store:
        store.migrate()
        with (
            pytest.raises(DBAPIError, match="read-only transaction"),
            store._database.transaction(write=False) as connection,
        ):
            connection.execute(text("DELETE FROM jobs"))
        # The same pooled connection writes again once the read is over.
        store.record_job(journal("j", "failed"))
        assert store.get_job("j").status == "failed"


def test_locked_sqlite_file_is_unavailable_for_writes_but_readable(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    with open_test_store(None, path, wait_seconds=0.2) as store:
        store.record_ingest(REPO, "c1", FILES, EDGES)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(MetadataUnavailable, match=re.escape(f"{path} failed: database is locked")):
                store.record_job(journal("j", "failed"))
            assert store.get_repository(REPO).last_commit == "c1"
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.record_job(journal("j", "failed"))


def test_sqlite_file_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with (
        open_test_store(None, blocker / "metadata.db") as store,
        pytest.raises(
            MetadataUnavailable, match=re.escape(f"Cannot connect to the SQLite database {blocker}")
        ),
    ):
        store.list_repositories()


def test_closed_store_is_unavailable(metadata_store: MetadataStore) -> None:
    metadata_store.list_repositories()
    metadata_store.close()
    with pytest.raises(MetadataUnavailable, match="closed"):
        metadata_store.list_repositories()


def test_store_needs_a_url_or_a_file() -> None:
    with pytest.raises(ValueError):
        open_test_store(None, None)


# --- Transactions --------------------------------------------------------------------------------------


def test_a_read_sees_one_snapshot(make_metadata_store: Callable) -> None:
    store = make_metadata_store()
    store.record_ingest(REPO, "c1", FILES, EDGES)
    count = text("SELECT COUNT(*) FROM files")
    with store._database.transaction(write=False) as connection:
        before = connection.execute(count).scalar()
        writer = threading.Thread(target=store.record_ingest, args=(OTHER_REPO, "b1", FILES, []))
        writer.start()
        writer.join(timeout=30)
        assert connection.execute(count).scalar() == before
    assert store.get_repository(OTHER_REPO).file_count == len(FILES)


def test_a_long_read_does_not_block_an_ingest(make_metadata_store: Callable) -> None:
    store = make_metadata_store()
    store.record_ingest(REPO, "c1", FILES, EDGES)
    inside = threading.Event()
    release = threading.Event()

    def long_read() -> None:
        with store._database.transaction(write=False) as connection:
            connection.execute(text("SELECT COUNT(*) FROM files"))
            inside.set()
            release.wait(timeout=30)

    reader = threading.Thread(target=long_read)
    reader.start()
    try:
        assert inside.wait(timeout=30)
        store.record_ingest(REPO, "c2", FILES[:1], [])
        assert store.get_repository(REPO).last_commit == "c2"
    finally:
        release.set()
        reader.join(timeout=30)
