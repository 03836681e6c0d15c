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

import functools
import re
from collections.abc import Callable, Mapping

# `source` and `typescript` point at TypeScript sources in many monorepos; `module-sync` is Node's
# condition for ES modules that `require()` can load (Node 22.10+).
CONDITIONS = frozenset(
    {"source", "typescript", "types", "import", "require", "module-sync", "module", "node", "default"}
)
# Conditions nested deeper than this are not followed (a hostile package.json can nest thousands).
MAX_DEPTH = 32
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
    for pattern in sorted(_expansion_keys(mapping), key=functools.cmp_to_key(pattern_key_compare)):
        base, trailer = pattern.split("*")
        fits = not trailer or (key.endswith(trailer) and len(key) >= len(pattern))
        if key.startswith(base) and key != base and fits:
            match = key[len(base) : len(key) - len(trailer)]
            return _resolve_target(mapping[pattern], match, locate, is_imports, 0)
    folders = [name for name in mapping if isinstance(name, str) and name.endswith("/") and "*" not in name]
    for folder in sorted(folders, key=len, reverse=True):
        if key.startswith(folder):
            return _resolve_folder(mapping[folder], key[len(folder) :], locate, is_imports)
    return None


def _expansion_keys(mapping: Mapping) -> list[str]:
    return [key for key in mapping if isinstance(key, str) and key.count("*") == 1]


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
        for condition, value in target.items():
            if condition in CONDITIONS:
                outcome = _resolve_target(value, match, locate, is_imports, depth + 1, folder=folder)
                if outcome is not UNDEFINED:
                    return outcome
        return UNDEFINED
    if isinstance(target, list):
        for value in target:
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
