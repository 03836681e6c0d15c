"""Settings, read from the environment (and `.env`) by pydantic-settings.

One `Settings` object drives both programs; `MODE` picks which one runs:

- CLOUD: the FastAPI control plane. Needs `PHAROS_ADMIN_TOKEN` and a Redis.
- EDGE: the worker. Needs a Redis.
- LOCAL: API and worker in one process on embedded stores (in-process Redis, SQLite, Qdrant on disk).

`get_settings()` builds the object once per process; tests build their own `Settings(...)` and pass it in.
"""

from __future__ import annotations

import ipaddress
import tempfile
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.errors import ConfigError
from app.repo_url import RepoPolicy

DEFAULT_ALLOWED_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
# Bearer tokens and API keys: stripped (a copied newline is no part of them), then at least this long.
# Credentials stripped of surrounding whitespace (a blank one is unset). Only our own admin token has a
# minimum length: Upstash and Qdrant issue theirs, and a self-hosted Qdrant's key is its operator's choice.
TOKEN_SETTINGS = ("pharos_admin_token", "upstash_redis_rest_token", "qdrant_api_key")
ADMIN_TOKEN_MIN_CHARS = 16
# Settings only the API reads; the worker reads every other one (`.env.edge.template` lists those).
API_ONLY_SETTINGS = frozenset(
    {
        "pharos_admin_token",
        "max_queue_size",
        "retry_after_seconds",
        "allow_embedded_stores",
        "status_cache_seconds",
        "similar_cache_files",
    }
)


class Mode(StrEnum):
    CLOUD = "CLOUD"
    EDGE = "EDGE"
    LOCAL = "LOCAL"


