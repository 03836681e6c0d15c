"""Graph stage: discover → parse → resolve, giving the file dependency graph of a repository.

Every discovered source file is a node (property 5), including files that failed to decode or
parse; only binary files and minified bundles found while parsing are left out (and reported).
Edges are deduplicated per (source, target) and keep every kind of import that made them.

One bad file never ends the graph: an exception while reading, scanning or resolving a file, or one
of its imports, or while reading a workspace config, is recorded against that file (`failures`) and
the build goes on. File names that are not valid UTF-8 are shown with their bad bytes escaped
(`bad\\xffname.py`); the file is still read under its real name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import ParseError, TooManyFiles, describe_exception
from app.graph.discover import Discovery, Language, SkippedPath, discover_sources, shown_path
from app.graph.parse import Link, ParsedFile, ParseStatus, RawImport, parse_sources
from app.graph.resolve_js import JsResolver
from app.graph.resolve_python import PythonResolver
from app.graphview.dot import render_dot
from app.jobs import FileFailure

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
    # Imports and config files that raised while being resolved or read; the rest of the graph stands.
    isolated: list[FileFailure] = field(default_factory=list)

    @property
    def parse_failures(self) -> list[FileInfo]:
        """Files that could not be read or decoded, or that parsed with syntax errors."""
        return [
            item for item in self.info.values() if item.status in (ParseStatus.FAILED, ParseStatus.PARTIAL)
        ]

    @property
    def failures(self) -> list[FileFailure]:
        """Every file and import the graph could not take in full, by path: parse failures and isolated ones."""
        parsed = [
            FileFailure(
                path=item.path,
                step="parse",
                reason=item.reason or item.status.value,
                status=item.status.value,
            )
            for item in self.parse_failures
        ]
        return sorted(parsed + self.isolated, key=lambda item: (item.path, item.step, item.specifier or ""))

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
            "failures": [item.model_dump() for item in self.failures],
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
    file_seconds: float | None = None,
    max_files: int | None = None,
) -> DependencyGraph:
    """Build the dependency graph of the source files under `root`.

    `progress(done_files, total_files)` is called as parsing advances; `workers` caps the parsing
    processes (default: one per core); a file's scan stops after `file_seconds` (the file is then
    `partial`). More than `max_files` source files raise TooManyFiles before any is parsed. Otherwise
    raises ParseError, naming the step, only when the checkout itself cannot be listed or the graph
    cannot be put together; anything one file causes is one of its failures.
    """
    with _step("listing the checkout"):
        discovery = discover_sources(root)
    if max_files is not None and len(discovery.files) > max_files:
        raise TooManyFiles(len(discovery.files), max_files)
    with _step("reading the repository's configs"):
        linker = RepositoryLinker(root, discovery)
    with _step("parsing the files"):  # each file's own failure is kept inside; this is the pool's
        parsed = parse_sources(
            root,
            discovery.files,
            progress=progress,
            workers=workers,
            linker=linker,
            file_seconds=file_seconds,
        )
    with _step("assembling the graph"):
        return _assemble(discovery, parsed, linker.failures)


@contextmanager
def _step(doing: str) -> Iterator[None]:
    try:
        yield
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"Building the graph failed while {doing}: {describe_exception(exc)}") from exc


def _assemble(
    discovery: Discovery, parsed: list[ParsedFile], config_failures: list[FileFailure]
) -> DependencyGraph:
    """Nodes, edges and failures, under the names files are shown by (see discover.shown_path)."""
    shown = _shown_names(discovery)
    skipped = [SkippedPath(shown_path(item.path), item.reason) for item in discovery.skipped]
    info: dict[str, FileInfo] = {}
    isolated = [item.model_copy(update={"path": shown_path(item.path)}) for item in config_failures]
    for source, result in zip(discovery.files, parsed, strict=True):
        name = shown.get(source.path)
        if name is None:
            skipped.append(SkippedPath(shown_path(source.path), "its escaped name is another file's name"))
        elif result.status is ParseStatus.NOT_SOURCE:
            skipped.append(SkippedPath(name, result.reason))
        else:
            info[name] = FileInfo(name, source.language, source.size, result.status, result.reason)
        isolated += [
            item.model_copy(update={"path": name or shown_path(item.path)}) for item in result.failures
        ]
    edges = _edges([result._replace(path=shown.get(result.path, "")) for result in parsed], info, shown)
    return DependencyGraph(files=sorted(info), info=info, edges=edges, skipped=skipped, isolated=isolated)


def _shown_names(discovery: Discovery) -> dict[str, str]:
    """Real path -> shown path; a file whose escaped name is a real file's name is left out."""
    real = {source.path for source in discovery.files}
    shown = {}
    for source in discovery.files:
        name = shown_path(source.path)
        if name == source.path or name not in real:
            shown[source.path] = name
    return shown


class RepositoryLinker:
    """Resolves imports of either language to files of one repository (see parse.Linker)."""

    def __init__(self, root: Path, discovery: Discovery) -> None:
        python_files = [source.path for source in discovery.files if source.language is Language.PYTHON]
        has_javascript = len(python_files) < len(discovery.files)
        self._python = PythonResolver(python_files) if python_files else None
        self._javascript = JsResolver(root, discovery.all_files) if has_javascript else None

    @property
    def failures(self) -> list[FileFailure]:
        """Config files (workspace lists) that could not be read for an unexpected reason."""
        return list(self._javascript.config_failures) if self._javascript is not None else []

    def link(
        self, path: str, language: Language, imports: list[RawImport]
    ) -> tuple[list[Link], list[FileFailure]]:
        type_only_by_link: dict[tuple[str, str], bool] = {}
        failures = []
        for item in imports:
            try:
                target = self._resolve(path, language, item)
            except Exception as exc:  # one import's failure; the file's other imports still count
                failures.append(
                    FileFailure(
                        path=path, step="resolve", specifier=item.target, reason=describe_exception(exc)
                    )
                )
                continue
            if target is not None and target != path:
                key = (target, item.kind)
                type_only_by_link[key] = type_only_by_link.get(key, True) and item.type_only
        links = [Link(target, kind, type_only) for (target, kind), type_only in type_only_by_link.items()]
        return links, failures

    def _resolve(self, path: str, language: Language, item: RawImport) -> str | None:
        if language is Language.PYTHON:
            return self._python.resolve(path, item.target, item.member)
        return self._javascript.resolve(path, item.target)


def _edges(parsed: list[ParsedFile], info: dict[str, FileInfo], shown: dict[str, str]) -> list[Edge]:
    """One edge per (source, target) node pair, with every kind of import behind it."""
    edges = []
    for result in parsed:
        if result.path not in info:
            continue
        by_target: dict[str, tuple[set[str], bool]] = {}
        for link in result.links:
            target = shown.get(link.target, "")
            if target in info:
                kinds, type_only = by_target.setdefault(target, (set(), True))
                kinds.add(link.kind)
                by_target[target] = (kinds, type_only and link.type_only)
        edges += [
            Edge(result.path, target, tuple(sorted(kinds)), type_only)
            for target, (kinds, type_only) in by_target.items()
        ]
    edges.sort(key=lambda edge: (edge.src, edge.dst))
    return edges
