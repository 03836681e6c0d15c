"""The similar-file ranking over what the ingest stored: files, edges and co-change pairs in the
metadata database, vectors in Qdrant. The API, the CLI and the dashboard all answer through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.errors import UnknownFile
from app.search.history import PairHistory
from app.search.ranking import BlendWeights, RankedFile, RepositoryIndex
from app.stores.metadata import MetadataStore
from app.stores.vector_access import VectorStoreAccess
from app.stores.vectors import VECTOR_SIZE


@dataclass(frozen=True)
class StoredRepository:
    """What the last ingest of one repository left: the ranking's index and each file's language."""

    repo_url: str
    index: RepositoryIndex
    languages: dict[str, str]


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
    return StoredRepository(repo_url, index, {file.path: file.language for file in graph.files})


def similar_files(
    index: RepositoryIndex, paths: Sequence[str], k: int, weights: BlendWeights | None = None
) -> dict[str, list[RankedFile]]:
    """The k most similar files to each of `paths`, best first; `UnknownFile` names a path not ingested."""
    missing = [path for path in paths if path not in index.position]
    if missing:
        raise UnknownFile(f"Not a file of the last ingest: {', '.join(repr(p) for p in missing)}")
    weights = weights or BlendWeights()
    return {path: index.rank(path, k, weights) for path in paths}
