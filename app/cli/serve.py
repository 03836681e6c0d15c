"""`serve`: the API (in MODE=LOCAL with the worker in the same process)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from app.cli.settings import settings_or_exit, with_generated_token


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", help="run the API (MODE=LOCAL: with the worker in-process)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.config import Mode
    from app.main import create_app

    settings = settings_or_exit()
    if settings.mode is Mode.LOCAL and not settings.admin_token:
        settings = with_generated_token(settings)
    uvicorn.run(create_app(settings), host=args.host, port=args.port)
    return 0
