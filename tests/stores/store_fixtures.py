"""Fixtures for the store tests: a throwaway PostgreSQL database on the machine's server, SQLite files,
Qdrant in local mode, and loopback ports that refuse or never answer.

A pytest plugin that the store test modules load with `pytest_plugins` rather than a conftest.py, which
would take the module name `conftest` from tests/conftest.py for the test modules collected after it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from metadata_options import open_test_store
from qdrant_client import QdrantClient
from store_doubles import SleepRecorder
from support.environment import throwaway_postgres_database

from app.stores.metadata import MetadataStore
from app.stores.vectors import VectorStore

METADATA_BACKENDS = ("postgresql", "sqlite")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One database for the session's PostgreSQL tests; each test empties its tables first."""
    with throwaway_postgres_database() as url:
        yield url


@pytest.fixture(params=METADATA_BACKENDS)
def metadata_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_location(
    metadata_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> dict[str, object]:
    """Where the test's store lies, the session's PostgreSQL database or a new SQLite file, as the
    `database_url` and `sqlite_path` arguments of `open_test_store`."""
    if metadata_backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _empty_tables(url)
        return {"database_url": url}
    return {"database_url": None, "sqlite_path": tmp_path / "metadata.db"}


@pytest.fixture
def fresh_location(metadata_backend: str, tmp_path: Path) -> Iterator[dict[str, object]]:
    """Where a database that has no tables yet lies, as for `store_location`."""
    if metadata_backend == "postgresql":
        with throwaway_postgres_database() as url:
            yield {"database_url": url}
    else:
        yield {"database_url": None, "sqlite_path": tmp_path / "fresh" / "metadata.db"}


@pytest.fixture
def make_metadata_store(store_location: dict[str, object]) -> Iterator[Callable[..., MetadataStore]]:
    """Open stores on the test's database (options as for `open_test_store`); closed at the end."""
    opened: list[MetadataStore] = []

    def make(**options: object) -> MetadataStore:
        store = open_test_store(**store_location, **options)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def metadata_store(make_metadata_store: Callable[..., MetadataStore]) -> MetadataStore:
    return make_metadata_store()


def _empty_tables(url: str) -> None:
    with open_test_store(url) as store:
        store.migrate()
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("TRUNCATE repositories, files, edges, co_changes, jobs")
    finally:
        connection.close()


@pytest.fixture(params=("memory", "disk"))
def qdrant_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QdrantClient]:
    """Qdrant's local mode, in memory and in a folder on disk."""
    if request.param == "memory":
        client = QdrantClient(location=":memory:")
    else:
        client = QdrantClient(path=str(tmp_path / "qdrant"))
    yield client
    client.close()


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def vector_store(qdrant_client: QdrantClient, sleeps: SleepRecorder) -> VectorStore:
    return VectorStore(qdrant_client, batch_size=4, sleep=sleeps)


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that completes the TCP handshake and then never says anything."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]
