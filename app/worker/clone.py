"""Clone stage: a shallow, single-branch copy of a repository, within a time and size limit.

The source was normalised by the URL policy already, but the clone checks it again: only
`https://` URLs are cloned, plus local paths and `file://` URLs when local sources are allowed; no
other transport (`ssh:`, `git:`, `ext::`…) and nothing that git could read as an option. Git runs
with no terminal prompt and no credential helper (a private repository fails at once), with hooks,
LFS smudging, submodules and tags off, and with protocols restricted for anything it fetches. The
clone is watched while it runs: past the time limit or the size limit it is killed, the partial copy
removed, and a typed error raised.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import git

from app.errors import (
    CloneError,
    CloneTimeout,
    RepoAuthRequired,
    RepoNotFound,
    RepoTooLarge,
    RepoUnreachable,
    SourceRefused,
)
from app.worker.workspace import remove_tree

POLL_SECONDS = 0.2
SIZE_CHECK_SHARE = 10  # wait this many times a size check's own time before the next one
_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "credential.helper=",
    "core.askPass=",
    "filter.lfs.smudge=",
    "filter.lfs.process=",
    "filter.lfs.required=false",
    "submodule.recurse=false",
    "protocol.ext.allow=never",
)
_NOT_FOUND = re.compile(r"not found|does not exist|does not appear to be a git repository|404", re.I)
_AUTH = re.compile(
    r"could not read (username|password)|authentication failed|terminal prompts disabled|403", re.I
)
_UNREACHABLE = re.compile(
    r"could not resolve host|failed to connect|connection (timed out|refused|reset)|network is unreachable|"
    r"early eof|rpc failed|tls|ssl",
    re.I,
)


@dataclass(frozen=True, slots=True)
class ClonedRepo:
    path: Path
    commit: str | None  # hex sha of the checked-out commit; None for an empty repository


def clone_repository(
    source: str,
    dest: Path,
    *,
    timeout_s: float,
    max_bytes: int,
    allow_local: bool = False,
) -> ClonedRepo:
    """Clone `source` into `dest` (which must not exist yet) and return where and at which commit."""
    url, protocols = _checked_source(source, allow_local)
    command = ["git", *_config_arguments(), "clone", "--depth=1", "--single-branch", "--no-tags"]
    command += ["--no-recurse-submodules", "--template=", "--quiet", "--", url, str(dest)]
    # A session of its own, so that a kill reaches git's helpers (git-remote-https…) too.
    process = git.Git().execute(
        command,
        as_process=True,
        env=_environment(protocols),
        universal_newlines=True,
        start_new_session=True,
    )
    try:
        stderr = _watch(process.proc, dest, timeout_s, max_bytes)
    except CloneError:
        remove_tree(dest)
        raise
    if process.proc.returncode != 0:
        remove_tree(dest)
        raise _classify(stderr, source)
    return ClonedRepo(dest, _head_commit(dest))


def deepen_history(
    cloned: ClonedRepo, source: str, *, days: int, timeout_s: float, max_bytes: int, allow_local: bool = False
) -> bool:
    """Fetch the commits of the last `days` into a depth-1 clone, without file contents where the server
    can filter (`--filter=blob:none`), within the same time and size limits as the clone.

    Returns whether history was fetched; a repository with no commit in the window, or a server that
    refuses, leaves the depth-1 clone as it was (the ranking then has no co-change pairs).
    """
    if days <= 0 or cloned.commit is None:
        return False
    url, protocols = _checked_source(source, allow_local)
    command = [
        "git",
        *_config_arguments(),
        "-C",
        str(cloned.path),
        "fetch",
        f"--shallow-since={days} days ago",
    ]
    command += ["--filter=blob:none", "--no-tags", "--quiet", "--", url, cloned.commit]
    process = git.Git().execute(
        command, as_process=True, env=_environment(protocols), universal_newlines=True, start_new_session=True
    )
    _watch(process.proc, cloned.path, timeout_s, max_bytes)
    return process.proc.returncode == 0


def _checked_source(source: str, allow_local: bool) -> tuple[str, str]:
    """The URL to hand to git and the transports it may use for it."""
    if not source or source.startswith("-") or "::" in source or any(ord(char) < 0x20 for char in source):
        raise SourceRefused(f"Refusing to clone {source!r}: not an https URL")
    parts = urlsplit(source)
    if parts.scheme == "https" and parts.hostname:
        if parts.username or parts.password:
            raise SourceRefused("Refusing to clone a URL with credentials in it")
        return source, "https"
    is_local_form = parts.scheme == "file" or (not parts.scheme and (source.startswith(("/", "./", "../"))))
    if not is_local_form:
        raise SourceRefused(f"Refusing to clone {source!r}: only https URLs are cloned")
    if not allow_local:
        raise SourceRefused("Local repositories are not allowed here")
    path = Path(parts.path if parts.scheme == "file" else source).resolve()
    if not path.exists():
        raise RepoNotFound(f"No repository at {path}")
    # file:// makes git use its transport, so --depth is honoured and nothing is hard-linked.
    return path.as_uri(), "file"


def _config_arguments() -> list[str]:
    arguments = []
    for setting in _CONFIG:
        arguments += ["-c", setting]
    return arguments


def _environment(protocols: str) -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {
        **keep,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false" if os.path.exists("/bin/false") else "false",
        "SSH_ASKPASS": "",
        "GCM_INTERACTIVE": "never",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ALLOW_PROTOCOL": protocols,
    }


def _watch(process: subprocess.Popen, dest: Path, timeout_s: float, max_bytes: int) -> str:
    """Wait for git, killing it past the deadline or the size cap; return what it wrote to stderr."""
    deadline = time.monotonic() + timeout_s
    next_size_check = 0.0
    while True:
        try:
            _, stderr = process.communicate(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now > deadline:
            _kill(process)
            raise CloneTimeout(f"Cloning took longer than {timeout_s:g} s and was stopped")
        if now < next_size_check:
            continue
        if _size_of(dest) > max_bytes:
            _kill(process)
            raise RepoTooLarge(f"The repository is larger than {max_bytes} bytes; the clone was stopped")
        # Walking the checkout grows with its files (10,000 files: a good part of each 0.2 s poll), so the
        # next walk waits ten times as long as this one took: the size check takes about a tenth of the clone at most.
        next_size_check = time.monotonic() + SIZE_CHECK_SHARE * (time.monotonic() - now)
    if _size_of(dest) > max_bytes:
        raise RepoTooLarge(f"The repository is larger than {max_bytes} bytes")
    return stderr or ""


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _size_of(path: Path) -> int:
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def _classify(stderr: str, source: str) -> CloneError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines[-1:]
    message = " ".join(reasons)[:500] or "git clone failed"
    if _AUTH.search(stderr):
        return RepoAuthRequired(f"{source} needs credentials (private, or it does not exist): {message}")
    if _NOT_FOUND.search(stderr):
        return RepoNotFound(f"{source} was not found: {message}")
    if _UNREACHABLE.search(stderr):
        return RepoUnreachable(f"{source} could not be reached: {message}")
    return CloneError(f"Cloning {source} failed: {message}")


def _head_commit(dest: Path) -> str | None:
    try:
        return git.Repo(dest).head.commit.hexsha
    except ValueError:
        return None  # an empty repository has no commit yet
