"""Where the tests find the machine's services, and the settings they run the API with."""

from __future__ import annotations

import os

from app.config import Settings, load_settings

REDIS_URL = os.environ.get("NEO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UPSTASH_TOKEN = "test-upstash-token"
ADMIN_TOKEN = "test-admin-token"


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
