"""The workspace packages a repository declares: root package.json `workspaces` and `pnpm-workspace.yaml`.

Each declared folder pattern (npm/yarn globs, `!` to exclude) is matched against the folders that hold
a package.json; the package's `name` maps to its folder. A `pnpm-workspace.yaml` that cannot be used is
the file's failure; the package.json list still counts.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from app.errors import describe_exception
from app.graph.safe_read import read_config_text
from app.jobs import FileFailure

# libyaml's loader where it is built in. It composes nodes recursively in C, and PyYAML's own loader in
# Python: a document nested a few thousand levels deep crashes the one and takes seconds to raise
# RecursionError in the other, so the depth is measured first from the event stream, which is flat.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_YAML_DEPTH = 64
PNPM_WORKSPACE = "pnpm-workspace.yaml"

LoadJson = Callable[[str], object]


def find_workspaces(
    root: Path, files: set[str], load_json: LoadJson
) -> tuple[dict[str, str], list[FileFailure]]:
    """Package name -> folder for each workspace package, and the configs that could not be used."""
    failures: list[FileFailure] = []
    patterns = list(_workspace_patterns(root, files, load_json, failures))
    if not patterns:
        return {}, failures
    packages: dict[str, str] = {}
    for manifest in sorted(path for path in files if path.endswith("/package.json")):
        folder = posixpath.dirname(manifest)
        if not _matches_workspace(folder, patterns):
            continue
        document = load_json(manifest)
        name = document.get("name") if isinstance(document, dict) else None
        if isinstance(name, str) and name and name not in packages:
            packages[name] = folder
    return packages, failures


def _workspace_patterns(
    root: Path, files: set[str], load_json: LoadJson, failures: list[FileFailure]
) -> Iterable[str]:
    root_manifest = load_json("package.json")
    if isinstance(root_manifest, dict):
        declared = root_manifest.get("workspaces")
        if isinstance(declared, dict):
            declared = declared.get("packages")
        if isinstance(declared, list):
            yield from (item for item in declared if isinstance(item, str))
    if PNPM_WORKSPACE in files:
        document = _load_yaml(root, PNPM_WORKSPACE, failures)
        declared = document.get("packages") if isinstance(document, dict) else None
        if isinstance(declared, list):
            yield from (item for item in declared if isinstance(item, str))


def _load_yaml(root: Path, path: str, failures: list[FileFailure]) -> object:
    """A YAML config, or None (recorded as the file's failure) when it cannot be read as YAML."""
    text = read_config_text(root / path)
    if not text:
        return None
    try:
        if _yaml_depth(text) <= MAX_YAML_DEPTH:
            return yaml.load(text, Loader=_SafeLoader)
        reason = f"nested deeper than {MAX_YAML_DEPTH} levels"
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        reason = f"not usable as YAML: {describe_exception(exc)}"
    failures.append(FileFailure(path=path, step="config", reason=reason))
    return None


def _yaml_depth(text: str) -> int:
    """How deep the document's collections nest, read from its events (stops past MAX_YAML_DEPTH)."""
    depth = deepest = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_YAML_DEPTH:
                break
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return deepest


def _matches_workspace(folder: str, patterns: list[str]) -> bool:
    included = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/").removeprefix("./")
        if _glob_match(folder, glob):
            included = not negated
    return included


def _glob_match(folder: str, glob: str) -> bool:
    if "**" in glob:
        prefix = glob.split("**", 1)[0].rstrip("/")
        return not prefix or folder == prefix or folder.startswith(prefix + "/")
    return folder.count("/") == glob.count("/") and fnmatch.fnmatchcase(folder, glob)
