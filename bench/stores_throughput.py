"""How long the stores take to take in one repository and to answer the API's reads.

Prints one line per measurement: Qdrant local mode (in memory and on disk) writing N file vectors and
answering similar-file searches; PostgreSQL and SQLite recording N files and 4N edges and reading the
graph back. Run it under `flock /tmp/neo-bench.lock` so that no other timed run shares the cores:

    flock /tmp/neo-bench.lock python bench/stores_throughput.py --files 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.environment import throwaway_postgres_database

from app.config import default
from app.stores.metadata import EdgeRecord, FileRecord, open_metadata_store
from app.stores.vector_access import open_vector_store
from app.stores.vectors import VECTOR_SIZE, FileVector

REPO = "https://github.com/example/bench"


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_ms(action: Callable[[], object], repeats: int) -> float:
    return statistics.median(timed(action) for _ in range(repeats)) * 1000


def bench_vectors(files: int, location: str) -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((files, VECTOR_SIZE)).astype(np.float32)
    vectors = [FileVector(f"src/m{i}.py", "python", row) for i, row in enumerate(matrix)]
    with open_vector_store(None, None, location) as store:
        store.ensure_collection()
        first = timed(lambda: store.replace_repository(REPO, "c1", vectors))
        again = timed(lambda: store.replace_repository(REPO, "c2", vectors[: files - files // 10]))
        search = median_ms(lambda: store.similar_files(REPO, "src/m0.py", k=10), 20)
    where = "memory" if location == ":memory:" else "disk"
    print(
        f"qdrant local ({where}): {files} vectors first ingest {first:.2f} s "
        f"({first / files * 1e3:.2f} ms/file); "
        f"re-ingest dropping 10% {again:.2f} s; similar_files k=10 median {search:.1f} ms"
    )


def bench_metadata(files: int, name: str, location: dict[str, object]) -> None:
    records = [FileRecord(f"src/m{i}.py", "python", 1000 + i, "ok") for i in range(files)]
    edges = [
        EdgeRecord(records[i].path, records[(i * 7 + j) % files].path, "import")
        for i in range(files)
        for j in (1, 2, 3, 4)
    ]
    options = {name: default(f"database_{name}") for name in ("pool_size", "wait_seconds")}
    with open_metadata_store(
        **location, connect_timeout_seconds=default("database_timeout_seconds"), **options
    ) as store:  # type: ignore[arg-type]
        store.migrate()
        first = timed(lambda: store.record_ingest(REPO, "c1", records, edges))
        again = timed(lambda: store.record_ingest(REPO, "c2", records, edges))
        graph = median_ms(lambda: store.get_graph(REPO), 5)
        listing = median_ms(store.list_repositories, 20)
    print(
        f"{name}: {files} files + {len(edges)} edges first ingest {first:.2f} s, re-ingest {again:.2f} s; "
        f"get_graph median {graph:.0f} ms; list_repositories median {listing:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="admin URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench_vectors(args.files, ":memory:")
        bench_vectors(args.files, str(Path(folder) / "qdrant"))
        bench_metadata(args.files, "sqlite", {"database_url": None, "sqlite_path": Path(folder) / "m.db"})
    with throwaway_postgres_database(args.postgres) as url:
        bench_metadata(args.files, "postgresql (loopback)", {"database_url": url})


if __name__ == "__main__":
    main()
