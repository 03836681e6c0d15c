"""package.json `imports` and `exports`, resolved as Node's ESM resolver does.

This follows PACKAGE_IMPORTS_EXPORTS_RESOLVE and PACKAGE_TARGET_RESOLVE of Node's resolution algorithm:
an exact key first, then the `*` patterns most specific first (PATTERN_KEY_COMPARE: the longer prefix
before the `*`, then the longer key), then the legacy folder mappings whose key ends in `/`. A target
is a string, a conditions object (its keys in their written order, the first one in `CONDITIONS` or
`default` whose target resolves), an array (the first entry that names a file of the repository) or
`null` (the subpath is blocked). A target that leaves the package, or has `.`, `..`, `node_modules`
or empty segments, is invalid, as in Node. Any other JSON value anywhere is ignored, never an error.

Two choices are ours, made because the graph reads sources rather than running them:
- The conditions are the ones a bundler or TypeScript reading sources in either module mode
  accepts: `CONDITIONS` below. `browser`, `development` and `production` are left out: which of
  them applies depends on a build the repository does not say it runs.
- An array entry that names no file of the clone (build output, say) gives way to the next one, where
  Node would stop at the first valid one.
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# `source` and `typescript` point at TypeScript sources in many monorepos; `module-sync` is Node's
# condition for ES modules that `require()` can load (Node 22.10+).
CONDITIONS = frozenset(
    {"source", "typescript", "types", "import", "require", "module-sync", "module", "node", "default"}
)
# Conditions nested deeper than this are not followed (a hostile package.json can nest thousands), and
# only this many keys of one object, or entries of one array, are looked at: every import walks them,
# and a 1 MB package.json can hold 50,000 (real ones hold tens).
MAX_DEPTH = 32
MAX_ENTRIES = 1000
_INVALID_SEGMENTS = frozenset({"", ".", "..", "node_modules"})
_SEPARATORS = re.compile(r"[/\\]")

# `locate(target, bare)`: the repository file a target string names, or None. `bare` is True for an
# `imports` target that names another package (`"#dep": "lodash"`); otherwise `target` starts `./`.
Locate = Callable[[str, bool], str | None]


class _Undefined:
    """No key of a conditions object applied: Node's `undefined`, as opposed to a blocked `null`."""


UNDEFINED = _Undefined()


def resolve_imports(imports: object, specifier: str, locate: Locate) -> str | None:
    """The file `#specifier` names through a package.json `imports` field, or None."""
    if not isinstance(imports, dict) or specifier == "#" or specifier.startswith("#/"):
        return None
    return _found(_resolve_map(specifier, imports, locate, is_imports=True))


def resolve_exports(exports: object, subpath: str, locate: Locate) -> str | None:
    """The file a package subpath (`.` or `./x`) names through a package.json `exports` field."""
    if isinstance(exports, dict):
        dotted = [isinstance(key, str) and key.startswith(".") for key in exports]
        if any(dotted) and not all(dotted):
            return None  # Node: an invalid package configuration
        if not any(dotted):
            return _found(_resolve_target(exports, None, locate, False, 0)) if subpath == "." else None
        return _found(_resolve_map(subpath, exports, locate, is_imports=False))
    if subpath == "." and isinstance(exports, str | list):
        return _found(_resolve_target(exports, None, locate, False, 0))
    return None


def _found(outcome: str | _Undefined | None) -> str | None:
    return outcome if isinstance(outcome, str) else None


def _resolve_map(key: str, mapping: Mapping, locate: Locate, *, is_imports: bool) -> str | _Undefined | None:
    """PACKAGE_IMPORTS_EXPORTS_RESOLVE, plus the legacy folder keys ending in `/`."""
    if key in mapping and "*" not in key:
        return _resolve_target(mapping[key], None, locate, is_imports, 0)
    table = _table_of(mapping)
    for pattern, base, trailer in table.patterns:
        if key.startswith(base) and key != base and key.endswith(trailer) and len(key) >= len(pattern):
            match = key[len(base) : len(key) - len(trailer)]
            return _resolve_target(mapping[pattern], match, locate, is_imports, 0)
    for folder in table.folders:
        if key.startswith(folder):
            return _resolve_folder(mapping[folder], key[len(folder) :], locate, is_imports)
    return None


