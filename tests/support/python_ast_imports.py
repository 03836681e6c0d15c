"""The imports CPython's own parser sees in a source: the oracle the fast import scan is checked against."""

from __future__ import annotations

import ast

Import = tuple[str, str | None, int, bool]  # module, `from` member, line, under `if TYPE_CHECKING:`


def imports_by_python_ast(tree: ast.Module, *, skip_future: bool = False) -> set[Import]:
    guards = [
        (node.body[0].lineno, node.body[-1].end_lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        )
    ]
    found: set[Import] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if skip_future and getattr(node, "module", None) == "__future__":
            continue
        guarded = any(start <= node.lineno <= end for start, end in guards)
        module = None if isinstance(node, ast.Import) else "." * node.level + (node.module or "")
        for alias in node.names:
            item = (alias.name, None) if module is None else (module, alias.name)
            found.add((*item, node.lineno, guarded))
    return found
