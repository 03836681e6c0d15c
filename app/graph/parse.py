"""Parse stage: read each source file and list its imports, on every core.

Files are read with O_NOFOLLOW, so a file swapped for a symlink after discovery is not followed.
Binary files and minified bundles are set aside; a file that cannot be decoded is recorded as failed
and the job goes on; a syntax error keeps what tree-sitter could still read and is recorded.
"""

from __future__ import annotations

import codecs
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import NamedTuple, Protocol

import tree_sitter

from app.errors import describe_exception
from app.graph.discover import MAX_FILE_BYTES, Language, SourceFile
from app.graph.js_imports import JsScanner
from app.graph.python_imports import new_parser, scan_python
from app.graph.safe_read import read_regular_file
from app.jobs import FileFailure

# Parsing speed on one core here (the Python scan skips most bytes; JS/TS is parsed in full), and the
# least work worth a process pool: starting one costs about 20 ms.
PYTHON_BYTES_PER_SECOND = 60e6
JS_BYTES_PER_SECOND = 12e6
INLINE_SECONDS = 0.08
INLINE_PROGRESS_STEPS = 20
# Batches per worker: small enough for smooth progress and balance, large enough to stay cheap.
BATCHES_PER_WORKER = 6
MINIFIED_LINE_LENGTH = 500
_CODING_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


class ParseStatus(StrEnum):
    OK = "ok"
    PARTIAL = "partial"  # parsed with syntax errors; what could be read was kept
    FAILED = "failed"  # could not be read or decoded; no imports
    NOT_SOURCE = "not-source"  # binary or minified: not a node of the graph


class RawImport(NamedTuple):
    """One import as written. Python: `target` is the module (leading dots kept), `member` the name
    after `from … import`. JavaScript/TypeScript: `target` is the specifier and `member` is None."""

    target: str
    member: str | None
    kind: str
    type_only: bool
    line: int


class Link(NamedTuple):
    """An import resolved to a file of the repository."""

    target: str
    kind: str
    type_only: bool


class ParsedFile(NamedTuple):
    path: str
    status: ParseStatus
    reason: str
    imports: list[RawImport]  # as written; emptied once a Linker has turned them into links
    links: tuple[Link, ...] = ()
    failures: tuple[FileFailure, ...] = ()  # imports that could not be resolved for an unexpected reason


class Linker(Protocol):
    """Resolves a file's imports; parse_sources runs it in the pool so resolving is parallel too.

    An import that raises is left out and returned as a failure; the file's other imports are kept.
    """

    def link(
        self, path: str, language: Language, imports: list[RawImport]
    ) -> tuple[list[Link], list[FileFailure]]: ...


ProgressCallback = Callable[[int, int], None]
# Set in each pool process by its initializer (inherited through fork, not pickled per batch).
_process_linker: Linker | None = None


def parse_sources(
    root: Path,
    files: Sequence[SourceFile],
    *,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    linker: Linker | None = None,
    file_seconds: float | None = None,
) -> list[ParsedFile]:
    """Parse `files` (relative to `root`) and return one ParsedFile each, in the same order.

    With a `linker`, each file's imports come back resolved (as `links`). A process pool of
    `workers` (default: every core) does the work, unless there is too little to be worth one.
    A file whose scan runs past `file_seconds` keeps what was read by then and is `partial`; a
    file, or a batch of files, whose parse raises is `failed` with the reason, and the rest go on.
    """
    total = len(files)
    if progress:
        progress(0, total)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or _estimated_seconds(files) < INLINE_SECONDS:
        jobs = [(source.path, source.language.value) for source in files]
        step = max(1, total // INLINE_PROGRESS_STEPS)
        results: list[ParsedFile] = []
        for first in range(0, total, step):
            results += parse_batch(str(root), jobs[first : first + step], linker, file_seconds)
            if progress:
                progress(len(results), total)
        return results
    batches = list(_batches(files, workers * BATCHES_PER_WORKER))
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=_pool_context(), initializer=_install_linker, initargs=(linker,)
    ) as pool:
        by_path: dict[str, ParsedFile] = {}
        futures = {
            pool.submit(_parse_batch_in_pool, str(root), batch, file_seconds): batch for batch in batches
        }
        for future in as_completed(futures):
            for parsed in _batch_outcome(future, futures[future]):
                by_path[parsed.path] = parsed
            if progress:
                progress(len(by_path), total)
    return [by_path[source.path] for source in files]


def _estimated_seconds(files: Sequence[SourceFile]) -> float:
    """About how long parsing `files` takes on one core."""
    return sum(
        source.size / (PYTHON_BYTES_PER_SECOND if source.language is Language.PYTHON else JS_BYTES_PER_SECOND)
        for source in files
    )


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork starts a worker in milliseconds, which matters when a whole graph takes half a second,
    # and hands it the linker without pickling; the children only read files and run tree-sitter.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _batches(files: Sequence[SourceFile], count: int) -> Iterator[list[tuple[str, str]]]:
    """Split files into `count` batches of about equal size (largest first, onto the lightest)."""
    loads = [0] * count
    batches: list[list[tuple[str, str]]] = [[] for _ in range(count)]
    for source in sorted(files, key=lambda item: item.size, reverse=True):
        lightest = loads.index(min(loads))
        loads[lightest] += source.size + 2048  # a fixed cost per file as well as per byte
        batches[lightest].append((source.path, source.language.value))
    yield from (batch for batch in batches if batch)


