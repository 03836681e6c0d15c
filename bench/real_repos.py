"""The whole pipeline on real repositories: clone → graph → Node2Vec → stores, as `python -m app.cli ingest` runs it.

Each repository is ingested in a fresh process of its own (MODE=LOCAL, embedded stores in a temp folder,
default training settings) so that its peak RSS is its own. The children column is the largest child's
peak (git, the parse pool): each is a fork of the job process, whose shared pages it counts too.
Every argument is a git repository (a clone, or a checkout committed once). Prints one row per repository:
state, files, edges, failures isolated, seconds per stage, peak RSS; `--markdown` prints the table for
bench/README.md, with the upstream commit of each from `--commits` (lines `NAME COMMIT`).

    python bench/real_repos.py --commits /work/repos/COMMITS /work/repos/*
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("cloning", "parsing", "training", "uploading")


def ingest_one(path: str, scratch: Path) -> dict:
    """Run the CLI's ingest on `path` in this process and return what the row needs."""
    from app.config import load_settings
    from app.worker.embedded import ingest_now

    settings = load_settings(mode="LOCAL", data_dir=scratch / "data", workspace_dir=scratch / "jobs")
    started = time.perf_counter()
    summary = ingest_now(settings, path)
    row = {
        "state": summary["state"],
        "seconds": round(time.perf_counter() - started, 2),
        "files": summary.get("files"),
        "edges": summary.get("edges"),
        "failures": summary.get("failures_total"),
        "failure_steps": _steps(summary.get("failures", [])),
        "skipped": len(summary.get("skipped", [])),
        "languages": summary.get("languages", {}),
        "stage_seconds": summary.get("stage_seconds", {}),
        "error": summary.get("error"),
        "first_failures": [_short(item) for item in summary.get("failures", [])[:5]],
    }
    row["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row["pool_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return row


def _steps(failures: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in failures:
        key = f"{item['step']}/{item['status']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _short(item: dict) -> str:
    where = f" {item['specifier']!r}" if item.get("specifier") else ""
    return f"{item['path']}{where}: {item['reason'][:120]}"


def run_child(path: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="neo-real-") as scratch:
        command = [sys.executable, __file__, "--one", path, "--scratch", scratch]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"state": f"timeout after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"state": f"crashed (exit {done.returncode})", "error": done.stderr[-2000:]}
    return json.loads(lines[-1])


def print_row(name: str, row: dict) -> None:
    stages = " ".join(f"{row.get('stage_seconds', {}).get(stage, 0):6.1f}" for stage in STAGES)
    print(
        f"{name:<40} {row['state']:<9} {row.get('files') or 0:>6} {row.get('edges') or 0:>7}"
        f" {row.get('failures') or 0:>5} {stages} {row.get('rss_mib', 0):>7.0f} {row.get('pool_rss_mib', 0):>6.0f}",
        flush=True,
    )
    for line in row.get("first_failures", []):
        print(f"    {line}", flush=True)
    if row.get("error"):
        print(f"    error: {row['error'][-500:]}", flush=True)


def markdown(rows: list[tuple[str, dict]], commits: dict[str, str]) -> str:
    lines = [
        "| repository | commit | files | edges | failures (steps) | clone s | graph s | train s | store s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows:
        seconds = row.get("stage_seconds", {})
        steps = ", ".join(f"{count} {step}" for step, count in sorted(row.get("failure_steps", {}).items()))
        failures = f"{row.get('failures') or 0}" + (f" ({steps})" if steps else "")
        state = "" if row["state"] == "finished" else f" **{row['state']}**"
        lines.append(
            f"| {name.replace('+', '/')}{state} | {commits.get(name, '?')[:12]} | {row.get('files') or 0} |"
            f" {row.get('edges') or 0} | {failures} | "
            + " | ".join(f"{seconds.get(stage, 0):.1f}" for stage in STAGES)
            + f" | {row.get('rss_mib', 0):.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--commits", type=Path, help="lines NAME COMMIT: the upstream commit of each folder")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one repository may take")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, help="write every row here too")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one:
        print(json.dumps(ingest_one(arguments.one, arguments.scratch)))
        return
    commits = {}
    if arguments.commits:
        commits = dict(
            line.split()[:2] for line in arguments.commits.read_text().splitlines() if line.strip()
        )
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    print(f"{'repository':<40} {'state':<9} {'files':>6} {'edges':>7} {'fail':>5} "
          f"{'clone':>6} {'graph':>6} {'train':>6} {'store':>6} {'RSS MiB':>7} {'children':>8}")  # fmt: skip
    rows = []
    started = time.perf_counter()
    for path in arguments.paths:
        name = Path(path).resolve().name
        row = run_child(str(Path(path).resolve()), arguments.timeout)
        rows.append((name, row))
        print_row(name, row)
    finished = sum(1 for _, row in rows if row["state"] == "finished")
    print(f"{finished}/{len(rows)} finished in {time.perf_counter() - started:.0f} s; "
          f"load average after: {os.getloadavg()[0]:.2f}")  # fmt: skip
    if arguments.json:
        arguments.json.write_text(json.dumps(dict(rows), indent=1))
    if arguments.markdown:
        print(markdown(rows, commits))


if __name__ == "__main__":
    main()
