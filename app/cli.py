"""Command line: `python -m app.cli <command> …`.

graph PATH --json | --dot     print the file dependency graph of a checked-out repository
serve [--host H --port P]     run the API (in MODE=LOCAL with the worker in the same process)
ingest REPO [--json]          MODE=LOCAL: ingest a repository (path or URL) now and show what came out
embed GRAPH.json --out VECTORS.npy [--device cpu|cuda] [--seed N]
                              Node2Vec vectors of a dependency graph (as `graph --json` prints it), one
                              float32 row per entry of `files`, in that order
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from app.config import Settings


def add_graph_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("graph", help="print the file dependency graph of a repository checkout")
    parser.add_argument("path", type=Path, help="the repository's folder")
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json", dest="format", action="store_const", const="json", help="JSON (the default)"
    )
    output.add_argument("--dot", dest="format", action="store_const", const="dot", help="Graphviz DOT")
    parser.add_argument("--progress", action="store_true", help="report parsing progress on stderr")
    parser.set_defaults(format="json", handler=run_graph)


def run_graph(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for tree-sitter and numpy.
    from app.graph.build import build_graph

    if not args.path.is_dir():
        print(f"error: {args.path} is not a directory", file=sys.stderr)
        return 2
    progress = _print_progress if args.progress else None
    graph = build_graph(args.path, progress=progress)
    sys.stdout.write(graph.to_dot() if args.format == "dot" else graph.to_json() + "\n")
    return 0


def _print_progress(done: int, total: int) -> None:
    percent = 100 * done // total if total else 100
    print(f"Parsing… {percent}% ({done}/{total} files)", file=sys.stderr)


def add_embed_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("embed", help="train Node2Vec vectors of a GRAPH.json")
    parser.add_argument("graph", type=Path, help="GRAPH.json as printed by `graph --json`")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .npy vectors")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA when available, else CPU")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    # Imported here so that other commands do not pay for torch and numpy.
    import numpy as np

    from app.embedding.trainer import EpochProgress, Trainer
    from app.errors import TrainingError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def report(progress: EpochProgress) -> None:
        print(f"Training… {progress.percent}% (loss {progress.loss:.4f})", file=sys.stderr)

    try:
        files, edges = read_graph_json(args.graph)
        service = Trainer(device=args.device)
        vectors = service.train_embeddings(edges, len(files), progress=report, seed=args.seed)
    except (OSError, ValueError, KeyError, TypeError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    np.save(args.out, vectors.numpy())
    print(
        f"{vectors.shape[0]} vectors of {vectors.shape[1]} dimensions written to {args.out}", file=sys.stderr
    )
    return 0


def read_graph_json(path: Path) -> tuple[list[str], np.ndarray]:
    """Files and a [2, E] int64 edge array from GRAPH.json; edges name files by path or by index."""
    import numpy as np

    document = json.loads(path.read_text())
    files = [str(name) for name in document["files"]]
    index = {name: position for position, name in enumerate(files)}
    pairs = document.get("edges", [])
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{path}: every edge must be a [source, target] pair")
    try:
        edges = [[_node(end, index, len(files)) for end in pair] for pair in pairs]
    except (KeyError, IndexError) as exc:
        raise ValueError(f"{path}: an edge refers to a file not in 'files': {exc}") from exc
    return files, np.array(edges, dtype=np.int64).reshape(-1, 2).T


def _node(end: str | int, index: dict[str, int], count: int) -> int:
    if isinstance(end, int):
        if not 0 <= end < count:
            raise IndexError(end)
        return end
    return index[end]


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", help="run the API (MODE=LOCAL: with the worker in-process)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.config import Mode
    from app.main import create_app

    settings = _settings_or_exit()
    if settings.mode is Mode.LOCAL and not settings.admin_token:
        settings = _with_generated_token(settings)
    uvicorn.run(create_app(settings), host=args.host, port=args.port)
    return 0


def add_ingest_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("ingest", help="MODE=LOCAL: ingest a repository now and summarise it")
    parser.add_argument("repo", help="a local path, or host/owner/repo / https://host/owner/repo")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--neighbours", type=int, default=3, help="similar files shown per file")
    parser.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    import json
    import logging

    from app.errors import NeoError
    from app.worker.embedded import ingest_now

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = _settings_or_exit(mode="LOCAL")
    # A folder on this machine may be given relative to where the command runs.
    repo = str(Path(args.repo).resolve()) if Path(args.repo).is_dir() else args.repo
    try:
        summary = ingest_now(settings, repo, neighbours=args.neighbours)
    except NeoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2) if args.json else summary.pop("text"))
    return 0 if summary.get("state") == "finished" else 1


def _settings_or_exit(**overrides: object) -> Settings:
    from app.config import load_settings
    from app.errors import ConfigError

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None


def _with_generated_token(settings: Settings) -> Settings:
    import secrets

    from pydantic import SecretStr

    token = secrets.token_urlsafe(24)
    print(f"PHAROS_ADMIN_TOKEN for this run: {token}", file=sys.stderr, flush=True)
    return settings.model_copy(update={"pharos_admin_token": SecretStr(token)})


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_graph_command,
    add_serve_command,
    add_ingest_command,
    add_embed_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Neo Alexandria command line")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in COMMANDS:
        add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
