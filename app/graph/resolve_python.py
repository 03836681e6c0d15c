"""Resolve Python imports to files of the repository, with grimp's rules.

Every `.py` file gets a module name from the package it sits in: walking up while the folder has an
`__init__.py` finds the package root, wherever it is (repo root, `src/`, several roots in one repo).
A file outside any package (a script, a test) is a top-level module of its own folder, and is also
reachable under the dotted names of the folders above it (`tests.helpers`), as Python finds them
when the repository root is on the path. Such a plain module is importable by its bare name only
from its own folder (a script's folder is on its path, not on everyone's): `import json` in a
package never means `examples/json.py`.

An imported name resolves as grimp does: relative names are made absolute (in an `__init__.py` one
dot is the package itself); the name is looked up as a module, and failing that its parent is
(`from X import y` names `X.y` if that is a module, else `X`; `import a.b.c` names `a.b.c`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModuleFile:
    path: str
    name: str
    root: str  # the folder that has to be on sys.path for `name` to import
    is_package: bool


@dataclass(frozen=True, slots=True)
class _Candidate:
    path: str
    root: str  # the sys.path entry this name needs
    alias_depth: int  # 0 for the name the file's package gives it, more for each folder prefixed
    # In a package (whose parent is a source root) or at the repository root: importable from
    # anywhere. Otherwise only from files of the same root.
    everywhere: bool


class PythonResolver:
    def __init__(self, python_files: Iterable[str]) -> None:
        paths = sorted(python_files)
        present = set(paths)
        self.modules: dict[str, ModuleFile] = {}
        self._by_name: dict[str, list[_Candidate]] = {}
        for path in paths:
            module = _module_of(path, present)
            self.modules[path] = module
            for candidate_name, candidate in _candidates_of(module):
                self._by_name.setdefault(candidate_name, []).append(candidate)
        # Most answers do not depend on where the import is written: those are kept by name alone.
        self._anywhere: dict[str, str | None] = {}
        self._absolute_names: dict[tuple[str, str], str | None] = {}
        self._by_folder: dict[tuple[str, str], str | None] = {}

    def resolve(self, importer: str, module: str, member: str | None) -> str | None:
        """The file an import in `importer` names: `module` with its dots, `member` after `import`."""
        name = module if member is None else _join(module, member)
        if name.startswith("."):
            relative = (importer, name)
            if relative not in self._absolute_names:
                self._absolute_names[relative] = self._absolute(self.modules[importer], name)
            name = self._absolute_names[relative]
            if name is None:
                return None
        if name in self._anywhere:
            return self._anywhere[name]
        key = (importer.rpartition("/")[0], name)  # files of one folder share one root
        if key not in self._by_folder:
            found, everywhere_same = self._find(name, importer)
            if everywhere_same:
                self._anywhere[name] = found
            self._by_folder[key] = found
        return self._by_folder[key]

    def _find(self, name: str, importer: str) -> tuple[str | None, bool]:
        """`name` as a module, else its parent, among the files `importer` can import it from;
        and whether any other importer would get the same answer."""
        root = self.modules[importer].root
        same_everywhere = True
        for candidate in (name, name.rsplit(".", 1)[0]) if "." in name else (name,):
            found = self._by_name.get(candidate, ())
            usable = [item for item in found if item.everywhere or item.root == root]
            same_everywhere = same_everywhere and len(usable) == len(found) and len(found) <= 1
            if len(usable) == 1:
                return usable[0].path, same_everywhere
            if usable:
                return min(usable, key=lambda item: _preference(item, root, importer)).path, False
        return None, same_everywhere

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


def _candidates_of(module: ModuleFile) -> list[tuple[str, _Candidate]]:
    """The module's own name, then the dotted names that prefix the folders above its root."""
    if not module.name:
        return []
    in_package = module.is_package or "." in module.name
    found = [(module.name, _Candidate(module.path, module.root, 0, in_package or not module.root))]
    folders = module.root.split("/") if module.root else []
    name = module.name
    for depth in range(1, len(folders) + 1):
        folder = folders[-depth]
        if not folder.isidentifier():
            break
        name = f"{folder}.{name}"
        root = "/".join(folders[:-depth])
        found.append((name, _Candidate(module.path, root, depth, not root)))
    return found


def _preference(candidate: _Candidate, root: str, importer: str) -> tuple[int, int, int, str]:
    """Same sys.path root first, the file's own name over a folder-prefixed one, then nearest."""
    shared = len(posixpath.commonpath([candidate.path, importer]))
    return (0 if candidate.root == root else 1, candidate.alias_depth, -shared, candidate.path)


def _join(module: str, member: str) -> str:
    return module + member if module.endswith(".") else f"{module}.{member}"
