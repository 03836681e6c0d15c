"""`jobs`: the job history of a running API, the waiting queue (`--queue`), the dead letters (`--dead`), or
one job in full (`jobs JOB_ID`)."""

from __future__ import annotations

import argparse
import json

from app.cli.remote import add_api_options, call, run_remote, short_time, table
from app.printable import echo

STAGES = ("cloning", "parsing", "training", "uploading")


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("jobs", help="job history, queue or dead letters of a running API")
    parser.add_argument("job_id", nargs="?", help="show this one job in full")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--queue", action="store_true", help="the waiting jobs (needs the token)")
    which.add_argument("--dead", action="store_true", help="the dead letters (needs the token)")
    parser.add_argument("--limit", type=int, default=20, help="entries shown at most (default 20)")
    add_api_options(parser)
    parser.set_defaults(handler=lambda args: run_remote(show_jobs, args))


def show_jobs(args: argparse.Namespace) -> int:
    if args.job_id:
        job = call(args, "GET", f"/api/v1/ingestion/jobs/{args.job_id}")
        echo(json.dumps(job, indent=2) if args.json else one_job(job))
        return 0
    if args.queue or args.dead:
        listing = call(args, "GET", f"/api/v1/ingestion/{'queue' if args.queue else 'dead'}?limit={args.limit}",
                       admin=True)  # fmt: skip
        echo(json.dumps(listing, indent=2) if args.json else listing_text(listing, dead=args.dead))
        return 0
    history = call(args, "GET", f"/api/v1/ingestion/jobs/history?limit={min(max(args.limit, 1), 100)}")
    echo(json.dumps(history, indent=2) if args.json else history_text(history["jobs"]))
    return 0


def history_text(jobs: list[dict]) -> str:
    if not jobs:
        return "No job has ended yet."
    rows = []
    for job in jobs:
        stages = job.get("stage_seconds") or {}
        seconds = " ".join(f"{stage[:5]} {stages[stage]:.1f}" for stage in STAGES if stage in stages) or "—"
        error = (
            ""
            if job["status"] == "finished"
            else (f"{job['stage']}: " if job.get("stage") else "") + (job.get("error") or "")
        )
        rows.append([short_time(job["timestamp"]), job["job_id"][:8], job["status"], job["repo_url"],
                     f"{job.get('files_processed', 0)}", seconds, error])  # fmt: skip
    return table(rows, ["ended", "job", "state", "repository", "files", "seconds per stage", "error"])


def listing_text(listing: dict, *, dead: bool) -> str:
    if not listing["jobs"]:
        return "No dead jobs." if dead else "The queue is empty."
    rows = [[str(job["position"]), job["job_id"], job["repo_url"], str(job["attempts"]),
             short_time(job.get("finished_at") if dead else job.get("submitted_at")), job.get("error") or ""]
            for job in listing["jobs"]]  # fmt: skip
    head = f"{listing['total']} {'dead' if dead else 'waiting'}"
    return (
        head
        + "\n"
        + table(rows, ["#", "job", "repository", "attempts", "died" if dead else "submitted", "error"])
    )


def one_job(job: dict) -> str:
    lines = [f"{job['job_id']}  {job['repo_url']}", f"  state: {job['state']}"]
    if job.get("stage"):
        lines.append(f"  stage: {job['stage']} ({job.get('progress', 0)}%)")
    lines.append(f"  attempts: {job.get('attempts', 0)}")
    for name in ("submitted_at", "started_at", "finished_at"):
        if job.get(name):
            lines.append(f"  {name.removesuffix('_at')}: {short_time(job[name])}")
    result = job.get("result") or {}
    if result.get("stage_seconds"):
        lines.append(
            "  seconds per stage: " + ", ".join(f"{s} {v:.2f}" for s, v in result["stage_seconds"].items())
        )
    if job.get("error"):
        lines.append(f"  error: {job['error']}")
    return "\n".join(lines)
