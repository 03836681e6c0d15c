"""Command line: `python -m app.cli <command> …`, one module per command.

graph PATH [--json | --dot] [--focus FILE --depth N] [--collapse DEPTH] [--include/--exclude PATTERN]
           [--fail-on-cycles]  the file dependency graph of a checkout: a summary, JSON or DOT
serve [--host H --port P]     run the API (in MODE=LOCAL with the worker in the same process)
ingest REPO [--json]          MODE=LOCAL: ingest a repository (path or URL) now and show what came out
similar REPO FILE… [--k N] [--json]
                              the files most like each FILE of an ingested repository, with the evidence
embed GRAPH.json --out VECTORS.npy [--device cpu|cuda] [--seed N]
                              Node2Vec vectors of a dependency graph (as `graph --json` prints it), one
                              float32 row per entry of `files`, in that order
status                        against a running API (--api, --token): workers, queue and dead letters
jobs [JOB_ID] [--queue | --dead]   job history, the queue, the dead letters, or one job
requeue JOB_ID… | --all       queue dead jobs again
cancel JOB_ID…                take waiting jobs out of the queue

Each command module imports what it needs when it runs, so that `--help` and the light commands do not
pay for torch or tree-sitter.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from app.cli import cancel, embed, graph, ingest, jobs, requeue, serve, similar, status
from app.printable import escape_log_records

COMMANDS = (graph, serve, ingest, similar, embed, status, jobs, requeue, cancel)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Neo Alexandria command line")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    escape_log_records()
    args = build_parser().parse_args(argv)
    return args.handler(args)
