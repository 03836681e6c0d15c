"""Graphviz DOT text for a file dependency graph."""

from __future__ import annotations

import json
from collections.abc import Iterable


def render_dot(
    files: Iterable[str], edges: Iterable[tuple[str, str, bool]], name: str = "dependencies"
) -> str:
    """`edges` are (source, target, type_only); type-only imports are drawn dashed."""
    lines = [f"digraph {_quote(name)} {{", "  node [shape=box];"]
    lines += [f"  {_quote(path)};" for path in files]
    for src, dst, type_only in edges:
        style = ' [style="dashed"]' if type_only else ""
        lines.append(f"  {_quote(src)} -> {_quote(dst)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    # A JSON string is a valid DOT quoted string: the same escapes for quotes, backslashes and controls.
    return json.dumps(text)
