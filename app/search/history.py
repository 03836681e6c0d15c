"""Co-change history: which files changed together in the commits before the ingested one, how often
and when last.

A commit that touches more than `max_files` files (a reformat, a rename sweep, a vendored update) says
little about which files belong together, so it is left out, as history-mining tools such as ROSE do.
Each pair's `weight` counts its commits with a half-life, so a pair that changed together last month
counts more than one that did so a year ago.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from itertools import combinations

MAX_FILES_PER_COMMIT = 30
HALF_LIFE_DAYS = 180.0
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The files one commit changed; `when` in seconds since the epoch (the committer's time)."""

    when: int
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PairHistory:
    """How a pair of files changed together: `a` < `b`, `last` in seconds since the epoch."""

    a: str
    b: str
    count: int
    last: int
    weight: float


def co_changes(
    commits: Iterable[ChangeSet],
    indexed: Collection[str],
    *,
    now: int | None = None,
    max_files: int = MAX_FILES_PER_COMMIT,
    half_life_days: float = HALF_LIFE_DAYS,
) -> list[PairHistory]:
    """The pairs of `indexed` files that changed together, sorted by (a, b).

    Ages are counted back from `now` (default: the newest commit); only files in `indexed` count towards
    a commit's size, since files that are not in the graph are not ranked either.
    """
    commits = list(commits)
    if not commits:
        return []
    reference = max(commit.when for commit in commits) if now is None else now
    totals: dict[tuple[str, str], list[float]] = {}
    for commit in commits:
        paths = sorted({path for path in commit.paths if path in indexed})
        if not 2 <= len(paths) <= max_files:
            continue
        decay = 0.5 ** (max(reference - commit.when, 0) / (_DAY * half_life_days))
        for pair in combinations(paths, 2):
            entry = totals.setdefault(pair, [0, 0, 0.0])
            entry[0] += 1
            entry[1] = max(entry[1], commit.when)
            entry[2] += decay
    return [PairHistory(a, b, int(c), int(last), w) for (a, b), (c, last, w) in sorted(totals.items())]
