"""`requeue JOB_ID… | --all`: queue dead jobs of a running API again, with a fresh set of attempts."""

from __future__ import annotations

import argparse
import json

from app.cli.remote import RemoteError, add_api_options, call, require_token, run_remote
from app.printable import echo


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("requeue", help="queue dead jobs again (needs the token)")
    parser.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="dead jobs to queue again")
    parser.add_argument("--all", action="store_true", help="every dead job, as far as the queue's cap allows")
    add_api_options(parser)
    parser.set_defaults(handler=lambda args: run_remote(requeue, args))


def requeue(args: argparse.Namespace) -> int:
    require_token(args)
    if args.all == bool(args.job_ids):
        raise RemoteError("name the dead jobs to requeue, or give --all")
    if args.all:
        summary = call(args, "POST", "/api/v1/ingestion/dead/requeue", admin=True)
        results = summary["results"]
    else:
        results = []
        for job_id in args.job_ids:
            try:
                results.append(call(args, "POST", f"/api/v1/ingestion/jobs/{job_id}/requeue", admin=True))
            except RemoteError as exc:
                results.append({"job_id": job_id, "repo_url": "", "outcome": "refused", "reason": str(exc)})
    if args.json:
        echo(json.dumps(results, indent=2))
    for result in [] if args.json else results:
        where = f" ({result['repo_url']})" if result["repo_url"] else ""
        echo(f"{result['job_id']}{where}: " + ("queued again" if result["outcome"] == "queued" else
                                             f"not queued: {result['reason']}"))  # fmt: skip
    if not results and not args.json:
        echo("No dead jobs.")
    return 0 if all(result["outcome"] == "queued" for result in results) else 1
