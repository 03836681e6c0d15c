"""Resolve JavaScript/TypeScript specifiers to files of the repository, as dependency-cruiser does.

Relative specifiers probe the extensions enhanced-resolve is given by dependency-cruiser, then a
directory's `package.json` `main` and its `index.*`; a `.js` specifier that names no file falls back
to its TypeScript source (`.ts`, `.tsx`, `.d.ts`). Bare specifiers go through the governing
tsconfig's `paths` and `baseUrl` (with `extends` followed), the nearest package.json `imports`
(`#x`), and the workspace packages of the repository (package.json `workspaces` or
`pnpm-workspace.yaml`). Everything else (npm packages, Node built-ins) is external and yields no
edge. Only files inside the clone are ever read, and only through the safe reader.
"""

from __future__ import annotations

import itertools
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyjson5

from app.graph.package_map import Locate, resolve_exports, resolve_imports
from app.graph.safe_read import read_config_text
from app.graph.workspaces import find_workspaces

EXTENSIONS = (".js", ".cjs", ".mjs", ".jsx", ".ts", ".tsx", ".d.ts", ".cts", ".d.cts", ".mts", ".d.mts")
# TypeScript's own rule: an import written with the emitted extension names the source file.
TYPESCRIPT_FOR = {
    ".js": (".ts", ".tsx", ".d.ts"),
    ".jsx": (".ts", ".tsx", ".d.ts"),
    ".cjs": (".cts", ".d.cts"),
    ".mjs": (".mts", ".d.mts"),
}
TSCONFIG_NAMES = ("tsconfig.json", "jsconfig.json")
MAX_EXTENDS_DEPTH = 16
# Every bare import walks the patterns and tries each substitution: a hostile tsconfig.json must not make
# that cost thousands per import (real ones hold tens).
MAX_PATTERNS = 1000
MAX_SUBSTITUTIONS = 16


@dataclass(frozen=True, slots=True)
class PathAliases:
    """The `paths` and `baseUrl` in force for the files under one tsconfig."""

    paths: tuple[tuple[str, tuple[str, ...]], ...]  # pattern -> substitutions, longest prefix first
    paths_base: str  # directory the substitutions are relative to
    base_url: str | None


