"""The similar-file ranking: one score per file of a repository, blended from what the ingest stored.

For a query file *q* and every other file *f* of the same repository:

    score(f) = cosine  · cos(q, f)                  Node2Vec vectors: how alike their places in the graph are
             + link    · [q imports f or f imports q]
             + shared  · log(1 + Adamic–Adar(q, f))     neighbours they share in the import graph
             + history · log(1 + w(q, f))               commits that changed both, with a half-life
             + folder  · shared leading folders / the deeper of the two folders
             + name    · words the two file names share, abbreviations included (`app.search.names`)
             + churn   · log(1 + Σ w(f, ·))             how much f changes along with any file
             + degree  · log(1 + files f imports or is imported by)   hubs change with many files

The weights (`BlendWeights`) were fitted by `bench/cochange.py --fit` on the year of history *before*
each benchmark repository's graph commit, never on the commits it is evaluated on. A file without
history still gets the structural part. Each hit carries the evidence behind its score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from app.search.history import PairHistory
from app.search.names import NameIndex, shared_words

FEATURES = ("cosine", "link", "shared", "history", "folder", "name", "churn", "degree")


@dataclass(frozen=True, slots=True)
class BlendWeights:
    """How much each signal counts (see the module docstring); fitted, see `bench/cochange.py --fit`."""

    cosine: float = 0.5
    link: float = 0.05
    shared: float = 0.0
    history: float = 1.0
    folder: float = 0.05
    name: float = 0.5
    churn: float = 0.1
    degree: float = 0.02

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a file ranks where it does, in words a reader can check against the repository."""

    imports_it: bool  # the query file imports this one
    imported_by_it: bool  # this file imports the query file
    shared_neighbours: int
    shared_examples: tuple[str, ...]
    changed_together: int
    last_changed_together: str | None  # ISO-8601 date of the latest commit that changed both
    same_folder: bool
    name_words: tuple[str, ...]  # words both file names share, `req~request` for an abbreviation
    cosine: float | None  # None when either file has no vector

    def as_dict(self) -> dict[str, object]:
        return {
            "imports_it": self.imports_it,
            "imported_by_it": self.imported_by_it,
            "shared_neighbours": self.shared_neighbours,
            "shared_examples": list(self.shared_examples),
            "changed_together": self.changed_together,
            "last_changed_together": self.last_changed_together,
            "same_folder": self.same_folder,
            "name_words": list(self.name_words),
            "cosine": self.cosine,
        }


@dataclass(frozen=True, slots=True)
class RankedFile:
    path: str
    score: float
    evidence: Evidence


