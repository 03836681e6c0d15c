"""Resolve Python imports to files of the repository, with grimp's rules.

Every `.py` file gets a module name from the package it sits in: walking up while the folder has an
`__init__.py` finds the package root, wherever it is (repo root, `src/`, several roots in one repo).
A file outside any package (a script, a test) is a top-level module of its own folder, and is also
reachable under the dotted names of the folders above it (`tests.helpers`), as Python finds them
when the repository root is on the path.

An imported name resolves as grimp does: relative names are made absolute (in an `__init__.py` one
dot is the package itself); the name is looked up as a module, and failing that its parent is
(`from X import y` names `X.y` if that is a module, else `X`; `import a.b.c` names `a.b.c`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

_UNKNOWN = object()
_AMBIGUOUS = object()


@dataclass(frozen=True, slots=True)
class ModuleFile:
    path: str
    name: str
    root: str  # the folder that has to be on sys.path for `name` to import
    is_package: bool


@dataclass(frozen=True, slots=True)
class _Candidate:
    path: str
    root: str
    alias_depth: int  # 0 for the name the file's package gives it, more for each folder prefixed


class PythonResolver:
    def __init__(self, python_files: Iterable[str]) -> None:
        paths = sorted(python_files)
        present = set(paths)
        self.modules: dict[str, ModuleFile] = {}
        self._by_name: dict[str, list[_Candidate]] = {}
        for path in paths:
            module = _module_of(path, present)
            self.modules[path] = module
            for depth, name in enumerate(_names_of(module)):
                self._by_name.setdefault(name, []).append(_Candidate(path, module.root, depth))
        # Answers that do not depend on the importer, by absolute name.
        self._unique: dict[str, object] = {}

    def resolve(self, importer: str, module: str, member: str | None) -> str | None:
        """The file an import in `importer` names: `module` with its dots, `member` after `import`."""
        name = module if member is None else _join(module, member)
        if name.startswith("."):
            name = self._absolute(self.modules[importer], name)
            if name is None:
                return None
        found = self._unique.get(name, _UNKNOWN)
        if found is _UNKNOWN:
            found = self._unique[name] = self._find(name, None)
        if found is _AMBIGUOUS:
            return self._find(name, importer)
        return found

    def _find(self, name: str, importer: str | None) -> str | None:
        """`name` as a module, else its parent. With no importer, say whether the answer depends on it."""
        for candidate in (name, name.rsplit(".", 1)[0]) if "." in name else (name,):
            found = self._by_name.get(candidate)
            if found:
                if len(found) == 1:
                    return found[0].path
                if importer is None:
                    return _AMBIGUOUS
                root = self.modules[importer].root
                return min(found, key=lambda item: _preference(item, root, importer)).path
        return None

    def _absolute(self, importer: ModuleFile, name: str) -> str | None:
        dots = len(name) - len(name.lstrip("."))
        parts = importer.name.split(".")
        keep = len(parts) - dots + (1 if importer.is_package else 0)
        if keep <= 0:
            return None
        rest = name[dots:]
        return ".".join(parts[:keep] + ([rest] if rest else []))


def _module_of(path: str, present: set[str]) -> ModuleFile:
    folders = path.split("/")[:-1]
    stem = posixpath.basename(path)[:-3]
    top = len(folders)
    while top > 0 and "/".join([*folders[:top], "__init__.py"]) in present:
        top -= 1
    package = folders[top:]
    is_package = stem == "__init__"
    parts = package if is_package else [*package, stem]
    return ModuleFile(path, ".".join(parts), "/".join(folders[:top]), is_package)


def _names_of(module: ModuleFile) -> list[str]:
    """The module's own name, then the dotted names that prefix the folders above its root."""
    if not module.name:
        return []
    names = [module.name]
    prefix = module.name
    for folder in reversed(module.root.split("/") if module.root else []):
        if not folder.isidentifier():
            break
        prefix = f"{folder}.{prefix}"
        names.append(prefix)
    return names


def _preference(candidate: _Candidate, root: str, importer: str) -> tuple[int, int, int, str]:
    """Same sys.path root first, the file's own name over a folder-prefixed one, then nearest."""
    shared = len(posixpath.commonpath([candidate.path, importer]))
    return (0 if candidate.root == root else 1, candidate.alias_depth, -shared, candidate.path)


def _join(module: str, member: str) -> str:
    return module + member if module.endswith(".") else f"{module}.{member}"
