"""What the commands that talk to a running API share: where it is, the token, and readable failures.

`--api URL` (or NEO_API_URL, default http://127.0.0.1:8000) and `--token TOKEN` (or PHAROS_ADMIN_TOKEN).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from typing import Any

import httpx

from app.printable import echo

DEFAULT_API_URL = "http://127.0.0.1:8000"


def add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=os.environ.get("NEO_API_URL", DEFAULT_API_URL),
                        help=f"the API's address (env NEO_API_URL, default {DEFAULT_API_URL})")  # fmt: skip
    parser.add_argument("--token", default=os.environ.get("PHAROS_ADMIN_TOKEN", ""), type=str.strip,
                        help="the admin token (env PHAROS_ADMIN_TOKEN)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the API's answer as JSON")


class RemoteError(Exception):
    """The API refused or could not be reached; the message is for a person."""


def require_token(args: argparse.Namespace) -> None:
    if not args.token:
        raise RemoteError("this needs the admin token: --token TOKEN or PHAROS_ADMIN_TOKEN")


def call(args: argparse.Namespace, method: str, path: str, *, admin: bool = False, **kwargs: Any) -> Any:
    """One request to the API; its JSON answer, or RemoteError with the API's reason."""
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    if admin:
        require_token(args)
    try:
        response = httpx.request(method, args.api.rstrip("/") + path, headers=headers, timeout=15, **kwargs)
    except httpx.HTTPError as exc:
        raise RemoteError(f"the API at {args.api} did not answer ({type(exc).__name__}: {exc})") from exc
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise RemoteError(f"{response.status_code}: {detail}")


def run_remote(handler: Any, args: argparse.Namespace) -> int:
    """Run a command's body; a RemoteError is printed and exits 1."""
    try:
        return handler(args)
    except RemoteError as exc:
        echo(f"error: {exc}", file=sys.stderr)
        return 1


def short_time(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def table(rows: list[list[str]], header: list[str]) -> str:
    """Columns padded to their widest cell; the last column is left unpadded."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) if i < len(header) - 1 else str(cell)
                       for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]  # fmt: skip
    return "\n".join(lines)
