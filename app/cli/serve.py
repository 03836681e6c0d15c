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
    import logging

    import uvicorn

    from app.config import Mode
    from app.errors import ConfigError
    from app.main import create_app

    # One line per job event (queued, started, finished, failed, cancelled, requeued) beside uvicorn's own.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    for name in ("app.worker.loop", "app.api.routes", "app.worker.embedded"):
        logging.getLogger(name).setLevel(logging.INFO)
    settings = settings_or_exit()
    if settings.mode is Mode.LOCAL and not settings.admin_token:
        settings = with_generated_token(settings)
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None
    print(
        f"Dashboard: http://{args.host}:{args.port}/   API: http://{args.host}:{args.port}/docs", flush=True
    )
    uvicorn.run(app, host=args.host, port=args.port)
    return 0
