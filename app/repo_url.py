"""Repository URL policy: what the API accepts and what the worker may clone.

Accepted remote forms, for hosts on the allow-list:
    host/owner/repo            github.com/pallets/flask
    https://host/owner/repo    https://github.com/pallets/flask(.git)(/)
Local sources (an absolute path or file:// URL) only where settings allow them (LOCAL mode, tests).

Everything else is refused with the rule it broke: other schemes (http:, ssh:, git:, file: when not allowed,
ext::), scp-style `git@host:path`, user info, ports, IP literals and localhost, a leading `-`, `.`/`..`
segments, whitespace or control characters, query strings and fragments, and anything over 2 KB.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import SplitResult, unquote, urlsplit

from app.errors import InvalidRepoUrl

MAX_URL_BYTES = 2048
SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
HOST = re.compile(
    r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)
# Hosts whose repositories are exactly owner/name; others (self-hosted GitLab) may nest groups.
TWO_SEGMENT_HOSTS = frozenset({"github.com", "bitbucket.org"})
# Hosts that find owner and repository names whatever their case: `Pallets/Flask` is `pallets/flask` there,
# so the key is lower case (one queue entry, one stored repository) while git clones the name as typed.
CASE_INSENSITIVE_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org"})
MAX_SEGMENTS = 10
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class RepoRef:
    """A repository the policy accepted.

    `repo_url` is the canonical name used as key everywhere (`github.com/owner/repo`, lower case on a host
    whose names ignore case, or an absolute path for a local source); `clone_source` is what git is given;
    `spelling` is the name as the user wrote it (`github.com/Pallets/Flask`), which a queued task carries
    so that the worker clones what was asked for.
    """

    repo_url: str
    clone_source: str
    is_local: bool
    spelling: str = ""


@dataclass(frozen=True)
class RepoPolicy:
    """The policy as one deployment applies it: its allowed hosts, and whether local sources are allowed."""

    allowed_hosts: tuple[str, ...]
    allow_local: bool

    def parse(self, raw: str) -> RepoRef:
        return parse_repo_url(raw, allowed_hosts=self.allowed_hosts, allow_local=self.allow_local)


def parse_repo_url(raw: str, *, allowed_hosts: tuple[str, ...], allow_local: bool) -> RepoRef:
    """Apply the policy to `raw`; raise InvalidRepoUrl naming the broken rule."""
    _check_text(raw)
    if raw.startswith("/") or raw.lower().startswith("file:"):
        return _parse_local(raw, allow_local)
    scheme = SCHEME.match(raw)
    if scheme:
        name = scheme.group(0).rstrip(":").lower()
        if name != "https":
            raise InvalidRepoUrl(f"scheme '{name}:' is not allowed; use https:// or host/owner/repo")
        if not raw[scheme.end() :].startswith("//"):
            raise InvalidRepoUrl("an https URL must look like https://host/owner/repo")
        return _parse_remote(raw, allowed_hosts)
    if re.match(r"^[^/]*@[^/]*:", raw):
        raise InvalidRepoUrl("scp-style ssh addresses (user@host:path) are not allowed; use https://")
    return _parse_remote("https://" + raw, allowed_hosts)


def _check_text(raw: str) -> None:
    if not raw:
        raise InvalidRepoUrl("the repository URL is empty")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_URL_BYTES:
        raise InvalidRepoUrl(f"the repository URL is longer than {MAX_URL_BYTES} bytes")
    if any(ch.isspace() or ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in raw):
        raise InvalidRepoUrl("the repository URL contains whitespace or control characters")
    if raw.startswith("-"):
        raise InvalidRepoUrl("the repository URL must not start with '-'")
    if "\\" in raw:
        raise InvalidRepoUrl("the repository URL must not contain backslashes")


def _split(url: str) -> SplitResult:
    """`urlsplit`, its ValueError (an unbalanced `[`/`]`, characters NFKC folds into `/?#@:`) as our refusal."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise InvalidRepoUrl(f"the repository URL cannot be parsed: {exc}") from None


def _parse_remote(url: str, allowed_hosts: tuple[str, ...]) -> RepoRef:
    parts = _split(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise InvalidRepoUrl("query strings and fragments are not allowed in a repository URL")
    if "@" in parts.netloc:
        raise InvalidRepoUrl("user info (user@ or user:password@) is not allowed in a repository URL")
    host = _host_of(parts.netloc)
    if host not in allowed_hosts:
        raise InvalidRepoUrl(f"host '{host}' is not allowed (allowed: {', '.join(allowed_hosts)})")
    segments = _repo_segments(parts.path, host)
    name = "/".join([host, *segments])
    key = name.lower() if host in CASE_INSENSITIVE_HOSTS else name
    return RepoRef(repo_url=key, clone_source=f"https://{name}.git", is_local=False, spelling=name)


def _host_of(netloc: str) -> str:
    if not netloc:
        raise InvalidRepoUrl("the repository URL has no host")
    if netloc.startswith("[") or _is_ip_literal(netloc):
        raise InvalidRepoUrl("IP addresses are not allowed as repository hosts")
    if ":" in netloc:
        raise InvalidRepoUrl("a port is not allowed in a repository URL")
    host = netloc.lower().rstrip(".")
    if not host:
        raise InvalidRepoUrl("the repository URL has no host")
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidRepoUrl("localhost is not allowed as a repository host")
    if not HOST.fullmatch(host):
        raise InvalidRepoUrl(f"'{host}' is not a valid host name")
    return host


def _is_ip_literal(netloc: str) -> bool:
    candidate = netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        # Forms like 2130706433 or 0x7f.1 are IPv4 to many resolvers.
        return bool(re.fullmatch(r"(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}", candidate.lower()))
    return True


def _repo_segments(path: str, host: str) -> list[str]:
    segments = path.strip("/").split("/") if path.strip("/") else []
    if path.endswith("//") or "//" in path.strip("/"):
        raise InvalidRepoUrl("the repository path has an empty segment")
    if any(segment in (".", "..") for segment in segments):
        raise InvalidRepoUrl("'.' and '..' segments are not allowed in a repository URL")
    if segments:
        segments[-1] = segments[-1].removesuffix(".git")
    wanted = "exactly 2" if host in TWO_SEGMENT_HOSTS else f"2 to {MAX_SEGMENTS}"
    too_few, too_many = len(segments) < 2, len(segments) > (2 if host in TWO_SEGMENT_HOSTS else MAX_SEGMENTS)
    if too_few or too_many:
        raise InvalidRepoUrl(f"a repository on {host} is host/owner/repo ({wanted} path segments)")
    for segment in segments:
        if not SEGMENT.fullmatch(segment):
            raise InvalidRepoUrl(
                f"path segment '{segment}' may hold only letters, digits, '.', '_' and '-', "
                "and must start with a letter, digit or '_'"
            )
    return segments


def _parse_local(raw: str, allow_local: bool) -> RepoRef:
    if not allow_local:
        raise InvalidRepoUrl("local paths and file:// URLs are not allowed on this server")
    path = raw
    if raw.lower().startswith("file:"):
        parts = _split(raw)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InvalidRepoUrl("a file URL must look like file:///absolute/path")
        path = unquote(parts.path)
    if not path.startswith("/"):
        raise InvalidRepoUrl("a local repository must be an absolute path")
    if any(part in (".", "..") for part in path.split("/")):
        raise InvalidRepoUrl("'.' and '..' segments are not allowed in a repository path")
    normal = str(PurePosixPath(path))
    return RepoRef(repo_url=normal, clone_source=normal, is_local=True, spelling=normal)
