from __future__ import annotations

import pytest
from hypothesis import given
from support.strategies import ALLOWED, hostile_repo_urls, valid_repo_urls

from app.errors import InvalidRepoUrl
from app.repo_url import parse_repo_url


def parse(raw: str, allow_local: bool = False):
    return parse_repo_url(raw, allowed_hosts=ALLOWED, allow_local=allow_local)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("github.com/pallets/flask", "github.com/pallets/flask"),
        ("https://github.com/pallets/flask.git", "github.com/pallets/flask"),
        ("https://GitHub.com/pallets/flask/", "github.com/pallets/flask"),
        ("gitlab.com/group/sub/project", "gitlab.com/group/sub/project"),
        ("bitbucket.org/a_b/c.d-e", "bitbucket.org/a_b/c.d-e"),
    ],
)
def test_accepts_remote_forms(raw: str, canonical: str) -> None:
    ref = parse(raw)
    assert ref.repo_url == canonical
    assert ref.clone_source == f"https://{canonical}.git"
    assert not ref.is_local


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("file:///etc/passwd", "local paths"),
        ("ssh://github.com/a/b", "scheme 'ssh:'"),
        ("git://github.com/a/b", "scheme 'git:'"),
        ("ext::sh -c id", "whitespace"),
        ("ext::id", "scheme 'ext:'"),
        ("http://github.com/a/b", "scheme 'http:'"),
        ("git@github.com:a/b.git", "scp-style"),
        ("https://user:pw@github.com/a/b", "user info"),
        ("https://127.0.0.1/a/b", "IP addresses"),
        ("localhost/a/b", "localhost"),
        ("-uupload-pack=x/a/b", "start with '-'"),
        ("github.com/a/../b", "'..'"),
        ("github.com/a/b c", "whitespace"),
        ("github.com/a/b" + "x" * 2100, "longer than 2048"),
        ("example.com/a/b", "not allowed"),
        ("https://github.com:22/a/b", "port"),
        ("github.com/a/b/tree/main", "exactly 2"),
        ("github.com/a/-b", "must start with"),
        ("https://[github.com/a/b", "cannot be parsed: Invalid IPv6 URL"),
        ("https://github.com\uff0fa/b", "cannot be parsed: netloc"),
        ("file://[x/a", "local paths"),
    ],
)
def test_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidRepoUrl, match=reason.replace("(", r"\(")):
        parse(raw)


def test_names_on_hosts_that_ignore_case_have_one_key_and_keep_their_spelling() -> None:
    ref = parse("https://GitHub.com/Pallets/Flask.git")
    assert (ref.repo_url, ref.clone_source, ref.spelling) == (
        "github.com/pallets/flask", "https://github.com/Pallets/Flask.git", "github.com/Pallets/Flask"
    )  # fmt: skip
    own = parse_repo_url("git.example.org/Team/Tool", allowed_hosts=("git.example.org",), allow_local=False)
    assert own.repo_url == "git.example.org/Team/Tool"


def test_local_sources_only_when_allowed(tmp_path) -> None:
    with pytest.raises(InvalidRepoUrl):
        parse(str(tmp_path))
    assert parse(str(tmp_path), allow_local=True).clone_source == str(tmp_path)
    assert parse(f"file://{tmp_path}", allow_local=True).repo_url == str(tmp_path)
    with pytest.raises(InvalidRepoUrl, match=r"'\.\.'"):
        parse(f"{tmp_path}/../x", allow_local=True)
    with pytest.raises(InvalidRepoUrl, match="file URL"):
        parse("file://evil.com/x", allow_local=True)


def test_configured_hosts_replace_the_defaults() -> None:
    ref = parse_repo_url("git.example.org/team/tool", allowed_hosts=("git.example.org",), allow_local=False)
    assert ref.repo_url == "git.example.org/team/tool"
    with pytest.raises(InvalidRepoUrl, match="not allowed"):
        parse_repo_url("github.com/a/b", allowed_hosts=("git.example.org",), allow_local=False)


@given(valid_repo_urls())
def test_property_3_valid_urls_are_accepted_and_canonical(case: tuple[str, str]) -> None:
    raw, canonical = case
    assert parse(raw).repo_url == canonical


@given(hostile_repo_urls())
def test_property_3_hostile_urls_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidRepoUrl):
        parse(raw)