class RedisBackendKind(StrEnum):
    UPSTASH = "upstash"
    URL = "url"
    MEMORY = "memory"


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback IP literals (IPv4 and IPv6)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_setting_url(variable: str, url: str) -> SplitResult:
    """`urlsplit`, its ValueError (an unbalanced `[`, NFKC-folded `/?#@:`) named by the variable, not the URL
    (which may hold a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is no number raises here
    except ValueError as exc:
        raise ConfigError(f"{variable} is not a valid URL ({exc})") from None
    return parts


def require_secure_url(variable: str, url: str, secure_schemes: tuple[str, ...]) -> None:
    """Property 12: a remote service is reached over TLS; plain schemes only on loopback."""
    parts = split_setting_url(variable, url)
    if not parts.scheme or not parts.hostname:
        raise ConfigError(f"{variable} is not a URL with a scheme and a host: {parts.scheme or '?'}://…")
    if parts.scheme in secure_schemes:
        return
    if is_loopback_host(parts.hostname):
        return
    raise ConfigError(
        f"{variable} must use {' or '.join(secure_schemes)} for a remote host "
        f"(got {parts.scheme}:// for {parts.hostname})"
    )


class Settings(BaseSettings):
    """Every knob of both programs. Environment variable names are the field names in upper case."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    mode: Mode = Mode.LOCAL

    # Redis: Upstash REST (URL + token) or any Redis URL; LOCAL falls back to an in-process store.
    upstash_redis_rest_url: str | None = None
    upstash_redis_rest_token: SecretStr | None = None
    redis_url: str | None = None
    redis_timeout_seconds: float = Field(2.0, gt=0, le=30)
    # Prepended to every key, so several deployments (or test runs) can share one Redis database.
    redis_key_prefix: str = ""

    # Metadata: PostgreSQL (Neon) when set, else a SQLite file under data_dir.
    neon_database_url: SecretStr | None = None
    # Vectors: a Qdrant server when QDRANT_URL is set, else Qdrant's local mode under data_dir.
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_timeout_seconds: int = Field(5, ge=1, le=120)
    vector_batch_size: int = Field(256, ge=1, le=10_000)
    # Embedded stores (no NEON_DATABASE_URL / QDRANT_URL): data_dir/metadata.db and data_dir/qdrant.
    data_dir: Path = Path("data")
    database_timeout_seconds: int = Field(3, ge=1, le=60)
    # Metadata connections: at most this many per process, and how long a call waits for one (SQLite: for
    # the file's write lock too) before answering "unavailable".
    database_pool_size: int = Field(4, ge=1, le=50)
    database_wait_seconds: float = Field(5.0, gt=0, le=120)

    pharos_admin_token: SecretStr | None = None

    # Queue policy.
    max_queue_size: int = Field(10, ge=1, le=10_000)
    task_ttl_seconds: int = Field(86_400, ge=1)
    job_retention_seconds: int = Field(7 * 86_400, ge=60)
    max_attempts: int = Field(3, ge=1, le=20)
    retry_after_seconds: int = Field(60, ge=1)
    # The API answers worker status from a read at most this old (0: Redis on every request). Workers
    # heartbeat every HEARTBEAT_SECONDS, so a second-old answer shows nothing a fresh one would not.
    status_cache_seconds: float = Field(1.0, ge=0, le=60)
    # The similar-file search keeps the repositories it loaded, up to this many files in all (0: none),
    # about 3 KB each; each search checks the repository's row and reloads it after an ingest.
    similar_cache_files: int = Field(20_000, ge=0, le=1_000_000)

    # Repository URL policy.
    allowed_repo_hosts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_ALLOWED_HOSTS
    allow_local_repos: bool = False
    # MODE=CLOUD beside its worker on one machine, both on the embedded stores under one DATA_DIR.
    allow_embedded_stores: bool = False

    # Worker timing.
    poll_interval_seconds: float = Field(2.0, gt=0, le=60)
    idle_poll_interval_seconds: float = Field(30.0, gt=0, le=600)
    active_window_seconds: float = Field(180.0, ge=0)
    lease_seconds: float = Field(60.0, ge=1)
    heartbeat_seconds: float = Field(10.0, gt=0)
    reap_interval_seconds: float = Field(60.0, gt=0)
    shutdown_grace_seconds: float = Field(60.0, ge=0)
    worker_id: str | None = None

    # Clones: each job in its own folder under this one (removed after the job), and their limits.
    workspace_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "neo-alexandria")
    clone_timeout_seconds: float = Field(300.0, gt=0)
    clone_max_bytes: int = Field(1 << 30, gt=0)
    # Graph: one file's scan stops after this long and the file is recorded `partial` (the rest goes on).
    parse_file_seconds: float = Field(10.0, gt=0, le=600)
    # Source files one job may have; a larger repository fails before parsing (see bench/README.md, job size).
    max_job_files: int = Field(50_000, ge=1)
    # History read for the co-change pairs: commits of the last HISTORY_DAYS (0: none, a depth-1 clone),
    # at most HISTORY_MAX_COMMITS of them, fetched without file contents.
    history_days: int = Field(365, ge=0, le=3650)
    history_max_commits: int = Field(5000, ge=1, le=100_000)
    # Training: a job's Node2Vec stops after the optimiser step that passes this many seconds and stores the
    # vectors trained so far, saying so in the job's result (`training_stopped`). Within the step budget a
    # 100,000-file graph (twice MAX_JOB_FILES) trains in about a minute on a 2-core CPU (bench/README.md): the
    # default leaves ten times that for a slower or busier machine; a GPU is faster still.
    max_training_seconds: float = Field(600.0, gt=0, le=86_400)

    @field_validator("allowed_repo_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(host.strip().lower() for host in value.split(",") if host.strip())
        return value

    @field_validator(*TOKEN_SETTINGS, mode="after")
    @classmethod
    def _strip_token(cls, value: SecretStr | None) -> SecretStr | None:
        """A blank credential is no credential (its value is never shown)."""
        token = value.get_secret_value().strip() if value else ""
        return SecretStr(token) if token else None

    @field_validator("pharos_admin_token", mode="after")
    @classmethod
    def _check_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        """A short admin token is refused: it is all that guards the queue and the delete routes."""
        if value is not None and len(value.get_secret_value()) < ADMIN_TOKEN_MIN_CHARS:
            raise ValueError(
                f"must be at least {ADMIN_TOKEN_MIN_CHARS} characters (it has {len(value.get_secret_value())}); "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
            )
        return value

    @model_validator(mode="after")
    def _check_mode_requirements(self) -> Settings:
        if self.heartbeat_seconds * 3 > self.lease_seconds:
            raise ValueError("HEARTBEAT_SECONDS must be at most a third of LEASE_SECONDS")
        if self.mode is Mode.CLOUD and not self._secret(self.pharos_admin_token):
            raise ValueError(
                "MODE=CLOUD needs PHAROS_ADMIN_TOKEN (the bearer token that guards POST /ingest)"
            )
        if self.mode in (Mode.CLOUD, Mode.EDGE) and self.redis_backend is RedisBackendKind.MEMORY:
            raise ValueError(
                f"MODE={self.mode} needs a Redis: set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN, "
                "or REDIS_URL"
            )
        if bool(self.upstash_redis_rest_url) != bool(self._secret(self.upstash_redis_rest_token)):
            missing = "UPSTASH_REDIS_REST_TOKEN" if self.upstash_redis_rest_url else "UPSTASH_REDIS_REST_URL"
            raise ValueError(f"{missing} is missing (the Upstash URL and token go together)")
        self._check_transport_security()
        return self

    def _check_transport_security(self) -> None:
        try:
            if self.upstash_redis_rest_url:
                require_secure_url("UPSTASH_REDIS_REST_URL", self.upstash_redis_rest_url, ("https",))
            if self.redis_url:
                require_secure_url("REDIS_URL", self.redis_url, ("rediss",))
            if self.qdrant_url:
                require_secure_url("QDRANT_URL", self.qdrant_url, ("https",))
            if self.neon_database_url:
                check_database_url(self.neon_database_url.get_secret_value())
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc

    def require_shared_stores(self) -> None:
        """MODE=CLOUD serves what edge workers write elsewhere, so it must not fall back on embedded stores.

        Checked when the API process builds its clients (not in the validator: tests hand the app their own).
        """
        if self.mode is not Mode.CLOUD or self.allow_embedded_stores:
            return
        missing = [
            name
            for name, value in (("NEON_DATABASE_URL", self.database_url), ("QDRANT_URL", self.qdrant_url))
            if not value
        ]
        if missing:
            raise ConfigError(
                f"MODE=CLOUD needs {' and '.join(missing)}: without {'them' if len(missing) > 1 else 'it'} the "
                "API would read a SQLite file and a Qdrant folder of its own that no edge worker writes to, "
                "and every search and repository would come back empty (MODE=LOCAL runs everything on one "
                "machine; ALLOW_EMBEDDED_STORES=true when the worker runs on this machine with the same DATA_DIR)"
            )

    @staticmethod
    def _secret(value: SecretStr | None) -> str:
        return value.get_secret_value() if value else ""

    @property
    def redis_backend(self) -> RedisBackendKind:
        if self.upstash_redis_rest_url:
            return RedisBackendKind.UPSTASH
        if self.redis_url:
            return RedisBackendKind.URL
        return RedisBackendKind.MEMORY

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "metadata.db"

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def database_url(self) -> str | None:
        return self._secret(self.neon_database_url) or None

    @property
    def qdrant_key(self) -> str | None:
        return self._secret(self.qdrant_api_key) or None

    @property
    def admin_token(self) -> str:
        return self._secret(self.pharos_admin_token)

    @property
    def local_repos_allowed(self) -> bool:
        """Local paths and file:// URLs: always in LOCAL mode, elsewhere only when explicitly allowed."""
        return self.mode is Mode.LOCAL or self.allow_local_repos

    @property
    def repo_policy(self) -> RepoPolicy:
        return RepoPolicy(self.allowed_repo_hosts, self.local_repos_allowed)


def check_database_url(url: str) -> None:
    """A remote PostgreSQL must not be asked to drop TLS (property 12)."""
    parts = split_setting_url("NEON_DATABASE_URL", url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError("NEON_DATABASE_URL must start with postgresql://")
    sslmode = parse_qs(parts.query).get("sslmode", [""])[0]
    if not is_loopback_host(parts.hostname) and sslmode in ("disable", "allow", "prefer"):
        raise ConfigError(f"NEON_DATABASE_URL sets sslmode={sslmode} for a remote host; TLS is required")


def default(name: str) -> Any:
    """The default of one setting, for a component that also runs without a Settings object (tests, bench)."""
    return Settings.model_fields[name].default


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning a validation failure into one readable ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        reasons = "; ".join(_describe(error) for error in exc.errors())
        raise ConfigError(f"Invalid settings: {reasons}") from None


def _describe(error: dict) -> str:
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    location = [str(part).upper() for part in error.get("loc", ()) if part]
    return f"{location[0]}: {message}" if location else message


@lru_cache
def get_settings() -> Settings:
    return load_settings()