def _install_linker(linker: Linker | None) -> None:
    global _process_linker
    _process_linker = linker


def _parse_batch_in_pool(
    root: str, jobs: Sequence[tuple[str, str]], file_seconds: float | None
) -> list[ParsedFile]:
    return parse_batch(root, jobs, _process_linker, file_seconds)


def _batch_outcome(future: Future[list[ParsedFile]], batch: Sequence[tuple[str, str]]) -> list[ParsedFile]:
    """The batch's files, or each of them failed with the reason its process gave (it died, say)."""
    try:
        return future.result()
    except Exception as exc:  # a worker process that died takes its whole batch with it
        reason = f"the parsing process failed: {describe_exception(exc)}"
        return [ParsedFile(path, ParseStatus.FAILED, reason, []) for path, _ in batch]


def parse_batch(
    root: str,
    jobs: Sequence[tuple[str, str]],
    linker: Linker | None = None,
    file_seconds: float | None = None,
) -> list[ParsedFile]:
    """Parse (path, language) pairs under `root` and, given a linker, resolve their imports.

    One file's exception is that file's failure, never the batch's.
    """
    results = []
    for path, language_name in jobs:
        language = Language(language_name)
        try:
            parsed = parse_file(root, path, language, file_seconds)
        except Exception as exc:
            parsed = ParsedFile(path, ParseStatus.FAILED, f"scanning failed: {describe_exception(exc)}", [])
        if linker is not None and parsed.imports:
            parsed = _linked(linker, parsed, language)
        results.append(parsed)
    return results


def _linked(linker: Linker, parsed: ParsedFile, language: Language) -> ParsedFile:
    try:
        links, failures = linker.link(parsed.path, language, parsed.imports)
    except Exception as exc:  # the linker isolates each import; this is a failure around them
        failure = FileFailure(path=parsed.path, step="resolve", reason=describe_exception(exc))
        return parsed._replace(imports=[], failures=(failure,))
    return parsed._replace(imports=[], links=tuple(links), failures=tuple(failures))


def parse_file(root: str, path: str, language: Language, file_seconds: float | None = None) -> ParsedFile:
    try:
        data = read_regular_file(os.path.join(root, path), MAX_FILE_BYTES)
    except OSError as exc:
        return ParsedFile(path, ParseStatus.FAILED, f"unreadable: {exc.strerror or exc}", [])
    if b"\0" in data[:8192]:
        return ParsedFile(path, ParseStatus.NOT_SOURCE, "binary file", [])
    deadline = time.monotonic() + file_seconds if file_seconds else None
    if language is Language.PYTHON:
        return _parse_python(path, data)
    if len(data) > 4 * MINIFIED_LINE_LENGTH and data.count(b"\n") * MINIFIED_LINE_LENGTH < len(data):
        return ParsedFile(path, ParseStatus.NOT_SOURCE, "minified bundle", [])
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParsedFile(path, ParseStatus.FAILED, f"not valid UTF-8 at byte {exc.start}", [])
    scan = _js_scanner(language).scan(data, deadline)
    imports = [RawImport(item.specifier, None, item.kind, item.type_only, item.line) for item in scan.imports]
    if scan.stopped:
        reason = f"scan stopped after {file_seconds:g} s (PARSE_FILE_SECONDS); imports found by then kept"
        return ParsedFile(path, ParseStatus.PARTIAL, reason, imports)
    return _with_errors(path, imports, scan.errors)


def _parse_python(path: str, data: bytes) -> ParsedFile:
    try:
        data = _as_utf8(data)
    except (UnicodeError, LookupError) as exc:  # a cookie can name idna, utf-7…
        return ParsedFile(path, ParseStatus.FAILED, f"cannot decode: {exc}", [])
    scan = scan_python(data, _python_parser())
    imports = [
        RawImport(
            item.module,
            item.member,
            "from" if item.member is not None else "import",
            item.type_only,
            item.line,
        )
        for item in scan.imports
    ]
    return _with_errors(path, imports, scan.errors)


def _with_errors(path: str, imports: list[RawImport], errors: list[str]) -> ParsedFile:
    if errors:
        return ParsedFile(path, ParseStatus.PARTIAL, "; ".join(errors[:3]), imports)
    return ParsedFile(path, ParseStatus.OK, "", imports)


def _as_utf8(data: bytes) -> bytes:
    """Python source as UTF-8, honouring a PEP 263 coding cookie on the first two lines."""
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        for line in data.split(b"\n", 2)[:2]:
            cookie = _CODING_COOKIE.match(line)
            if cookie:
                encoding = codecs.lookup(cookie.group(1).decode("ascii")).name
                return data.decode(encoding).encode("utf-8")
        raise


@cache
def _python_parser() -> tree_sitter.Parser:
    return new_parser()


@cache
def _js_scanner(language: Language) -> JsScanner:
    return JsScanner(language)
