"""`python worker.py --test`: check everything the worker needs and print a readable report."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Mode, Settings
from app.queue.backends import open_backend
from app.services import configured_metadata, configured_vectors

Check = Callable[[], str]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def run_checks(checks: dict[str, Check]) -> list[CheckResult]:
    results = []
    for name, check in checks.items():
        try:
            results.append(CheckResult(name, True, check()))
        except Exception as exc:  # a self-test reports every failure instead of stopping at the first
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def format_report(results: list[CheckResult]) -> str:
    width = max((len(result.name) for result in results), default=0)
    lines = ["Neo Alexandria worker self-test"]
    lines += [f"  {r.name:<{width}}  {'ok  ' if r.ok else 'FAIL'}  {r.detail}" for r in results]
    failed = [r.name for r in results if not r.ok]
    lines.append(
        "All checks passed." if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}"
    )
    return "\n".join(lines)


def worker_checks(settings: Settings) -> dict[str, Check]:
    """The checks for this configuration, in the order they are reported."""
    return {
        "settings": lambda: _describe_settings(settings),
        "redis": lambda: _check_redis(settings),
        "database": lambda: _check_database(settings),
        "qdrant": lambda: _check_qdrant(settings),
        "device": _check_device,
        "git": _check_git,
        "parsers": _check_parsers,
    }


def _describe_settings(settings: Settings) -> str:
    return f"MODE={settings.mode}, Redis backend: {settings.redis_backend}, poll every {settings.poll_interval_seconds:g} s"


def _check_redis(settings: Settings) -> str:
    backend = open_backend(settings)
    try:
        started = time.perf_counter()
        backend.ping()
        return f"answered PING in {(time.perf_counter() - started) * 1000:.0f} ms ({backend.name})"
    finally:
        backend.close()


def _check_database(settings: Settings) -> str:
    store = configured_metadata(settings)
    try:
        store.migrate()
        return f"{store.backend_name}: schema up to date" + _only_here(
            settings, settings.database_url, "NEON_DATABASE_URL"
        )
    finally:
        store.close()


def _check_qdrant(settings: Settings) -> str:
    access = configured_vectors(settings)
    try:
        with access.session() as store:
            store.ensure_collection()
            store.ping()
        where = settings.qdrant_url or f"local mode in {settings.qdrant_path}"
        return f"{where}: collection ready" + _only_here(settings, settings.qdrant_url, "QDRANT_URL")
    finally:
        access.close()


def _only_here(settings: Settings, remote: str | None, variable: str) -> str:
    """An edge worker on embedded stores works, but a cloud API (which needs remote ones) never sees it."""
    if remote or settings.mode is not Mode.EDGE:
        return ""
    return f" (on this machine only: a cloud API will not see these results; set {variable})"


def _check_device() -> str:
    import torch

    from app.embedding.device import detect_hardware

    hardware = detect_hardware()
    started = time.perf_counter()
    value = (
        torch.ones(256, 256, device=hardware.device) @ torch.ones(256, 256, device=hardware.device)
    ).sum()
    assert float(value) == 256**3
    return f"{hardware.describe()}; a 256×256 matmul took {(time.perf_counter() - started) * 1000:.1f} ms"


def _check_git() -> str:
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not on PATH (the clone stage needs it)")
    return subprocess.run([git, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def _check_parsers() -> str:
    import tree_sitter_javascript
    import tree_sitter_python
    import tree_sitter_typescript
    from tree_sitter import Language, Parser

    grammars = {
        "python": tree_sitter_python.language(),
        "javascript": tree_sitter_javascript.language(),
        "typescript": tree_sitter_typescript.language_typescript(),
        "tsx": tree_sitter_typescript.language_tsx(),
    }
    for name, grammar in grammars.items():
        tree = Parser(Language(grammar)).parse(b"import x from 'y'\n" if name != "python" else b"import x\n")
        assert not tree.root_node.has_error, name
    return ", ".join(grammars)
