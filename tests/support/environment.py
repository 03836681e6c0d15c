"""Where the tests find the machine's services, and the settings they run the API with.

NEO_TEST_REDIS_URL (default redis://127.0.0.1:6379/15: never a user's database 0) and NEO_TEST_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/test, a role that may create databases) point every test at
other servers; each test keeps to a key prefix (Redis) or a database (PostgreSQL) of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis
from psycopg2 import sql

from app.config import Settings, load_settings

REDIS_URL = os.environ.get("NEO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
UPSTASH_TOKEN = "test-upstash-token"
ADMIN_TOKEN = "test-admin-token"
POSTGRES_ADMIN_URL = os.environ.get("NEO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def redis_address(url: str = REDIS_URL) -> tuple[str, int, int]:
    """Host, port and database number of a Redis URL."""
    options = redis.connection.parse_url(url)
    return str(options.get("host", "127.0.0.1")), int(options.get("port", 6379)), int(options.get("db", 0))


def via_port(port: int, url: str = REDIS_URL) -> str:
    """The test Redis's URL, database included, through a loopback port in front of it (a proxy)."""
    return f"redis://127.0.0.1:{port}/{redis_address(url)[2]}"


def cloud_settings(key_prefix: str, **overrides: object) -> Settings:
    """MODE=CLOUD settings against the machine's Redis, inside the test's own key namespace."""
    values: dict[str, object] = {
        "mode": "CLOUD",
        "pharos_admin_token": ADMIN_TOKEN,
        "redis_url": REDIS_URL,
        "redis_key_prefix": key_prefix,
    }
    values.update(overrides)
    return load_settings(**values)


@contextmanager
def throwaway_postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards; yields its URL."""
    name = f"neo_stores_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg2.connect(admin_url, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"The tests need the PostgreSQL at {admin_url}: {exc}")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
