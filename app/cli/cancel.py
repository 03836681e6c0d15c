"""`cancel JOB_ID…`: take waiting jobs out of a running API's queue."""

from __future__ import annotations

import argparse

from app.cli.remote import RemoteError, add_api_options, call, require_token, run_remote
from app.printable import echo


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("cancel", help="take waiting jobs out of the queue (needs the token)")
    parser.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    add_api_options(parser)
    parser.set_defaults(handler=lambda args: run_remote(cancel, args))


def cancel(args: argparse.Namespace) -> int:
    require_token(args)
    failed = 0
    for job_id in args.job_ids:
        try:
            job = call(args, "POST", f"/api/v1/ingestion/jobs/{job_id}/cancel", admin=True)
            echo(f"{job_id} ({job['repo_url']}): cancelled")
        except RemoteError as exc:
            failed += 1
            echo(f"{job_id}: not cancelled: {exc}")
    return 1 if failed else 0
