"""Settings for a command: read from the environment, or a readable exit."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config import Settings


def settings_or_exit(**overrides: object) -> Settings:
    from app.config import load_settings
    from app.errors import ConfigError

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None


def with_generated_token(settings: Settings) -> Settings:
    import secrets

    from pydantic import SecretStr

    token = secrets.token_urlsafe(24)
    print(f"PHAROS_ADMIN_TOKEN for this run: {token}", file=sys.stderr, flush=True)
    return settings.model_copy(update={"pharos_admin_token": SecretStr(token)})
