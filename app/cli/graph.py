"""`graph PATH`: the file dependency graph of a checkout — a readable summary, JSON or DOT — optionally
filtered, focused on some files and with folders collapsed (dependency-cruiser's `--include-only`,
`--exclude`, `--focus`, `--focus-depth`, `--collapse`); `--fail-on-cycles` exits 1 on an import cycle, as
`madge --circular` does, for CI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.printable import echo

if TYPE_CHECKING:
    from app.graph.build import DependencyGraph
    from app.graphview.view import GraphView


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "graph",
        help="the file dependency graph of a repository checkout",
        description="The file dependency graph of a checkout. Patterns are regular expressions searched in "
        "repository-relative paths, as dependency-cruiser's are.",
    )
    parser.add_argument("path", type=Path, help="the repository's folder")
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--text", dest="format", action="store_const", const="text", help="a summary (default)"
    )
    output.add_argument("--json", dest="format", action="store_const", const="json", help="JSON")
    output.add_argument("--dot", dest="format", action="store_const", const="dot", help="Graphviz DOT")
    parser.add_argument("--focus", action="append", default=[], metavar="FILE",
                        help="show only this file (a path or a pattern; repeatable) and its neighbours")  # fmt: skip
    parser.add_argument("--depth", type=int, default=1, metavar="N",
                        help="with --focus: files up to N imports away, either direction (default 1)")  # fmt: skip
    parser.add_argument("--collapse", type=int, metavar="DEPTH",
                        help="draw files deeper than DEPTH folders as their folder (src/a/b.py at 1: src/)")  # fmt: skip
    parser.add_argument("--include", action="append", default=[], metavar="PATTERN",
                        help="keep only files matching (repeatable)")  # fmt: skip
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="drop files matching (repeatable)")  # fmt: skip
    parser.add_argument("--fail-on-cycles", action="store_true", help="exit 1 when an import cycle is found")
    parser.add_argument("--progress", action="store_true", help="show parsing progress on stderr")
    parser.set_defaults(format="text", handler=run_graph)


def run_graph(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for tree-sitter and numpy.
    from app.cli.progress import StageBars
    from app.errors import InvalidOption, UnknownFile
    from app.graph.build import build_graph
    from app.graphview.view import ViewOptions, build_view

    if not args.path.is_dir():
        echo(f"error: {args.path} is not a directory", file=sys.stderr)
        return 2
    with StageBars() if args.progress else _Silent() as bars:
        graph = build_graph(
            args.path, progress=lambda done, total: bars.update("parsing", done / total if total else 1)
        )
    options = ViewOptions(
        tuple(args.focus), args.depth, args.collapse, tuple(args.include), tuple(args.exclude)
    )
    try:
        view = build_view(graph.files, ((e.src, e.dst, e.type_only) for e in graph.edges), options)
    except (InvalidOption, UnknownFile) as exc:
        echo(f"error: {exc}", file=sys.stderr)
        return 2
    echo(render(graph, view, args.format, options), end="")
    if args.fail_on_cycles and view.cycles:
        echo(f"{len(view.cycles)} import cycle(s) found", file=sys.stderr)
        return 1
    return 0


def render(graph: DependencyGraph, view: GraphView, format: str, options: object) -> str:
    from app.graphview.dot import render_view_dot

    whole = view.files_total == len(view.files) and all(node.kind == "file" for node in view.nodes)
    if format == "dot":
        return graph.to_dot() if whole else render_view_dot(view)
    if format == "json":
        document = graph.as_dict() if whole else _view_dict(view)
        document["cycles"] = view.cycles
        return json.dumps(document, indent=1) + "\n"
    return summary_text(graph, view)


def _view_dict(view: GraphView) -> dict:
    return {
        "files": view.files,
        "focus": view.focus,
        "nodes": [node.__dict__ for node in view.nodes],
        "edges": [[edge.src, edge.dst] for edge in view.edges],
        "edge_attributes": [{"count": edge.count, "type_only": edge.type_only} for edge in view.edges],
        "files_total": view.files_total,
    }


def summary_text(graph: DependencyGraph, view: GraphView) -> str:
    """What a person reads first: counts, cycles by their files, failures and skipped paths by name."""
    from collections import Counter

    languages = Counter(graph.info[path].language.value for path in view.files)
    lines = [
        f"files: {len(view.files)} of {view.files_total}"
        + (f" ({', '.join(f'{n} {lang}' for lang, n in languages.most_common())})" if languages else ""),
        f"edges: {len(view.edges)}"
        + (f" between {len(view.nodes)} nodes" if len(view.nodes) != len(view.files) else ""),
    ]
    if view.focus:
        lines.append("focus: " + ", ".join(view.focus))
        for node in sorted(view.nodes, key=lambda n: (n.distance or 0, n.name)):
            if node.relation != "focus":
                count = f" ({node.files} files)" if node.kind == "folder" else ""
                lines.append(f"  {node.distance}  {_RELATION_WORDS[node.relation]:<13} {node.name}{count}")
    lines.append(f"import cycles: {len(view.cycles)}")
    for number, cycle in enumerate(view.cycles, start=1):
        lines.append(f"  {number}. {len(cycle)} files: " + ", ".join(cycle))
    lines += _listed("failures, isolated", [item.describe() for item in graph.failures])
    lines += _listed("skipped", [f"{item.path}: {item.reason}" for item in graph.skipped])
    return "\n".join(lines) + "\n"


_RELATION_WORDS = {
    "dependency": "imported by it",
    "dependent": "imports it",
    "both": "both ways",
    "related": "further out",
    None: "",
}


def _listed(title: str, items: list[str], limit: int = 20) -> list[str]:
    lines = [f"{title}: {len(items)}"]
    lines += [f"  {item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"  … and {len(items) - limit} more (--json lists them all)")
    return lines


class _Silent:
    def update(self, stage: str, fraction: float, detail: str = "") -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass
