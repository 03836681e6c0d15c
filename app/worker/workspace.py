"""Per-job temporary folders (properties 13 and 14).

Each job gets its own folder under the workspace root, made with a unique name and always removed
when the job ends, however it ends. While the job runs, its worker holds an exclusive `flock` on a
marker file beside the folder. The kernel drops that lock when the process dies, so at start-up a
worker sweeps every job folder whose marker it can lock: its owner is gone. A live worker's folder
stays locked and is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PREFIX = "job-"
LOCK_SUFFIX = ".lock"
# A folder with no marker yet may belong to a worker between mkdtemp and locking: leave it this long.
UNMARKED_GRACE_SECONDS = 60.0


@contextlib.contextmanager
def job_workspace(root: Path) -> Iterator[Path]:
    """Yield a fresh, empty folder for one job; it is removed on exit, on success or failure."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    lock = _lock_path(path)
    marker = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(marker, fcntl.LOCK_EX)
        yield path
    finally:
        try:
            remove_tree(path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
            os.close(marker)  # closing drops the lock, after the folder is gone


def sweep_stale_workspaces(root: Path, *, now: float | None = None) -> int:
    """Remove job folders left by workers that died; return how many were removed."""
    if not root.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(root):
        if not entry.name.startswith(PREFIX):
            continue
        if entry.name.endswith(LOCK_SUFFIX):
            _remove_orphan_marker(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False) and _is_abandoned(Path(entry.path), now):
            removed += 1
    return removed


def _remove_orphan_marker(lock: Path) -> None:
    """A marker whose folder is gone (its worker died while cleaning up), if nobody holds it."""
    if lock.with_name(lock.name.removesuffix(LOCK_SUFFIX)).exists():
        return
    with contextlib.suppress(FileNotFoundError):
        marker = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lock.unlink()
        except BlockingIOError:
            pass
        finally:
            os.close(marker)


def _is_abandoned(path: Path, now: float | None) -> bool:
    """Remove `path` if no live worker holds its marker; say whether it was removed."""
    lock = _lock_path(path)
    try:
        marker = os.open(lock, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        age = (now if now is not None else time.time()) - path.lstat().st_mtime
        if age < UNMARKED_GRACE_SECONDS:
            return False
        remove_tree(path)
        return True
    try:
        fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(marker)
        return False
    try:
        remove_tree(path)
        os.unlink(lock)
    finally:
        os.close(marker)
    return True


def remove_tree(path: Path) -> None:
    """Remove a file or folder, even one a clone left read-only, unreadable or very deep."""
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
    except (OSError, RecursionError):  # shutil.rmtree recurses once per folder level
        _remove_depth_first(str(path))


def _remove_depth_first(root: str) -> None:
    """Remove a tree with an explicit stack, making each folder writable by its owner first."""
    stack = [root]
    while stack:
        directory = stack[-1]
        if not os.path.islink(directory):
            os.chmod(directory, stat.S_IRWXU)
        subdirectories = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    subdirectories.append(entry.path)
                else:
                    os.unlink(entry.path)
        if subdirectories:
            stack += subdirectories
        else:
            os.rmdir(directory)
            stack.pop()


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + LOCK_SUFFIX)
