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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.python_ast_imports import imports_by_python_ast

from app.graph.python_imports import new_parser, scan_python


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
            expected = imports_by_python_ast(tree, skip_future=True)
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
