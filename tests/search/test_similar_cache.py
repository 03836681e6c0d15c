"""The similar-file search keeps what it loaded: one load per ingest, bounded by SIMILAR_CACHE_FILES."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from app.config import load_settings
from app.errors import UnknownRepository
from app.search.similar import RepositoryCache, similar_files
from app.services import Services, build_services
from app.stores.metadata import EdgeRecord, FileRecord
from app.stores.vectors import VECTOR_SIZE, FileVector

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = load_settings(mode="LOCAL", data_dir=tmp_path / "data", workspace_dir=tmp_path / "jobs")
    built = build_services(settings)
    yield built
    built.close()


def ingest(services: Services, repo_url: str, paths: list[str], *, day: int) -> None:
    """What an ingest leaves: vectors first, then the repository's row, files and edges."""
    vectors = [
        FileVector(path, "python", [float(i + 1)] + [0.0] * (VECTOR_SIZE - 1)) for i, path in enumerate(paths)
    ]
    with services.vectors.session() as store:
        store.replace_repository(repo_url, f"commit{day}", vectors)
    files = [FileRecord(path, "python", 10, "ok") for path in paths]
    edges = [EdgeRecord(a, b, "import") for a, b in pairwise(paths)]
    services.metadata.record_ingest(
        repo_url, f"commit{day}", files, edges, ingested_at=START + timedelta(days=day)
    )


def cache(services: Services, max_files: int) -> RepositoryCache:
    return RepositoryCache(services.metadata, services.vectors, max_files)


def test_one_load_per_ingest(services: Services) -> None:
    ingest(services, "github.com/a/shop", ["a.py", "b.py", "c.py"], day=1)
    searches = cache(services, 100)
    first = searches.load("github.com/a/shop")
    assert searches.load("github.com/a/shop") is first and searches.loads == 1
    ingest(services, "github.com/a/shop", ["a.py", "b.py", "c.py", "d.py"], day=2)
    again = searches.load("github.com/a/shop")
    assert searches.loads == 2 and "d.py" in again.index.position
    assert [hit.path for hit in similar_files(again.index, ["a.py"], 1)["a.py"]] == ["b.py"]


def test_a_deleted_repository_is_not_served_from_memory(services: Services) -> None:
    ingest(services, "github.com/a/shop", ["a.py", "b.py"], day=1)
    searches = cache(services, 100)
    searches.load("github.com/a/shop")
    services.metadata.delete_repository("github.com/a/shop")
    with pytest.raises(UnknownRepository):
        searches.load("github.com/a/shop")
    assert searches.files_kept() == 0


def test_least_recently_searched_leave_first_and_a_large_one_is_never_kept(services: Services) -> None:
    for day, name in enumerate(("one", "two", "big"), start=1):
        files = 7 if name == "big" else 3
        ingest(services, f"github.com/a/{name}", [f"m{i}.py" for i in range(files)], day=day)
    searches = cache(services, 6)
    searches.load("github.com/a/one")
    searches.load("github.com/a/two")
    searches.load("github.com/a/one")  # kept: now the most recent
    searches.load("github.com/a/big")  # more files than the bound: loaded, never kept
    assert searches.loads == 3 and searches.files_kept() == 6
    ingest(services, "github.com/a/three", ["x.py", "y.py", "z.py"], day=4)
    searches.load("github.com/a/three")  # "two" was searched longest ago: it leaves
    searches.load("github.com/a/one")
    assert searches.loads == 4
    searches.load("github.com/a/two")
    assert searches.loads == 5 and searches.files_kept() == 6


def test_zero_keeps_nothing(services: Services) -> None:
    ingest(services, "github.com/a/shop", ["a.py", "b.py"], day=1)
    searches = cache(services, 0)
    searches.load("github.com/a/shop")
    searches.load("github.com/a/shop")
    assert searches.loads == 2 and searches.files_kept() == 0