@dataclass(frozen=True, slots=True)
class _PatternTable:
    """A map's `*` keys (with the text before and after the `*`) most specific first, and its folder keys
    longest first: worked out once per map, since every import of the package walks them."""

    mapping: Mapping
    patterns: tuple[tuple[str, str, str], ...]
    folders: tuple[str, ...]


# Tables by the id of their map; each holds its map, so no other object can take that id while cached.
_TABLES: OrderedDict[int, _PatternTable] = OrderedDict()
_CACHED_TABLES = 64


def _table_of(mapping: Mapping) -> _PatternTable:
    table = _TABLES.get(id(mapping))
    if table is None or table.mapping is not mapping:
        keys = [key for key in itertools.islice(mapping, MAX_ENTRIES) if isinstance(key, str)]
        stars = sorted(
            (key for key in keys if key.count("*") == 1), key=lambda key: (-key.index("*"), -len(key))
        )
        folders = sorted((key for key in keys if key.endswith("/") and "*" not in key), key=len, reverse=True)
        patterns = tuple((key, key[: key.index("*")], key[key.index("*") + 1 :]) for key in stars)
        table = _TABLES[id(mapping)] = _PatternTable(mapping, patterns, tuple(folders))
        if len(_TABLES) > _CACHED_TABLES:
            _TABLES.popitem(last=False)
    return table


def pattern_key_compare(key_a: str, key_b: str) -> int:
    """Node's PATTERN_KEY_COMPARE: -1 when `key_a` is the more specific pattern."""
    base_a, base_b = key_a.index("*"), key_b.index("*")
    if base_a != base_b:
        return -1 if base_a > base_b else 1
    if len(key_a) != len(key_b):
        return -1 if len(key_a) > len(key_b) else 1
    return 0


def _resolve_folder(target: object, rest: str, locate: Locate, is_imports: bool) -> str | _Undefined | None:
    """A key ending in `/` maps a folder: its string target (conditions allowed) plus the rest."""
    if isinstance(target, str) and target.endswith("/"):
        return _resolve_target(target + "*", rest, locate, is_imports, 0)
    if isinstance(target, dict | list):
        return _resolve_target(target, rest, locate, is_imports, 0, folder=True)
    return None


def _resolve_target(
    target: object,
    match: str | None,
    locate: Locate,
    is_imports: bool,
    depth: int,
    *,
    folder: bool = False,
) -> str | _Undefined | None:
    """PACKAGE_TARGET_RESOLVE: a file of the repository, None (blocked or invalid), or UNDEFINED."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(target, str):
        if folder and target.endswith("/"):
            target += "*"
        return _resolve_string(target, match, locate, is_imports)
    if isinstance(target, dict):
        for condition, value in itertools.islice(target.items(), MAX_ENTRIES):
            if condition in CONDITIONS:
                outcome = _resolve_target(value, match, locate, is_imports, depth + 1, folder=folder)
                if outcome is not UNDEFINED:
                    return outcome
        return UNDEFINED
    if isinstance(target, list):
        for value in target[:MAX_ENTRIES]:
            if value is None:
                return None
            outcome = _resolve_target(value, match, locate, is_imports, depth + 1, folder=folder)
            if isinstance(outcome, str):
                return outcome
        return None
    return None  # null blocks the subpath; a number or a boolean is an invalid target


def _resolve_string(target: str, match: str | None, locate: Locate, is_imports: bool) -> str | None:
    if not target.startswith("./"):
        if not is_imports or target.startswith(("../", "/")) or re.match(r"^[a-zA-Z][\w+.-]*:", target):
            return None
        return locate(target if match is None else target.replace("*", match), True)
    if _has_invalid_segment(target[2:]):
        return None
    if match is None:
        return locate(target, False)
    if _has_invalid_segment(match, allow_empty=True):
        return None
    return locate(target.replace("*", match), False)


def _has_invalid_segment(path: str, *, allow_empty: bool = False) -> bool:
    segments = _SEPARATORS.split(path)
    invalid = _INVALID_SEGMENTS - {""} if allow_empty else _INVALID_SEGMENTS
    return any(segment.lower() in invalid for segment in segments)
