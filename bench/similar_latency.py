"""How long a similar-file search takes on a large repository: loading it, and searching it again.

    flock /tmp/neo-bench.lock python bench/similar_latency.py 10000 50000 [--searches 20]

Each size is a generated repository (bench/job_size.py's: small Python modules in packages of 50, each
importing three others) ingested in MODE=LOCAL as `app.cli ingest` does. Then, on the embedded stores:

- reading the repository's vectors from Qdrant's local mode in pages of 1,000 (as before) and in the one
  page local mode now gets;
- `load_repository` (graph, co-change pairs and vectors read, the ranking's index built), what every
  search cost before the API kept repositories (`RepositoryCache`, SIMILAR_CACHE_FILES);
- a search through the cache once the repository is kept: the row check and the ranking, median and
  worst of `--searches` files;
- the memory the kept repository holds (tracemalloc).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from job_size import generate

from app.config import load_settings
from app.search.similar import RepositoryCache, load_repository, similar_files
from app.services import build_services
from app.worker.embedded import ingest_now

OLD_PAGE = 1_000


def seconds(action: object) -> float:
    started = time.monotonic()
    action()  # type: ignore[operator]
    return time.monotonic() - started


def measure(files: int, searches: int) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch) / "repo"
        generate(repo, files)
        settings = load_settings(mode="LOCAL", data_dir=Path(scratch) / "data",
                                 workspace_dir=Path(scratch) / "jobs", max_job_files=10_000_000,
                                 similar_cache_files=1_000_000)  # fmt: skip
        repo_url = ingest_now(settings, str(repo), neighbours=0)["repo_url"]
        services = build_services(settings)
        try:
            with services.vectors.session() as store:
                page = store._scroll_page
                store._scroll_page = OLD_PAGE
                paged = seconds(lambda: store.repository_vectors(repo_url))
                store._scroll_page = page
                one_page = seconds(lambda: store.repository_vectors(repo_url))
            load = seconds(lambda: load_repository(services.metadata, services.vectors, repo_url))
            cache = RepositoryCache(services.metadata, services.vectors, settings.similar_cache_files)
            gc.collect()
            tracemalloc.start()
            kept = cache.load(repo_url)
            gc.collect()
            held_mb = tracemalloc.get_traced_memory()[0] / 1e6
            tracemalloc.stop()
            paths = sorted(kept.index.position)[:: max(1, len(kept.index.position) // searches)][:searches]
            times = [
                seconds(lambda path=path: similar_files(cache.load(repo_url).index, [path], 10))
                for path in paths
            ]
            assert cache.loads == 1
        finally:
            services.close()
    return (
        f"| {files:,} | {paged:.2f} | {one_page:.2f} | {load:.2f} | {statistics.median(times) * 1000:.1f} "
        f"({max(times) * 1000:.1f}) | {held_mb:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--searches", type=int, default=20)
    args = parser.parse_args()
    print("| files | vectors, pages of 1,000 (s) | vectors, one page (s) | load_repository (s) "
          "| kept: search median (worst) ms | kept: MB held |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    for files in args.sizes:
        print(measure(files, args.searches), flush=True)


if __name__ == "__main__":
    main()
