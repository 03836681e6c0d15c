"""Workers killed with SIGKILL at random moments and Redis cut once: no job lost, none finished twice."""

from __future__ import annotations

from support.chaos import run_chaos
from support.environment import REDIS_URL


def test_chaos_every_job_finishes_exactly_once(key_prefix: str, tmp_path) -> None:
    report = run_chaos(REDIS_URL, key_prefix, jobs=30, kills=5, seed=7, log_dir=tmp_path)
    print(report.summary())
    assert report.kills == 5 and report.redis_cuts == 1
    assert report.kills_mid_job >= 1
    assert report.lost == 0
    assert report.finished_twice_or_more == 0
    assert report.finished_once == 30
    assert report.leftovers == {"queued": 0, "dead": 0, "processing": 0}
