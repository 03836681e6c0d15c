"""libpq options for NEON_DATABASE_URL: TLS required off loopback (property 12), short timeouts."""

from __future__ import annotations

import pytest

from app.stores.databases import postgres_connect_options


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
