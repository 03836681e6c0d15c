"""`similar REPO FILE [FILE ...]`: the files most like each FILE, ranked as the API and the dashboard
rank them, from what the last ingest of REPO stored (the settings say where: MODE=LOCAL by default)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.settings import settings_or_exit
from app.printable import echo

if TYPE_CHECKING:
    from app.search.ranking import Evidence, RankedFile


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("similar", help="the files most like each FILE of an ingested repository")
    parser.add_argument("repo", help="the repository as it was ingested: a local path or host/owner/repo")
    parser.add_argument("files", nargs="+", metavar="FILE", help="repository-relative paths")
    parser.add_argument("--k", type=int, default=10, help="files per FILE, 1–100 (default 10)")
    parser.add_argument("--json", action="store_true", help='print {FILE: [{"path", "score", "evidence"}]}')
    parser.set_defaults(handler=run_similar)


def run_similar(args: argparse.Namespace) -> int:
    from app.errors import NeoError
    from app.search.similar import load_repository, similar_files
    from app.services import configured_metadata, configured_vectors

    if not 1 <= args.k <= 100:
        echo(f"error: --k must be between 1 and 100, got {args.k}", file=sys.stderr)
        return 2
    # What `ingest` wrote, unless the environment names other stores.
    settings = settings_or_exit(**({} if "MODE" in os.environ else {"mode": "LOCAL"}))
    repo = str(Path(args.repo).resolve()) if Path(args.repo).is_dir() else args.repo
    metadata, vectors = configured_metadata(settings), configured_vectors(settings)
    try:
        stored = load_repository(metadata, vectors, settings.repo_policy.parse(repo).repo_url)
        ranked = similar_files(stored.index, args.files, args.k)
    except NeoError as exc:
        echo(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        metadata.close()
        vectors.close()
    if args.json:
        echo(json.dumps({path: [as_json(hit) for hit in hits] for path, hits in ranked.items()}, indent=2))
    else:
        echo("\n\n".join(as_text(path, hits) for path, hits in ranked.items()))
    return 0


def as_json(hit: RankedFile) -> dict[str, object]:
    return {"path": hit.path, "score": hit.score, "evidence": hit.evidence.as_dict()}


def as_text(path: str, hits: list[RankedFile]) -> str:
    lines = [f"{path}: {len(hits)} most similar files, best first"]
    lines += [f"  {rank:>3}. {hit.score:7.3f}  {hit.path}  ({evidence_words(hit.evidence)})"
              for rank, hit in enumerate(hits, 1)]  # fmt: skip
    return "\n".join(lines)


def evidence_words(evidence: Evidence) -> str:
    """The evidence as the dashboard words it."""
    words = []
    if evidence.imports_it:
        words.append("the file imports it")
    if evidence.imported_by_it:
        words.append("it imports the file")
    if evidence.shared_neighbours:
        examples = ", ".join(evidence.shared_examples)
        words.append(f"{evidence.shared_neighbours} shared neighbour(s): {examples}")
    if evidence.changed_together:
        words.append(f"changed together {evidence.changed_together}×, last {evidence.last_changed_together}")
    if evidence.same_folder:
        words.append("same folder")
    if evidence.name_words:
        words.append(f"name: {', '.join(evidence.name_words)}")
    if evidence.cosine is not None:
        words.append(f"cosine {evidence.cosine:.3f}")
    return "; ".join(words) or "no shared evidence"
