"""`ingest REPO`: MODE=LOCAL, ingest a repository now and summarise what the stores hold."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.printable import echo

if TYPE_CHECKING:
    pass

from app.cli.settings import settings_or_exit


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("ingest", help="MODE=LOCAL: ingest a repository now and summarise it")
    parser.add_argument("repo", help="a local path, or host/owner/repo / https://host/owner/repo")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--neighbours", type=int, default=3, help="similar files shown per file")
    parser.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from app.cli.progress import StageBars
    from app.errors import NeoError
    from app.worker.embedded import ingest_now

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = settings_or_exit(mode="LOCAL")
    # A folder on this machine may be given relative to where the command runs.
    repo = str(Path(args.repo).resolve()) if Path(args.repo).is_dir() else args.repo
    try:
        with StageBars() as bars:
            summary = ingest_now(
                settings,
                repo,
                neighbours=args.neighbours,
                observe=lambda stage, done: bars.update(stage, done),
            )
    except NeoError as exc:
        echo(f"error: {exc}", file=sys.stderr)
        return 1
    echo(json.dumps(summary, indent=2) if args.json else summary.pop("text"))
    return 0 if summary.get("state") == "finished" else 1
