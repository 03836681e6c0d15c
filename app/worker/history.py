"""Reading a clone's history: the files each commit changed, newest first, for the co-change pairs.

Merges are left out (their changes are the branches' commits, counted already) and renames are not
followed: a file counts under the path it had in each commit, and only paths in today's graph are kept
later on. A repository's first commit, and the oldest commits of a shallow clone, are left out too:
without parents, git shows them as adding every file, which says nothing about what changes together.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from app.errors import CloneError
from app.search.history import ChangeSet

_MARK = "\x1e"  # a record separator that no path contains


def read_changes(
    repo: Path,
    revisions: str = "HEAD",
    *,
    since: int | None = None,
    max_commits: int | None = None,
    timeout_s: float = 120.0,
    env: dict[str, str] | None = None,
) -> list[ChangeSet]:
    """Commits of `revisions` (a rev or a range) since `since` (epoch seconds), with the paths each changed."""
    command = ["git", "-C", str(repo), "log", "--no-merges", "--no-renames", "--name-only", "-z"]
    command += [f"--format={_MARK}%H %ct %P"]
    if since is not None:
        command.append(f"--since={since}")
    if max_commits is not None:
        command.append(f"--max-count={max_commits}")
    command += [revisions, "--"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=True, env=env)
    except subprocess.TimeoutExpired as exc:
        raise CloneError(f"Reading the history took longer than {timeout_s:g} s") from exc
    except subprocess.CalledProcessError as exc:
        reason = exc.stderr.decode(errors="replace").strip()[:300]
        raise CloneError(f"Reading the history failed: {reason}") from exc
    return parse_log(result.stdout.decode("utf-8", errors="surrogateescape"), _shallow_boundary(repo))


def parse_log(text: str, leave_out: frozenset[str] = frozenset()) -> list[ChangeSet]:
    """ChangeSets from `git log --name-only -z --format=<RS>%H %ct %P` output, but for commits in
    `leave_out` and commits without a parent."""
    changes = []
    for record in text.split(_MARK)[1:]:
        head, _, body = record.partition("\n")
        commit, when, *parents = head.strip("\0").split()
        if commit in leave_out or not parents:
            continue
        paths = tuple(part.strip("\n") for part in body.split("\0") if part.strip("\n"))
        changes.append(ChangeSet(int(when), paths))
    return changes


def _shallow_boundary(repo: Path) -> frozenset[str]:
    """The commits a shallow clone holds without their parents (git's `shallow` file), if any."""
    for shallow in (repo / ".git" / "shallow", repo / "shallow"):
        if shallow.is_file():
            return frozenset(shallow.read_text().split())
    return frozenset()
