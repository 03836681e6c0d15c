"""The engines' settings: libpq options for NEON_DATABASE_URL (TLS required off loopback, property 12,
short timeouts), the place messages name, and SQLite's connection setup."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.stores.engines import postgres_connect_options, postgres_place, sqlite_engine


@pytest.mark.parametrize(
    ("url", "sslmode"),
    [
        ("postgresql://u:p@ep-cool-name.eu-central-1.aws.neon.tech/neondb", "require"),
        ("postgresql://u:p@db.example.com:5432/app", "require"),
        ("postgresql://u@127.0.0.1:5432/test", None),
        ("postgresql://u@localhost/test", None),
        ("postgresql://u@[::1]/test", None),
        ("postgresql:///test", None),
        ("postgresql://u@%2Fvar%2Frun%2Fpostgresql/test", None),
    ],
)
def test_tls_is_required_off_loopback(url: str, sslmode: str | None) -> None:
    options = postgres_connect_options(url, connect_timeout_seconds=3)
    assert options.get("sslmode") == sslmode
    assert options["connect_timeout"] == 3


def test_options_in_the_url_are_kept() -> None:
    url = "postgresql://u:p@db.example.com/app?sslmode=verify-full&connect_timeout=10"
    options = postgres_connect_options(url, connect_timeout_seconds=3)
    assert "sslmode" not in options
    assert "connect_timeout" not in options
    assert options["keepalives"] == 1


@pytest.mark.parametrize(
    ("url", "place"),
    [
        (
            "postgresql://u:s3cret@db.example.com:6543/app?sslmode=require",
            "the database at db.example.com:6543/app",
        ),
        ("postgresql://u:s3cret@db.example.com/app", "the database at db.example.com:5432/app"),
        ("postgresql:///test", "the database at the local socket:5432/test"),
    ],
)
def test_messages_name_the_host_port_and_database_but_no_password(url: str, place: str) -> None:
    assert postgres_place(url) == place


def test_sqlite_connections_use_wal_foreign_keys_and_their_own_begin(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "new" / "m.db", pool_size=1, wait_seconds=0.5)
    try:
        with engine.connect() as connection, connection.begin():
            # The driver would not begin a transaction for a read; SQLAlchemy's begin does.
            assert connection.connection.dbapi_connection.in_transaction
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1, "busy_timeout": 500}
    finally:
        engine.dispose()
