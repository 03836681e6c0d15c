"""The clone stage: shallow local clones, refused sources, limits, and typed failures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.generated_repos import GIT_IDENTITY, make_git_repo

from app.errors import (
    CloneError,
    CloneTimeout,
    RepoAuthRequired,
    RepoNotFound,
    RepoTooLarge,
    RepoUnreachable,
    SourceRefused,
)
from app.worker import clone
from app.worker.clone import clone_repository


def commit(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (repo / name).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", *GIT_IDENTITY, "-C", str(repo), "commit", "-q", "-m", "more"], check=True)


def test_shallow_single_branch_clone_of_a_local_repository(tmp_path: Path) -> None:
    source = make_git_repo(tmp_path / "origin", {"a.py": "import b\n"})
    commit(source, {"b.py": ""})
    subprocess.run(["git", "-C", str(source), "branch", "other"], check=True)
    head = subprocess.run(
        ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    for form in (str(source), source.as_uri()):
        dest = tmp_path / f"clone-{len(form)}"
        cloned = clone_repository(form, dest, timeout_s=60, max_bytes=1 << 30, allow_local=True)
        assert cloned.path == dest and cloned.commit == head.strip()
        assert (dest / "a.py").is_file() and (dest / "b.py").is_file()
        log = subprocess.run(
            ["git", "-C", str(dest), "rev-list", "--count", "HEAD"], capture_output=True, text=True
        )
        assert log.stdout.strip() == "1"  # depth 1
        branches = subprocess.run(
            ["git", "-C", str(dest), "branch", "-a"], capture_output=True, text=True
        ).stdout
        assert "other" not in branches  # single branch
        assert not (dest / ".git" / "hooks").exists()  # no template, so no hooks


@pytest.mark.parametrize(
    "source",
    [
        "ssh://github.com/owner/repo",
        "git://github.com/owner/repo",
        "git@github.com:owner/repo.git",
        "ext::sh -c touch% /tmp/owned",
        "--upload-pack=touch /tmp/owned",
        "-u",
        "http://github.com/owner/repo",
        "https://user:secret@github.com/owner/repo",
        "https://github.com/owner/repo\n--config=x",
        "",
    ],
)
def test_sources_other_than_https_are_refused(tmp_path: Path, source: str) -> None:
    with pytest.raises(SourceRefused):
        clone_repository(source, tmp_path / "dest", timeout_s=5, max_bytes=1 << 20, allow_local=True)
    assert not (tmp_path / "dest").exists()


def test_local_sources_need_permission(tmp_path: Path) -> None:
    source = make_git_repo(tmp_path / "origin", {"a.py": ""})
    for form in (str(source), source.as_uri()):
        with pytest.raises(SourceRefused):
            clone_repository(form, tmp_path / "dest", timeout_s=5, max_bytes=1 << 20, allow_local=False)


def test_missing_repository(tmp_path: Path) -> None:
    with pytest.raises(RepoNotFound):
        clone_repository(
            str(tmp_path / "nothing"), tmp_path / "dest", timeout_s=5, max_bytes=1 << 20, allow_local=True
        )
    (tmp_path / "not-a-repo").mkdir()
    with pytest.raises(RepoNotFound):
        clone_repository(
            str(tmp_path / "not-a-repo"), tmp_path / "dest2", timeout_s=5, max_bytes=1 << 20, allow_local=True
        )
    assert not (tmp_path / "dest2").exists()


def test_size_limit_aborts_and_removes_the_partial_clone(tmp_path: Path) -> None:
    source = make_git_repo(tmp_path / "origin", {"big.bin": "x" * 300_000})
    with pytest.raises(RepoTooLarge):
        clone_repository(str(source), tmp_path / "dest", timeout_s=60, max_bytes=100_000, allow_local=True)
    assert not (tmp_path / "dest").exists()


def test_time_limit_kills_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A git that never finishes stands in for a slow host.
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    with pytest.raises(CloneTimeout):
        clone_repository(
            "https://example.invalid/owner/repo", tmp_path / "dest", timeout_s=0.5, max_bytes=1 << 20
        )
    assert CloneTimeout.transient


@pytest.mark.parametrize(
    ("stderr", "error"),
    [
        (
            "fatal: could not read Username for 'https://github.com': terminal prompts disabled",
            RepoAuthRequired,
        ),
        ("remote: Repository not found.\nfatal: repository 'https://h/o/r/' not found", RepoNotFound),
        ("fatal: unable to access 'https://h/': Could not resolve host: h", RepoUnreachable),
        ("fatal: something else entirely", CloneError),
    ],
)
def test_git_messages_become_typed_failures(stderr: str, error: type[CloneError]) -> None:
    failure = clone._classify(stderr, "https://h/o/r")
    assert type(failure) is error
    assert stderr.splitlines()[-1].removeprefix("fatal: ")[:20] in str(failure)


def test_git_runs_without_prompts_credentials_or_lfs() -> None:
    environment = clone._environment("https")
    assert environment["GIT_TERMINAL_PROMPT"] == "0"
    assert environment["GIT_LFS_SKIP_SMUDGE"] == "1"
    assert environment["GIT_ALLOW_PROTOCOL"] == "https"
    assert environment["GIT_CONFIG_GLOBAL"] == "/dev/null"
    settings = clone._config_arguments()
    assert "core.hooksPath=/dev/null" in settings and "credential.helper=" in settings
