"""Graph stage: discover → parse → resolve, giving the file dependency graph of a repository.

Every discovered source file is a node (property 5), including files that failed to decode or
parse; only binary files and minified bundles found while parsing are left out (and reported).
Edges are deduplicated per (source, target) and keep every kind of import that made them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.pipeline.discover import Language, SkippedPath, discover_sources
from app.pipeline.parse import ParsedFile, ParseStatus, parse_sources
from app.pipeline.resolve_js import JsResolver
from app.pipeline.resolve_python import PythonResolver


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    language: Language
    size: int
    status: ParseStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    kinds: tuple[str, ...]  # sorted: import, from, export, require, dynamic-import, type-import…
    type_only: bool  # every import behind this edge is type-only


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
        lines = ["digraph dependencies {", "  node [shape=box];"]
        lines += [f"  {_dot_id(path)};" for path in self.files]
        for edge in self.edges:
            style = ' [style="dashed"]' if edge.type_only else ""
            lines.append(f"  {_dot_id(edge.src)} -> {_dot_id(edge.dst)}{style};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def build_graph(
    root: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
    workers: int | None = None,
) -> DependencyGraph:
    """Build the dependency graph of the source files under `root`.

    `progress(done_files, total_files)` is called as parsing advances. `executor` is an optional
    process pool to reuse; `workers` caps the processes of a pool made for this call.
    """
    discovery = discover_sources(root)
    parsed = parse_sources(root, discovery.files, progress=progress, executor=executor, workers=workers)
    skipped = list(discovery.skipped)
    info: dict[str, FileInfo] = {}
    for source, result in zip(discovery.files, parsed, strict=True):
        if result.status is ParseStatus.NOT_SOURCE:
            skipped.append(SkippedPath(source.path, result.reason))
        else:
            info[source.path] = FileInfo(
                source.path, source.language, source.size, result.status, result.reason
            )
    kept = [result for result in parsed if result.path in info]
    edges = _resolve_edges(root, kept, info, discovery.all_files)
    return DependencyGraph(files=sorted(info), info=info, edges=edges, skipped=skipped)


def _resolve_edges(
    root: Path, parsed: list[ParsedFile], info: dict[str, FileInfo], all_files: set[str]
) -> list[Edge]:
    python_files = [path for path, item in info.items() if item.language is Language.PYTHON]
    python = PythonResolver(python_files) if python_files else None
    javascript = JsResolver(root, all_files) if len(python_files) < len(info) else None
    found: dict[tuple[str, str], tuple[set[str], bool]] = {}
    for result in parsed:
        is_python = info[result.path].language is Language.PYTHON
        for item in result.imports:
            if is_python:
                target = python.resolve(result.path, item.target, item.member)
            else:
                target = javascript.resolve(result.path, item.target)
            if target is None or target == result.path or target not in info:
                continue
            kinds, type_only = found.get((result.path, target), (set(), True))
            kinds.add(item.kind)
            found[(result.path, target)] = (kinds, type_only and item.type_only)
    return [
        Edge(src, dst, tuple(sorted(kinds)), type_only)
        for (src, dst), (kinds, type_only) in sorted(found.items())
    ]


def _dot_id(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
