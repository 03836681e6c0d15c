"""Discover stage: find the source files of a checked-out repository.

Only regular files are taken (a directory named `x.js` is not a file) and no symlink is ever followed,
so nothing outside the clone is read. Vendored dependencies, virtualenvs, caches and build output are
skipped, and so are files over the size cap; what was left out is reported with its reason.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

MAX_FILE_BYTES = 1 << 20


class Language(StrEnum):
    PYTHON = "python"
    JAVASCRIPT = "javascript"
    TYPESCRIPT = "typescript"
    TSX = "tsx"


LANGUAGE_BY_SUFFIX = {
    ".py": Language.PYTHON,
    ".js": Language.JAVASCRIPT,
    ".jsx": Language.JAVASCRIPT,
    ".mjs": Language.JAVASCRIPT,
    ".cjs": Language.JAVASCRIPT,
    ".ts": Language.TYPESCRIPT,
    ".mts": Language.TYPESCRIPT,
    ".cts": Language.TYPESCRIPT,
    ".tsx": Language.TSX,
}

# Directories that never hold the project's own source, wherever they are.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".eggs",
        "site-packages",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".turbo",
        ".cache",
        ".yarn",
        ".pnpm-store",
    }
)
# Build output, skipped only beside a project manifest (or at the root): elsewhere a folder called
# `build` can be a real package (pip has `operations/build/`).
BUILD_DIRS = frozenset({"dist", "build", "out", "coverage"})
PROJECT_MANIFESTS = frozenset({"package.json", "pyproject.toml", "setup.py", "setup.cfg"})
MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".min.cjs", "-min.js", ".bundle.js")


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # repo-relative, POSIX separators
    language: Language
    size: int


@dataclass(frozen=True, slots=True)
class SkippedPath:
    path: str
    reason: str


@dataclass(slots=True)
class Discovery:
    files: list[SourceFile]
    skipped: list[SkippedPath]
    # Repo-relative paths of every regular file seen (sources or not), for resolvers that probe for
    # package.json, tsconfig.json or __init__.py without touching the file system again.
    all_files: set[str]


def shown_path(path: str) -> str:
    """The path as the graph shows and stores it: a name that is not valid UTF-8 has its bad bytes
    escaped (`bad\\xffname.py`); os.scandir hands such bytes over as lone surrogates."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def discover_sources(root: Path, *, max_file_bytes: int = MAX_FILE_BYTES) -> Discovery:
    """Walk `root` without following symlinks and return its source files, sorted by path."""
    discovery = Discovery(files=[], skipped=[], all_files=set())
    pending = [(str(root), "")]  # a stack, not recursion: a hostile repo may nest folders very deep
    while pending:
        directory, prefix = pending.pop()
        pending += _scan_directory(directory, prefix, discovery, max_file_bytes, is_root=not prefix)
    discovery.files.sort(key=lambda source: source.path)
    return discovery


def _scan_directory(
    directory: str, prefix: str, discovery: Discovery, max_file_bytes: int, *, is_root: bool
) -> list[tuple[str, str]]:
    """Record the folder's files; return its subfolders still to walk."""
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        discovery.skipped.append(
            SkippedPath(prefix.rstrip("/") or ".", f"unreadable directory: {exc.strerror}")
        )
        return []
    names = {entry.name for entry in entries}
    if "pyvenv.cfg" in names:
        discovery.skipped.append(SkippedPath(prefix.rstrip("/"), "virtualenv"))
        return []
    beside_manifest = is_root or not names.isdisjoint(PROJECT_MANIFESTS)
    subdirectories = []
    for entry in entries:
        relative = prefix + entry.name
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            if Path(entry.name).suffix in LANGUAGE_BY_SUFFIX:
                discovery.skipped.append(SkippedPath(relative, "symlink"))
            continue
        if stat.S_ISDIR(mode):
            if _keep_directory(entry.name, beside_manifest):
                subdirectories.append((entry.path, relative + "/"))
            continue
        if stat.S_ISREG(mode):
            discovery.all_files.add(relative)
            _consider_file(entry, relative, discovery, max_file_bytes)
    return subdirectories


def _keep_directory(name: str, beside_manifest: bool) -> bool:
    if name in SKIPPED_DIRS or name.endswith(".egg-info"):
        return False
    return not (beside_manifest and name in BUILD_DIRS)


def _consider_file(entry: os.DirEntry, relative: str, discovery: Discovery, max_file_bytes: int) -> None:
    name = entry.name
    language = LANGUAGE_BY_SUFFIX.get(name[name.rfind(".") :]) if "." in name else None
    if language is None:
        return
    if name.endswith(MINIFIED_SUFFIXES):
        discovery.skipped.append(SkippedPath(relative, "minified bundle"))
        return
    try:
        size = entry.stat(follow_symlinks=False).st_size
    except OSError as exc:  # gone or unreadable since the folder was listed
        discovery.skipped.append(SkippedPath(relative, f"unreadable: {exc.strerror or exc}"))
        return
    if size > max_file_bytes:
        discovery.skipped.append(SkippedPath(relative, f"larger than {max_file_bytes} bytes"))
        return
    discovery.files.append(SourceFile(relative, language, size))
