"""`status`: what the workers of a running API are doing, and how long the queue and dead letters are."""

from __future__ import annotations

import argparse
import json

from app.cli.remote import RemoteError, add_api_options, call, run_remote
from app.printable import echo


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "status", help="the workers, the queue and the dead letters of a running API"
    )
    add_api_options(parser)
    parser.set_defaults(handler=lambda args: run_remote(show_status, args))


def show_status(args: argparse.Namespace) -> int:
    status = call(args, "GET", "/api/v1/ingestion/worker/status")
    counts: dict[str, int | None] = {"queue": None, "dead": None}
    if args.token:
        for name in counts:
            try:
                counts[name] = call(args, "GET", f"/api/v1/ingestion/{name}?limit=1", admin=True)["total"]
            except RemoteError:
                counts[name] = None
    if args.json:
        echo(
            json.dumps({**status, "queue_length": counts["queue"], "dead_letters": counts["dead"]}, indent=2)
        )
        return 0
    echo(f"Status: {status['status']}")
    for worker in status["workers"]:
        echo(worker_line(worker))
    if not status["workers"]:
        echo("  no worker is running")
    if args.token:
        echo(f"Queue: {_count(counts['queue'])} waiting   Dead letters: {_count(counts['dead'])}")
    else:
        echo("Queue and dead letters: give the admin token (--token or PHAROS_ADMIN_TOKEN) to see them")
    return 0


def worker_line(worker: dict) -> str:
    if not worker.get("online", True):
        return (
            f"  {worker['worker_id']}  offline (no heartbeat for {worker.get('offline_seconds') or 0:.0f} s)"
        )
    parts = [f"  {worker['worker_id']}", worker.get("status") or "Idle"]
    if worker.get("job_id"):
        parts.append(f"{worker.get('progress') or 0}%")
    age = worker.get("heartbeat_age_seconds")
    parts.append(f"heartbeat {age:.0f} s ago" if age is not None else "heartbeat —")
    if worker.get("device"):
        parts.append(worker["device"])
    return "  ".join(parts)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)
