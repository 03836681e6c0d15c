"""Property 12 (HTTPS towards every remote service) and the per-MODE start-up requirements."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import load_settings
from app.errors import ConfigError

remote_hosts = st.from_regex(
    r"[a-z][a-z0-9-]{0,12}\.(upstash\.io|qdrant\.io|neon\.tech|example\.com)", fullmatch=True
)
loopback_hosts = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "127.3.4.5"])
BASE = {"mode": "EDGE", "redis_url": "redis://127.0.0.1:6379/0"}
TOKEN = "a-token-of-sixteen+"


@given(host=remote_hosts, scheme=st.sampled_from(["http", "ftp", "ws"]))
def test_property_12_remote_services_refuse_plain_http(host: str, scheme: str) -> None:
    for overrides in (
        {"upstash_redis_rest_url": f"{scheme}://{host}", "upstash_redis_rest_token": TOKEN},
        {"qdrant_url": f"{scheme}://{host}:6333"},
    ):
        with pytest.raises(ConfigError, match="must use https"):
            load_settings(**{**BASE, **overrides})
    with pytest.raises(ConfigError, match="must use rediss"):
        load_settings(mode="EDGE", redis_url=f"redis://{host}:6379")
    with pytest.raises(ConfigError, match="TLS is required"):
        load_settings(**BASE, neon_database_url=f"postgresql://u:p@{host}/db?sslmode=disable")


@given(host=remote_hosts)
def test_property_12_remote_services_accept_tls(host: str) -> None:
    settings = load_settings(
        mode="EDGE",
        upstash_redis_rest_url=f"https://{host}",
        upstash_redis_rest_token=TOKEN,
        qdrant_url=f"https://{host}:6333",
        neon_database_url=f"postgresql://u:p@{host}/db",
    )
    assert settings.redis_backend == "upstash"
    assert load_settings(mode="EDGE", redis_url=f"rediss://{host}:6380").redis_backend == "url"


@given(host=loopback_hosts)
def test_property_12_loopback_may_use_plain_transport(host: str) -> None:
    settings = load_settings(
        mode="EDGE",
        redis_url=f"redis://{host}:6379/0",
        qdrant_url=f"http://{host}:6333",
        neon_database_url=f"postgresql://u@{host}/test?sslmode=disable",
    )
    assert settings.redis_backend == "url"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"mode": "CLOUD", "redis_url": "redis://127.0.0.1"}, "PHAROS_ADMIN_TOKEN"),
        ({"mode": "CLOUD", "pharos_admin_token": TOKEN}, "REDIS_URL"),
        ({"mode": "EDGE"}, "UPSTASH_REDIS_REST_URL"),
        ({"mode": "EDGE", "upstash_redis_rest_url": "https://x.upstash.io"}, "UPSTASH_REDIS_REST_TOKEN"),
        ({"mode": "EDGE", "upstash_redis_rest_token": TOKEN}, "UPSTASH_REDIS_REST_URL"),
        ({"mode": "SPACE"}, "MODE"),
        ({"mode": "EDGE", "redis_url": "redis://127.0.0.1", "max_queue_size": 0}, "MAX_QUEUE_SIZE"),
    ],
)
def test_missing_settings_name_the_variable(overrides: dict, variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(**overrides)


def test_defaults_follow_the_design() -> None:
    settings = load_settings(mode="EDGE", redis_url="redis://127.0.0.1:6379/0")
    assert (settings.max_queue_size, settings.task_ttl_seconds, settings.poll_interval_seconds) == (
        10,
        86400,
        2.0,
    )
    assert settings.allowed_repo_hosts == ("github.com", "gitlab.com", "bitbucket.org")
    assert not settings.local_repos_allowed
    assert load_settings(mode="LOCAL").local_repos_allowed
    assert load_settings(mode="LOCAL").redis_backend == "memory"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODE", "CLOUD")
    monkeypatch.setenv("PHAROS_ADMIN_TOKEN", " token-from-the-env\n")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("ALLOWED_REPO_HOSTS", "git.example.org, github.com")
    settings = load_settings()
    assert settings.admin_token == "token-from-the-env"
    assert settings.allowed_repo_hosts == ("git.example.org", "github.com")


def test_cloud_api_refuses_embedded_stores_unless_told_they_are_shared() -> None:
    cloud = {
        "mode": "CLOUD",
        "pharos_admin_token": "a-token-of-sixteen+",
        "redis_url": "redis://127.0.0.1:6379/0",
    }
    with pytest.raises(ConfigError, match="MODE=CLOUD needs NEON_DATABASE_URL and QDRANT_URL"):
        load_settings(**cloud).require_shared_stores()
    with pytest.raises(ConfigError, match="MODE=CLOUD needs QDRANT_URL"):
        load_settings(**cloud, neon_database_url="postgresql://u@127.0.0.1/db").require_shared_stores()
    load_settings(**cloud, allow_embedded_stores=True).require_shared_stores()
    load_settings(mode="EDGE", redis_url="redis://127.0.0.1:6379/0").require_shared_stores()


@pytest.mark.parametrize("variable", ["pharos_admin_token", "upstash_redis_rest_token", "qdrant_api_key"])
def test_tokens_are_stripped(variable: str) -> None:
    cloud = {"mode": "CLOUD", "redis_url": "redis://127.0.0.1:6379/0", "pharos_admin_token": TOKEN}
    if variable == "upstash_redis_rest_token":
        cloud["upstash_redis_rest_url"] = "https://x.upstash.io"
    stripped = load_settings(**{**cloud, variable: f" {TOKEN}\n"})
    assert getattr(stripped, variable).get_secret_value() == TOKEN


def test_the_admin_token_is_at_least_16_characters_and_issued_keys_any_length() -> None:
    cloud = {"mode": "CLOUD", "redis_url": "redis://127.0.0.1:6379/0"}
    for short in ("x", " fifteen-chars-x \n"):
        with pytest.raises(ConfigError, match="PHAROS_ADMIN_TOKEN: must be at least 16 characters"):
            load_settings(**cloud, pharos_admin_token=short)
    # A self-hosted Qdrant's key is its operator's choice; Upstash issues its own tokens.
    settings = load_settings(**cloud, pharos_admin_token=TOKEN, qdrant_api_key=" short ")
    assert settings.qdrant_api_key.get_secret_value() == "short"


def test_a_blank_admin_token_is_no_token() -> None:
    with pytest.raises(ConfigError, match="MODE=CLOUD needs PHAROS_ADMIN_TOKEN"):
        load_settings(mode="CLOUD", redis_url="redis://127.0.0.1:6379/0", pharos_admin_token=" \t")


@pytest.mark.parametrize(
    ("variable", "url"),
    [("redis_url", "redis://:pw@[x"), ("qdrant_url", "https://q\uff0fx"), ("neon_database_url", "postgresql://u:pw@h:x/db"),
     ("upstash_redis_rest_url", "https://x]")],
)  # fmt: skip
def test_a_malformed_service_url_is_named_by_its_variable(variable: str, url: str) -> None:
    values = {**BASE, variable: url}
    if variable == "upstash_redis_rest_url":
        values["upstash_redis_rest_token"] = TOKEN
    with pytest.raises(ConfigError, match=f"{variable.upper()} is not a valid URL") as raised:
        load_settings(**values)
    assert "pw" not in str(raised.value)
