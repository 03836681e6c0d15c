"""Graph stage: discover → parse → resolve, giving the file dependency graph of a repository.

Every discovered source file is a node (property 5), including files that failed to decode or
parse; only binary files and minified bundles found while parsing are left out (and reported).
Edges are deduplicated per (source, target) and keep every kind of import that made them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import TooManyFiles
from app.graph.discover import Discovery, Language, SkippedPath, discover_sources
from app.graph.parse import Link, ParsedFile, ParseStatus, RawImport, parse_sources
from app.graph.resolve_js import JsResolver
from app.graph.resolve_python import PythonResolver
from app.graphview.dot import render_dot

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    language: Language
    size: int
    status: ParseStatus
    reason: str = ""


# From the most to the least direct way of depending on a file.
KIND_ORDER = (
    "import",
    "from",
    "export",
    "require",
    "import-equals",
    "dynamic-import",
    "type-import",
    "reference",
)


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    kinds: tuple[str, ...]  # every kind of import behind this edge, sorted by name
    type_only: bool  # every import behind this edge is type-only

    @property
    def kind(self) -> str:
        """The most direct of the edge's kinds."""
        return min(
            self.kinds, key=lambda kind: KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
        )


@dataclass(slots=True)
class DependencyGraph:
    files: list[str]  # repo-relative POSIX paths, sorted
    info: dict[str, FileInfo]
    edges: list[Edge]  # sorted by (src, dst)
    skipped: list[SkippedPath] = field(default_factory=list)

    @property
    def parse_failures(self) -> list[FileInfo]:
        """Files that could not be read or decoded, or that parsed with syntax errors."""
        return [
            item for item in self.info.values() if item.status in (ParseStatus.FAILED, ParseStatus.PARTIAL)
        ]

    def edge_index(self) -> np.ndarray:
        """Edges as an int64 array of shape [2, E] holding indices into `files`."""
        import numpy as np  # here, not at the top: the CLI and the graph build do not need it

        position = {path: index for index, path in enumerate(self.files)}
        index = np.empty((2, len(self.edges)), dtype=np.int64)
        for column, edge in enumerate(self.edges):
            index[0, column] = position[edge.src]
            index[1, column] = position[edge.dst]
        return index

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "edges": [[edge.src, edge.dst] for edge in self.edges],
            "edge_attributes": [
                {"kinds": list(edge.kinds), "type_only": edge.type_only} for edge in self.edges
            ],
            "languages": {path: self.info[path].language.value for path in self.files},
            "parse_failures": [
                {"path": item.path, "status": item.status.value, "reason": item.reason}
                for item in sorted(self.parse_failures, key=lambda item: item.path)
            ],
            "skipped": [{"path": item.path, "reason": item.reason} for item in self.skipped],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)

    def to_dot(self) -> str:
        return render_dot(self.files, ((edge.src, edge.dst, edge.type_only) for edge in self.edges))


def build_graph(
    root: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    max_files: int | None = None,
) -> DependencyGraph:
    """Build the dependency graph of the source files under `root`.

    `progress(done_files, total_files)` is called as parsing advances; `workers` caps the parsing
    processes (default: one per core). More than `max_files` source files raise TooManyFiles before any
    is parsed.
    """
    discovery = discover_sources(root)
    if max_files is not None and len(discovery.files) > max_files:
        raise TooManyFiles(len(discovery.files), max_files)
    linker = RepositoryLinker(root, discovery)
    parsed = parse_sources(root, discovery.files, progress=progress, workers=workers, linker=linker)
    skipped = list(discovery.skipped)
    info: dict[str, FileInfo] = {}
    for source, result in zip(discovery.files, parsed, strict=True):
        if result.status is ParseStatus.NOT_SOURCE:
            skipped.append(SkippedPath(source.path, result.reason))
        else:
            info[source.path] = FileInfo(
                source.path, source.language, source.size, result.status, result.reason
            )
    return DependencyGraph(files=sorted(info), info=info, edges=_edges(parsed, info), skipped=skipped)


class RepositoryLinker:
    """Resolves imports of either language to files of one repository (see parse.Linker)."""

    def __init__(self, root: Path, discovery: Discovery) -> None:
        python_files = [source.path for source in discovery.files if source.language is Language.PYTHON]
        has_javascript = len(python_files) < len(discovery.files)
        self._python = PythonResolver(python_files) if python_files else None
        self._javascript = JsResolver(root, discovery.all_files) if has_javascript else None

    def link(self, path: str, language: Language, imports: list[RawImport]) -> list[Link]:
        type_only_by_link: dict[tuple[str, str], bool] = {}
        for item in imports:
            if language is Language.PYTHON:
                target = self._python.resolve(path, item.target, item.member)
            else:
                target = self._javascript.resolve(path, item.target)
            if target is not None and target != path:
                key = (target, item.kind)
                type_only_by_link[key] = type_only_by_link.get(key, True) and item.type_only
        return [Link(target, kind, type_only) for (target, kind), type_only in type_only_by_link.items()]


def _edges(parsed: list[ParsedFile], info: dict[str, FileInfo]) -> list[Edge]:
    """One edge per (source, target) node pair, with every kind of import behind it."""
    edges = []
    for result in parsed:
        if result.path not in info:
            continue
        by_target: dict[str, tuple[set[str], bool]] = {}
        for link in result.links:
            if link.target in info:
                kinds, type_only = by_target.setdefault(link.target, (set(), True))
                kinds.add(link.kind)
                by_target[link.target] = (kinds, type_only and link.type_only)
        edges += [
            Edge(result.path, target, tuple(sorted(kinds)), type_only)
            for target, (kinds, type_only) in by_target.items()
        ]
    edges.sort(key=lambda edge: (edge.src, edge.dst))
    return edges
