"""A readable part of a dependency graph: filtered, focused on some files, with folders collapsed.

The options mean what they mean in dependency-cruiser, applied in its order:

    include / exclude   regular expressions searched in each path: keep only files matching an include
                        (`--include-only`), drop files matching an exclude (`--exclude`)
    focus + depth       keep the focused files and every file within `depth` imports of them, in either
                        direction (`--focus`, `--focus-depth`)
    collapse N          a file deeper than N folders is drawn as its folder of depth N (`src/a/b/c.py` at
                        2 is `src/a/`), edges between the same two nodes merged; focused files stay files,
                        and so does a file that would be the only one shown in its folder

Cycles are those of the filtered files (before focus and collapse), each listed by its files. Pure: the
API's graph route, the dashboard's neighbourhood picture and `python -m app.cli graph` share it.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.errors import InvalidOption, UnknownFile
from app.graphview.cycles import dependency_cycles

Relation = Literal["focus", "dependency", "dependent", "both", "related"]
EdgeTriple = tuple[str, str, bool]  # (source, target, type_only)


@dataclass(frozen=True)
class ViewOptions:
    focus: tuple[str, ...] = ()
    depth: int = 1
    collapse: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class ViewNode:
    """A file, or a collapsed folder (its name ends in "/") standing for `files` files."""

    name: str
    kind: Literal["file", "folder"]
    files: int = 1
    distance: int | None = None  # imports from the nearest focused file; None without a focus
    relation: Relation | None = None  # how it relates to the focus: imported by it, importing it, …


@dataclass(frozen=True)
class ViewEdge:
    src: str
    dst: str
    count: int = 1  # file-level edges merged into this one
    type_only: bool = False  # every merged edge imports types only


@dataclass(frozen=True)
class GraphView:
    nodes: list[ViewNode]
    edges: list[ViewEdge]
    cycles: list[list[str]]
    files: list[str]  # the files the nodes stand for, sorted
    files_total: int  # files before any option
    focus: list[str] = field(default_factory=list)


def build_view(
    files: Sequence[str], edges: Iterable[EdgeTriple], options: ViewOptions = ViewOptions()
) -> GraphView:
    """Apply the options to a file graph (`InvalidOption` names a bad pattern; `UnknownFile` a focus that
    matches no file)."""
    kept = set(filter_files(files, options.include, options.exclude))
    kept_edges = [(src, dst, type_only) for src, dst, type_only in edges if src in kept and dst in kept]
    cycles = dependency_cycles(sorted(kept), ((src, dst) for src, dst, _ in kept_edges))
    focused = match_focus(sorted(kept), options.focus) if options.focus else []
    relations: dict[str, tuple[int, Relation]] = {}
    if focused:
        relations = neighbourhood(focused, kept_edges, max(options.depth, 0))
        kept = set(relations)
        kept_edges = [edge for edge in kept_edges if edge[0] in kept and edge[1] in kept]
        cycles = [cycle for cycle in cycles if kept.intersection(cycle)]
    shown = sorted(kept)
    nodes, view_edges = _collapsed(shown, kept_edges, options.collapse, set(focused), relations)
    return GraphView(nodes, view_edges, cycles, shown, len(files), focused)


def filter_files(files: Iterable[str], include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    includes, excludes = _patterns(include), _patterns(exclude)
    return [
        path
        for path in files
        if (not includes or any(p.search(path) for p in includes))
        and not any(p.search(path) for p in excludes)
    ]


def match_focus(files: Sequence[str], focus: Sequence[str]) -> list[str]:
    """Files named by `focus`: each entry an exact path, else a regular expression searched in paths."""
    known, chosen = set(files), []
    for wanted in focus:
        found = [wanted] if wanted in known else [path for path in files if _pattern(wanted).search(path)]
        if not found:
            raise UnknownFile(f"no file matches the focus {wanted!r}")
        chosen += [path for path in found if path not in chosen]
    return chosen


def neighbourhood(
    focus: Sequence[str], edges: Sequence[EdgeTriple], depth: int
) -> dict[str, tuple[int, Relation]]:
    """Every file within `depth` imports of a focused file, in either direction, with its distance and how it
    relates: a dependency (the focus reaches it along imports), a dependent (it reaches the focus), both,
    or related (reached through a mix of directions, e.g. another importer of the same file)."""
    forward, backward = defaultdict(set), defaultdict(set)
    for src, dst, _ in edges:
        forward[src].add(dst)
        backward[dst].add(src)
    undirected = {node: forward[node] | backward[node] for node in set(forward) | set(backward)}
    distance = _distances(focus, undirected, depth)
    downstream = set(_distances(focus, forward, depth))
    upstream = set(_distances(focus, backward, depth))
    result: dict[str, tuple[int, Relation]] = {}
    for node, hops in distance.items():
        if hops == 0:
            relation: Relation = "focus"
        elif node in downstream and node in upstream:
            relation = "both"
        elif node in downstream:
            relation = "dependency"
        elif node in upstream:
            relation = "dependent"
        else:
            relation = "related"
        result[node] = (hops, relation)
    return result


def collapsed_name(path: str, depth: int | None) -> str:
    """dependency-cruiser's `--collapse N`: the first N folders of a path that lies deeper than that."""
    if not depth or depth < 1:
        return path
    parts = path.split("/")
    return "/".join(parts[:depth]) + "/" if len(parts) > depth else path


def _distances(start: Sequence[str], neighbours: dict[str, set[str]], depth: int) -> dict[str, int]:
    seen = {node: 0 for node in start}
    frontier = deque(start)
    while frontier:
        node = frontier.popleft()
        if seen[node] >= depth:
            continue
        for other in sorted(neighbours.get(node, ())):
            if other not in seen:
                seen[other] = seen[node] + 1
                frontier.append(other)
    return seen


def _collapsed(
    files: list[str],
    edges: list[EdgeTriple],
    depth: int | None,
    keep: set[str],
    relations: dict[str, tuple[int, Relation]],
) -> tuple[list[ViewNode], list[ViewEdge]]:
    node_of = {path: path if path in keep else collapsed_name(path, depth) for path in files}
    members: dict[str, list[str]] = defaultdict(list)
    for path in files:
        members[node_of[path]].append(path)
    for name, paths in list(members.items()):
        if name.endswith("/") and len(paths) == 1:  # a folder standing for one file says less than the file
            node_of[paths[0]] = paths[0]
            members[paths[0]] = members.pop(name)
    nodes = [_node(name, paths, relations) for name, paths in sorted(members.items())]
    merged: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for src, dst, type_only in edges:
        a, b = node_of[src], node_of[dst]
        if a != b or src == dst:  # an edge inside one collapsed folder disappears; a self-import stays
            merged[(a, b)].append(type_only)
    view_edges = [
        ViewEdge(a, b, count=len(kinds), type_only=all(kinds)) for (a, b), kinds in sorted(merged.items())
    ]
    return nodes, view_edges


def _node(name: str, paths: list[str], relations: dict[str, tuple[int, Relation]]) -> ViewNode:
    kind: Literal["file", "folder"] = "folder" if name.endswith("/") else "file"
    if not relations:
        return ViewNode(name, kind, len(paths))
    known = [relations[path] for path in paths if path in relations]
    distance = min(hops for hops, _ in known)
    kinds = {relation for hops, relation in known if hops == distance}
    relation: Relation = kinds.pop() if len(kinds) == 1 else "both"
    return ViewNode(name, kind, len(paths), distance, relation)


def _patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    return [_pattern(pattern) for pattern in patterns if pattern]


def _pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidOption(f"not a regular expression: {pattern!r} ({exc})") from exc
