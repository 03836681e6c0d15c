"""`graph PATH`: the file dependency graph of a checkout, as JSON or DOT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("graph", help="print the file dependency graph of a repository checkout")
    parser.add_argument("path", type=Path, help="the repository's folder")
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json", dest="format", action="store_const", const="json", help="JSON (the default)"
    )
    output.add_argument("--dot", dest="format", action="store_const", const="dot", help="Graphviz DOT")
    parser.add_argument("--progress", action="store_true", help="report parsing progress on stderr")
    parser.set_defaults(format="json", handler=run_graph)


def run_graph(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for tree-sitter and numpy.
    from app.graph.build import build_graph

    if not args.path.is_dir():
        print(f"error: {args.path} is not a directory", file=sys.stderr)
        return 2
    progress = _print_progress if args.progress else None
    graph = build_graph(args.path, progress=progress)
    sys.stdout.write(graph.to_dot() if args.format == "dot" else graph.to_json() + "\n")
    return 0


def _print_progress(done: int, total: int) -> None:
    percent = 100 * done // total if total else 100
    print(f"Parsing… {percent}% ({done}/{total} files)", file=sys.stderr)
