"""JS/TS scanning cost on deeply nested files with many call sites: the scanner against the per-site query.

The reference is the way calls were found before the one-walk scanner: for every `require(`/`import(`
the calls query runs on the byte range of that site, each run descending from the root, so the cost grew
with call sites x nesting depth. Both run here on the same generated files, in the same process.

    python bench/js_scan_depth.py                # default shapes, 3 runs each
    flock /tmp/neo-bench.lock python bench/js_scan_depth.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import tree_sitter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.graph.discover import Language
from app.graph.js_imports import JsScanner

_REFERENCE_CALLS = """
(call_expression
  function: (identifier) @_require
  arguments: (arguments . [(string) (template_string)] @require)
  (#eq? @_require "require"))
(call_expression function: (import) arguments: (arguments . [(string) (template_string)] @dynamic-import))
"""
_REFERENCE_SITES = re.compile(rb"\b(?:require|import)\s*\(\s*")


def nested_file(depth: int, calls_per_level: int) -> bytes:
    """`depth` nested functions, each opening with `calls_per_level` require() calls."""
    lines = []
    for level in range(depth):
        lines.append(f"function f{level}() {{\n")
        lines += [f"require('./m{level % 50}');\n"] * calls_per_level
    lines.append("}\n" * depth)
    return "".join(lines).encode()


def reference_calls(scanner: JsScanner, data: bytes) -> int:
    """The per-site query of the previous scanner: the number of literal calls it finds."""
    query = tree_sitter.Query(scanner.parser.language, _REFERENCE_CALLS)
    root = scanner.parser.parse(data).root_node
    cursor = tree_sitter.QueryCursor(query)
    found = set()
    for site in _REFERENCE_SITES.finditer(data):
        cursor.set_byte_range(site.start(), site.end() + 1)
        for kind, nodes in cursor.captures(root).items():
            if not kind.startswith("_"):
                found.update(node.start_byte for node in nodes)
    return len(found)


def timed(function: object, *args: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--reference-limit",
        type=float,
        default=50.0,
        help="skip the reference above this many million depth x site steps",
    )
    arguments = parser.parse_args()
    scanner = JsScanner(Language.JAVASCRIPT)
    shapes = [(200, 10), (1000, 10), (2000, 10), (5000, 4), (30_000, 1)]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(
        f"{'depth':>7} {'calls':>7} {'KB':>6} {'scanner s':>10} {'found':>7} {'reference s':>12} {'found':>7} {'ratio':>7}"
    )
    for depth, per_level in shapes:
        data = nested_file(depth, per_level)
        ours = min(timed(scanner.scan, data)[0] for _ in range(arguments.runs))
        found = sum(1 for item in scanner.scan(data).imports if item.kind == "require")
        reference_text = found_text = ratio = "-"
        if depth * depth * per_level <= arguments.reference_limit * 1e6:
            seconds, count = timed(reference_calls, scanner, data)
            reference_text, found_text, ratio = f"{seconds:.2f}", str(count), f"{seconds / ours:.0f}x"
        print(
            f"{depth:>7} {depth * per_level:>7} {len(data) / 1024:>6.0f} {ours:>10.3f} {found:>7}"
            f" {reference_text:>12} {found_text:>7} {ratio:>7}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
