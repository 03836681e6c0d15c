"""Command line: `python -m app.cli <command> …`, one module per command.

graph PATH --json | --dot     print the file dependency graph of a checked-out repository
serve [--host H --port P]     run the API (in MODE=LOCAL with the worker in the same process)
ingest REPO [--json]          MODE=LOCAL: ingest a repository (path or URL) now and show what came out
embed GRAPH.json --out VECTORS.npy [--device cpu|cuda] [--seed N]
                              Node2Vec vectors of a dependency graph (as `graph --json` prints it), one
                              float32 row per entry of `files`, in that order

Each command module imports what it needs when it runs, so that `--help` and the light commands do not
pay for torch or tree-sitter.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli import embed, graph, ingest, serve

COMMANDS = (graph, serve, ingest, embed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Neo Alexandria command line")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)
