"""Helpers for the pipeline tests: write file trees and make git repositories in temp folders."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"]


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def make_git_repo(root: Path, files: dict[str, str | bytes]) -> Path:
    """A git repository with one commit holding `files` (none for an empty repository)."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    if files:
        write_tree(root, files)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        subprocess.run(["git", *GIT_IDENTITY, "-C", str(root), "commit", "-q", "-m", "test"], check=True)
    return root


def commit_changes(
    root: Path, files: dict[str, str], message: str = "change", when: str | None = None
) -> None:
    """One more commit that writes `files` (dated `when`, git's date format, when given)."""
    write_tree(root, files)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    dates = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else {}
    subprocess.run(["git", *GIT_IDENTITY, "-C", str(root), "commit", "-q", "-m", message],
                   check=True, env={**os.environ, **dates})  # fmt: skip