class JsResolver:
    def __init__(self, root: Path, all_files: set[str]) -> None:
        self._root = root
        self._files = all_files
        self._directories = _directories_of(all_files)
        self._json_cache: dict[str, object] = {}
        self._aliases_by_directory: dict[str, PathAliases | None] = {}
        self._cache: dict[tuple[str, str], str | None] = {}
        self._workspaces, self.config_failures = find_workspaces(root, all_files, self._load_json)

    @property
    def workspace_packages(self) -> dict[str, str]:
        """Package name -> folder of each workspace package the repository declares."""
        return dict(self._workspaces)

    def resolve(self, importer: str, specifier: str) -> str | None:
        """The repo-relative file `specifier` names when written in `importer`, or None."""
        directory = posixpath.dirname(importer)
        key = (directory, specifier)
        if key not in self._cache:
            self._cache[key] = self._resolve(directory, specifier)
        return self._cache[key]

    def _resolve(self, directory: str, specifier: str) -> str | None:
        specifier = specifier.split("!")[-1].split("?")[0]
        if not specifier or specifier.startswith(("node:", "data:", "http:", "https:")):
            return None
        if specifier.startswith(("./", "../")) or specifier in (".", ".."):
            return self._resolve_path(posixpath.join(directory, specifier), specifier)
        if specifier.startswith("/"):
            return None
        if specifier.startswith("#"):
            return self._resolve_package_import(directory, specifier)
        aliases = self._aliases_for(directory)
        if aliases is not None:
            found = self._resolve_alias(aliases, specifier)
            if found:
                return found
        return self._resolve_workspace_package(specifier)

    # Files and directories ---------------------------------------------------------------------

    def _resolve_path(self, path: str, specifier: str) -> str | None:
        normal = _normalise(path)
        if normal is None:
            return None
        found = self._as_file(normal) or self._as_directory(normal)
        if found is None:
            found = self._as_typescript_source(normal, specifier)
        return found

    def _as_file(self, path: str) -> str | None:
        if path in self._files:
            return path
        for extension in EXTENSIONS:
            if path + extension in self._files:
                return path + extension
        return None

    def _as_directory(self, path: str) -> str | None:
        if path not in self._directories:
            return None
        manifest = self._load_json(posixpath.join(path, "package.json"))
        main = manifest.get("main") if isinstance(manifest, dict) else None
        if isinstance(main, str) and main:
            target = _normalise(posixpath.join(path, main))
            if target is not None:
                found = self._as_file(target) or self._index_of(target)
                if found:
                    return found
        return self._index_of(path)

    def _index_of(self, path: str) -> str | None:
        if path not in self._directories:
            return None
        return self._as_file(posixpath.join(path, "index") if path else "index")

    def _as_typescript_source(self, path: str, specifier: str) -> str | None:
        stem, extension = posixpath.splitext(path)
        if extension not in TYPESCRIPT_FOR or not specifier.endswith(extension):
            return None
        return next((stem + ts for ts in TYPESCRIPT_FOR[extension] if stem + ts in self._files), None)

    # tsconfig paths and baseUrl ----------------------------------------------------------------

    def _resolve_alias(self, aliases: PathAliases, specifier: str) -> str | None:
        for pattern, substitutions in aliases.paths:
            captured = _match_pattern(pattern, specifier)
            if captured is None:
                continue
            for substitution in substitutions:
                target = posixpath.join(aliases.paths_base, substitution.replace("*", captured, 1))
                found = self._resolve_path(target, substitution.replace("*", captured, 1))
                if found:
                    return found
            break  # TypeScript only tries the best-matching pattern
        if aliases.base_url is not None:
            return self._resolve_path(posixpath.join(aliases.base_url, specifier), specifier)
        return None

    def _aliases_for(self, directory: str) -> PathAliases | None:
        """The aliases of the nearest tsconfig.json (or jsconfig.json) at or above `directory`."""
        visited = []
        aliases = None
        while directory not in self._aliases_by_directory:
            visited.append(directory)
            config = next((path for path in _config_candidates(directory) if path in self._files), None)
            if config is not None:
                aliases = self._load_aliases(config)
                break
            if not directory:
                break
            directory = posixpath.dirname(directory)
        else:
            aliases = self._aliases_by_directory[directory]
        for folder in visited:
            self._aliases_by_directory[folder] = aliases
        return aliases

    def _load_aliases(self, config: str) -> PathAliases | None:
        paths, paths_base, base_url = None, None, None
        for path, options in self._extends_chain(config):
            directory = posixpath.dirname(path)
            if base_url is None and isinstance(options.get("baseUrl"), str):
                base_url = _normalise(posixpath.join(directory, options["baseUrl"]))
            if paths is None and isinstance(options.get("paths"), dict):
                paths, paths_base = options["paths"], directory
        if paths is None and base_url is None:
            return None
        ordered = _order_patterns(paths or {})
        return PathAliases(ordered, base_url if base_url is not None else (paths_base or ""), base_url)

    def _extends_chain(self, config: str) -> Iterable[tuple[str, dict]]:
        """The config and the ones it extends, nearest first, each with its compilerOptions."""
        pending, seen = [config], set()
        while pending and len(seen) < MAX_EXTENDS_DEPTH:
            path = pending.pop(0)
            if path in seen:
                continue
            seen.add(path)
            document = self._load_json(path)
            if not isinstance(document, dict):
                continue
            options = document.get("compilerOptions")
            yield path, options if isinstance(options, dict) else {}
            parents = document.get("extends")
            for parent in [parents] if isinstance(parents, str) else _as_list(parents):
                target = self._config_path(posixpath.dirname(path), parent)
                if target:
                    pending.append(target)

    def _config_path(self, directory: str, reference: object) -> str | None:
        if not isinstance(reference, str) or not reference.startswith("."):
            return None  # a package in node_modules: not part of the clone
        path = _normalise(posixpath.join(directory, reference))
        if path is None:
            return None
        for candidate in (path, path + ".json", posixpath.join(path, "tsconfig.json")):
            if candidate in self._files:
                return candidate
        return None

    # package.json imports and workspaces -------------------------------------------------------

    def _resolve_package_import(self, directory: str, specifier: str) -> str | None:
        """`#x` through the `imports` of the nearest package.json (Node's PACKAGE_IMPORTS_RESOLVE)."""
        while True:
            manifest_path = posixpath.join(directory, "package.json") if directory else "package.json"
            manifest = self._load_json(manifest_path) if manifest_path in self._files else None
            if isinstance(manifest, dict):
                return resolve_imports(manifest.get("imports"), specifier, self._locator(directory))
            if not directory:
                return None
            directory = posixpath.dirname(directory)

    def _locator(self, package: str) -> Locate:
        """Where a package's `imports`/`exports` target lands: a file under `package`, or another package."""

        def locate(target: str, bare: bool) -> str | None:
            if bare:
                return self._resolve_workspace_package(target)
            return self._resolve_path(posixpath.join(package, target), target)

        return locate

    def _resolve_workspace_package(self, specifier: str) -> str | None:
        parts = specifier.split("/")
        count = 2 if specifier.startswith("@") else 1
        name, rest = "/".join(parts[:count]), "/".join(parts[count:])
        directory = self._workspaces.get(name)
        if directory is None:
            return None
        manifest = self._load_json(posixpath.join(directory, "package.json"))
        if isinstance(manifest, dict) and "exports" in manifest:
            subpath = "./" + rest if rest else "."
            found = resolve_exports(manifest["exports"], subpath, self._locator(directory))
            if found:
                return found
            # An export into build output the clone does not hold: the sources, as before exports.
        if rest:
            return self._resolve_path(posixpath.join(directory, rest), rest)
        return self._as_directory(directory)

    def _load_json(self, path: str) -> object:
        if path not in self._json_cache:
            self._json_cache[path] = (
                _parse_json(read_config_text(self._root / path)) if path in self._files else None
            )
        return self._json_cache[path]


