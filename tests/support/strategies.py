"""Hypothesis strategies: valid repository URLs and hostile ones."""

from __future__ import annotations

from hypothesis import strategies as st

ALLOWED = ("github.com", "gitlab.com", "bitbucket.org")

segment = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,20}(\.[A-Za-z0-9_-]{1,8})?", fullmatch=True).filter(
    lambda s: not s.endswith(".git")
)


@st.composite
def valid_repo_urls(draw: st.DrawFn) -> tuple[str, str]:
    """(raw URL as a user may type it, the canonical repo_url the API must derive)."""
    host = draw(st.sampled_from(ALLOWED))
    owner, name = draw(segment), draw(segment)
    canonical = f"{host}/{owner}/{name}".lower()  # every allowed host ignores the case of names
    scheme = draw(st.sampled_from(["", "https://", "HTTPS://"]))
    suffix = draw(st.sampled_from(["", ".git", "/", ".git/"]))
    shown_host = draw(st.sampled_from([host, host.upper()]))
    return f"{scheme}{shown_host}/{owner}/{name}{suffix}", canonical


def _with(draw: st.DrawFn, template: str) -> str:
    owner, name = draw(segment), draw(segment)
    return template.format(owner=owner, name=name)


@st.composite
def hostile_repo_urls(draw: st.DrawFn) -> str:
    """URLs the policy must refuse: each draws one broken rule around an otherwise valid address."""
    owner, name = draw(segment), draw(segment)
    host = draw(st.sampled_from(ALLOWED))
    kind = draw(
        st.sampled_from(
            [
                "scheme",
                "scp",
                "userinfo",
                "ip",
                "localhost",
                "dash",
                "dotdot",
                "space",
                "control",
                "long",
                "host",
                "port",
                "query",
                "local",
                "depth",
                "empty",
                "ext",
                "backslash",
                "percent",
                "malformed",
            ]
        )
    )
    match kind:
        case "scheme":
            scheme = draw(st.sampled_from(["http", "ssh", "git", "file", "ftp", "javascript", "git+ssh"]))
            return f"{scheme}://{host}/{owner}/{name}"
        case "ext":
            return f"ext::sh -c touch% /tmp/{name}"
        case "scp":
            return f"git@{host}:{owner}/{name}.git"
        case "userinfo":
            user = draw(st.sampled_from(["user@", "user:pass@", "x-access-token:abc@", "@"]))
            return f"https://{user}{host}/{owner}/{name}"
        case "ip":
            address = draw(
                st.sampled_from(
                    [
                        "127.0.0.1",
                        "10.0.0.8",
                        "169.254.169.254",
                        "[::1]",
                        "0x7f.0.0.1",
                        "2130706433",
                        "8.8.8.8",
                    ]
                )
            )
            return draw(st.sampled_from(["", "https://"])) + f"{address}/{owner}/{name}"
        case "localhost":
            return draw(st.sampled_from(["", "https://"])) + f"localhost/{owner}/{name}"
        case "dash":
            return f"-{draw(st.sampled_from(['-upload-pack=touch /tmp/x', 'uflag', host]))}/{owner}/{name}"
        case "dotdot":
            return f"{host}/{owner}/../{name}"
        case "space":
            position = draw(st.sampled_from(["lead", "mid", "tail"]))
            space = draw(st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003"]))
            url = f"{host}/{owner}/{name}"
            return {"lead": space + url, "mid": f"{host}/{owner}{space}/{name}", "tail": url + space}[
                position
            ]
        case "control":
            char = draw(st.sampled_from(["\x00", "\x07", "\x1b", "\x7f", "\x85", "\r"]))
            return f"{host}/{owner}/{name}{char}"
        case "long":
            return f"{host}/{owner}/{name}" + "a" * draw(st.integers(2049, 5000))
        case "host":
            bad = draw(
                st.sampled_from(["evil.com", "github.com.evil.com", "githab.com", "gitlab.com.", "x.y"])
            )
            return f"{bad}/{owner}/{name}" if bad != "gitlab.com." else f"https://evil.org/{owner}/{name}"
        case "port":
            return f"https://{host}:{draw(st.integers(1, 65535))}/{owner}/{name}"
        case "query":
            return f"https://{host}/{owner}/{name}" + draw(st.sampled_from(["?ref=x", "#frag", "?"]))
        case "local":
            return draw(
                st.sampled_from([f"/tmp/{owner}/{name}", f"file:///tmp/{name}", "file://localhost/etc"])
            )
        case "depth":
            return draw(
                st.sampled_from([f"github.com/{owner}", f"github.com/{owner}/{name}/tree/main", host])
            )
        case "empty":
            return draw(st.sampled_from(["", f"{host}//{name}", f"https:///{owner}/{name}"]))
        case "backslash":
            return f"{host}\\{owner}\\{name}"
        case "percent":
            return f"{host}/{owner}/%2e%2e/{name}"
        case "malformed":
            return draw(malformed_repo_urls(host, owner, name))
    raise AssertionError(kind)


# Characters that make `urlsplit` raise (brackets) or that NFKC folds into URL syntax (fullwidth / @ : # ?).
URL_BREAKERS = ("[", "]", "%5B", "%5D", "\uff0f", "\uff20", "\uff1a", "\uff03", "\uff1f", "\u2100", "\ufe55")


@st.composite
def malformed_repo_urls(draw: st.DrawFn, host: str, owner: str, name: str) -> str:
    """An otherwise valid address with a URL-breaking character put into its host, owner or name."""
    char = draw(st.sampled_from(URL_BREAKERS))
    shapes = [f"{char}{host}/{owner}/{name}", f"{host}{char}/{owner}/{name}",
              f"{host[:3]}{char}{host[3:]}/{owner}/{name}", f"{host}/{owner}{char}/{name}"]  # fmt: skip
    scheme = draw(st.sampled_from(["", "https://", "HTTPS://"]))
    return draw(st.sampled_from([scheme + shape for shape in shapes] + [f"file://{char}/{owner}"]))
