"""The similar-file ranking over what the ingest stored: files, edges and co-change pairs in the
metadata database, vectors in Qdrant. The API, the CLI and the dashboard all answer through here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.errors import UnknownFile, UnknownRepository
from app.search.history import PairHistory
from app.search.ranking import BlendWeights, RankedFile, RepositoryIndex
from app.stores.metadata import MetadataStore, RepositorySummary
from app.stores.vector_access import VectorStoreAccess
from app.stores.vectors import VECTOR_SIZE


@dataclass(frozen=True)
class StoredRepository:
    """What the last ingest of one repository left: the ranking's index and each file's language."""

    repo_url: str
    index: RepositoryIndex
    languages: dict[str, str]
    version: RepositorySummary  # the repository's row as read with its graph: which ingest this is


def load_repository(metadata: MetadataStore, vectors: VectorStoreAccess, repo_url: str) -> StoredRepository:
    """The repository as its last ingest left it; `UnknownRepository` when it was never ingested."""
    graph = metadata.get_graph(repo_url)
    pairs = [
        PairHistory(p.a, p.b, p.count, int(p.last.timestamp()), p.weight)
        for p in metadata.get_co_changes(repo_url)
    ]
    with vectors.session() as store:
        stored = store.repository_vectors(repo_url)
    paths = [file.path for file in graph.files]
    matrix = np.zeros((len(paths), VECTOR_SIZE))
    for row, path in enumerate(paths):
        if path in stored:
            matrix[row] = stored[path]
    index = RepositoryIndex.build(paths, [(e.src, e.dst) for e in graph.edges], pairs, matrix)
    languages = {file.path: file.language for file in graph.files}
    return StoredRepository(repo_url, index, languages, graph.repository)


class RepositoryCache:
    """Repositories loaded for the similar-file search, kept from one request to the next.

    Loading one reads every file, edge, co-change pair and vector it has and builds the ranking's index:
    about 0.6 s at 10,000 files and 3.7 s at 50,000 on a 2-core machine, against 13–90 ms for the ranking
    itself (bench/similar_latency.py). Each search still reads the repository's row (one query) and
    loads it again when an ingest or a deletion has changed it since. Least recently searched
    repositories leave first once the files kept pass `max_files` (0: nothing is kept); a repository
    larger than that is loaded for every search.
    """

    def __init__(self, metadata: MetadataStore, vectors: VectorStoreAccess, max_files: int) -> None:
        self.metadata = metadata
        self.vectors = vectors
        self.max_files = max_files
        self.loads = 0
        self._kept: OrderedDict[str, StoredRepository] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, repo_url: str) -> StoredRepository:
        """The repository as its last ingest left it; `UnknownRepository` when it is not (or no longer) stored."""
        try:
            current = self.metadata.get_repository(repo_url)
        except UnknownRepository:
            self._forget(repo_url)
            raise
        with self._lock:
            kept = self._kept.get(repo_url)
            if kept is not None and kept.version == current:
                self._kept.move_to_end(repo_url)
                return kept
        stored = load_repository(self.metadata, self.vectors, repo_url)
        self._keep(stored)
        return stored

    def files_kept(self) -> int:
        with self._lock:
            return sum(len(stored.languages) for stored in self._kept.values())

    def _keep(self, stored: StoredRepository) -> None:
        with self._lock:
            self.loads += 1
            self._kept.pop(stored.repo_url, None)
            if not self.max_files or len(stored.languages) > self.max_files:
                return
            self._kept[stored.repo_url] = stored
            total = sum(len(kept.languages) for kept in self._kept.values())
            while total > self.max_files:
                _, dropped = self._kept.popitem(last=False)
                total -= len(dropped.languages)

    def _forget(self, repo_url: str) -> None:
        with self._lock:
            self._kept.pop(repo_url, None)


def similar_files(
    index: RepositoryIndex, paths: Sequence[str], k: int, weights: BlendWeights | None = None
) -> dict[str, list[RankedFile]]:
    """The k most similar files to each of `paths`, best first; `UnknownFile` names a path not ingested."""
    missing = [path for path in paths if path not in index.position]
    if missing:
        raise UnknownFile(f"Not a file of the last ingest: {', '.join(repr(p) for p in missing)}")
    weights = weights or BlendWeights()
    return {path: index.rank(path, k, weights) for path in paths}