def _parse_json(text: str | None) -> object:
    """package.json is JSON; tsconfig.json allows comments and trailing commas, which JSON5 reads."""
    if not text:
        return None
    try:
        return pyjson5.loads(text)
    except (pyjson5.Json5Exception, ValueError, RecursionError):
        return None


def _as_list(value: object) -> list:
    """A list field of a config, or nothing when it holds another type (`"extends": true`)."""
    return value if isinstance(value, list) else []


def _config_candidates(directory: str) -> list[str]:
    return [posixpath.join(directory, name) if directory else name for name in TSCONFIG_NAMES]


def _normalise(path: str) -> str | None:
    """A repo-relative POSIX path, or None when it would leave the repository."""
    normal = posixpath.normpath(path)
    if normal == ".":
        return ""
    if normal.startswith(("../", "/")) or normal == "..":
        return None
    return normal


def _directories_of(files: Iterable[str]) -> set[str]:
    directories = {""}
    for path in files:
        directory = posixpath.dirname(path)
        while directory not in directories:
            directories.add(directory)
            directory = posixpath.dirname(directory)
    return directories


def _order_patterns(paths: dict) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Exact patterns first, then by longest prefix before the `*` (TypeScript's choice)."""
    entries = [
        (pattern, tuple(item for item in targets[:MAX_SUBSTITUTIONS] if isinstance(item, str)))
        for pattern, targets in itertools.islice(paths.items(), MAX_PATTERNS)
        if isinstance(pattern, str) and isinstance(targets, list) and pattern.count("*") <= 1
    ]

    def rank(entry: tuple[str, tuple[str, ...]]) -> tuple[int, int]:
        pattern = entry[0]
        return (0, 0) if "*" not in pattern else (1, -pattern.index("*"))

    return tuple(sorted(entries, key=rank))


def _match_pattern(pattern: str, specifier: str) -> str | None:
    """What `*` stands for when `specifier` matches `pattern` ("" for an exact match), else None."""
    if "*" not in pattern:
        return "" if pattern == specifier else None
    prefix, suffix = pattern.split("*", 1)
    if (
        len(specifier) >= len(prefix) + len(suffix)
        and specifier.startswith(prefix)
        and specifier.endswith(suffix)
    ):
        return specifier[len(prefix) : len(specifier) - len(suffix)]
    return None