@dataclass
class RepositoryIndex:
    """One repository's files, import edges, co-change pairs and vectors, indexed for ranking.

    `vectors` holds one row per entry of `files` (missing vectors are rows of zeros).
    """

    files: list[str]
    imports: list[set[int]]
    imported_by: list[set[int]]
    pairs: list[dict[int, PairHistory]]
    vectors: np.ndarray
    position: dict[str, int] = field(init=False)
    _folders: list[tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.position = {path: index for index, path in enumerate(self.files)}
        self._folders = [tuple(path.split("/")[:-1]) for path in self.files]
        self._names = NameIndex(self.files)
        self._churn = np.array([math.log1p(sum(p.weight for p in pairs.values())) for pairs in self.pairs])
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self._unit = np.divide(self.vectors, norms, out=np.zeros_like(self.vectors), where=norms > 0)
        self._has_vector = norms[:, 0] > 0
        self.neighbours = [out | into for out, into in zip(self.imports, self.imported_by, strict=True)]
        self._degree = np.log1p([len(neighbours) for neighbours in self.neighbours])

    @classmethod
    def build(
        cls,
        files: Sequence[str],
        edges: Iterable[tuple[str, str]],
        pairs: Iterable[PairHistory],
        vectors: np.ndarray,
    ) -> RepositoryIndex:
        """From paths, (importer, imported) edges between them, co-change pairs and a row per file."""
        position = {path: index for index, path in enumerate(files)}
        imports: list[set[int]] = [set() for _ in files]
        imported_by: list[set[int]] = [set() for _ in files]
        for src, dst in edges:
            if src != dst:
                imports[position[src]].add(position[dst])
                imported_by[position[dst]].add(position[src])
        by_file: list[dict[int, PairHistory]] = [{} for _ in files]
        for pair in pairs:
            a, b = position.get(pair.a), position.get(pair.b)
            if a is not None and b is not None:
                by_file[a][b] = by_file[b][a] = pair
        return cls(list(files), imports, imported_by, by_file, np.asarray(vectors, dtype=np.float64))

    def features(self, query: int) -> np.ndarray:
        """The [files, features] signals of every file against file `query`, in the order of `FEATURES`."""
        count = len(self.files)
        result = np.zeros((count, len(FEATURES)))
        if self._has_vector[query]:
            result[:, 0] = self._unit @ self._unit[query]
        result[list(self.neighbours[query]), 1] = 1.0
        result[:, 2] = np.log1p(self.adamic_adar(query))
        for other, pair in self.pairs[query].items():
            result[other, 3] = math.log1p(pair.weight)
        result[:, 4] = self.folder_proximity(query)
        result[:, 5] = self.name_similarity(query)
        result[:, 6] = self._churn
        result[:, 7] = self._degree
        return result

    def adamic_adar(self, query: int) -> np.ndarray:
        """Σ 1/log(degree) over the import-graph neighbours each file shares with `query`."""
        scores = np.zeros(len(self.files))
        for middle in self.neighbours[query]:
            degree = len(self.neighbours[middle])
            if degree > 1:
                scores[list(self.neighbours[middle])] += 1.0 / math.log(degree)
        scores[query] = 0.0
        return scores

    def folder_proximity(self, query: int) -> np.ndarray:
        """Leading folders shared with `query`'s folder, over the deeper of the two (1: the same folder)."""
        mine = self._folders[query]
        proximity = np.zeros(len(self.files))
        for index, theirs in enumerate(self._folders):
            deeper = max(len(mine), len(theirs))
            if deeper == 0:
                proximity[index] = 1.0
                continue
            shared = 0
            for left, right in zip(mine, theirs, strict=False):
                if left != right:
                    break
                shared += 1
            proximity[index] = shared / deeper
        return proximity

    def name_similarity(self, query: int) -> np.ndarray:
        """How much of each file's name matches `query`'s (`app.search.names`)."""
        return self._names.similarity(query)

    def scores(self, query: int, weights: BlendWeights) -> np.ndarray:
        """The blended score of every file against `query`; the file itself scores -inf."""
        scores = self.features(query) @ weights.vector()
        scores[query] = -np.inf
        return scores

    def rank(self, path: str, k: int, weights: BlendWeights) -> list[RankedFile]:
        """The k best files for `path`, best first; ties go to the smaller path. KeyError: unknown path."""
        query = self.position[path]
        scores = self.scores(query, weights)
        order = sorted(range(len(self.files)), key=lambda index: (-scores[index], self.files[index]))
        return [
            RankedFile(self.files[index], round(float(scores[index]), 6), self.evidence(query, index))
            for index in order[: min(k, len(self.files) - 1)]
        ]

    def evidence(self, query: int, other: int) -> Evidence:
        shared = sorted(self.files[index] for index in self.neighbours[query] & self.neighbours[other])
        pair = self.pairs[query].get(other)
        both = self._has_vector[query] and self._has_vector[other]
        return Evidence(
            imports_it=other in self.imports[query],
            imported_by_it=query in self.imports[other],
            shared_neighbours=len(shared),
            shared_examples=tuple(shared[:3]),
            changed_together=pair.count if pair else 0,
            last_changed_together=_date(pair.last) if pair else None,
            same_folder=self._folders[query] == self._folders[other],
            name_words=shared_words(self._names.words[query], self._names.words[other]),
            cosine=round(float(self._unit[query] @ self._unit[other]), 4) if both else None,
        )


def _date(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()
