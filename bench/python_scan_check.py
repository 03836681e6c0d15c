"""Check the fast Python import scan against CPython's own parser on real files.

    python bench/python_scan_check.py CHECKOUT_DIR...

For every `.py` file that CPython can parse, the imports found by `scan_python` (the statement
scan that parses only import statements with tree-sitter) must equal those of `ast.parse`: same
names, same `from` members, same lines, same type-only flag (`if TYPE_CHECKING:` body).
`from __future__ import …` is a compiler directive, not a dependency, and is left out on both sides.
Prints the totals and the first files that differ.
"""

from __future__ import annotations

import ast
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.pipeline.python_imports import new_parser, scan_python


def imports_by_ast(tree: ast.Module) -> set[tuple[str, str | None, int, bool]]:
    guards = [
        (node.body[0].lineno, node.body[-1].end_lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        )
    ]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and getattr(node, "module", None) != "__future__":
            guarded = any(start <= node.lineno <= end for start, end in guards)
            module = None if isinstance(node, ast.Import) else "." * node.level + (node.module or "")
            for alias in node.names:
                item = (alias.name, None) if module is None else (module, alias.name)
                found.add((*item, node.lineno, guarded))
    return found


def main() -> int:
    warnings.simplefilter("ignore")  # invalid escape sequences in old files
    parser = new_parser()
    files = imports = differing = 0
    for folder in sys.argv[1:]:
        for path in sorted(Path(folder).rglob("*.py")):
            if "node_modules" in path.parts or not path.is_file():
                continue
            data = path.read_bytes()
            try:
                tree = ast.parse(data)
            except (SyntaxError, ValueError):
                continue
            expected = imports_by_ast(tree)
            found = {
                (item.module, item.member, item.line, item.type_only)
                for item in scan_python(data, parser).imports
            }
            files += 1
            imports += len(expected)
            if found != expected:
                differing += 1
                if differing <= 10:
                    print(
                        f"{path}: missing {sorted(expected - found)[:3]} extra {sorted(found - expected)[:3]}"
                    )
    print(f"{files} files, {imports} imported names, {differing} files where the scan differs from ast")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
