"""Graphviz DOT text for a file dependency graph, whole or as a view (`app.graphview.view`)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from app.graphview.view import GraphView


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


def render_view_dot(view: GraphView, name: str = "dependencies") -> str:
    """A focused or collapsed view: folders drawn as folders with their file count, focused files filled,
    merged edges labelled with how many imports they stand for."""
    lines = [f"digraph {_quote(name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for node in view.nodes:
        attributes = []
        if node.kind == "folder":
            count = f"{node.files} file" + ("" if node.files == 1 else "s")
            attributes += ["shape=folder", f"label={_quote(f'{node.name} ({count})')}"]
        if node.relation == "focus":
            attributes += ["style=filled", 'fillcolor="#ffe9a8"']
        lines.append(f"  {_quote(node.name)}" + (f" [{', '.join(attributes)}]" if attributes else "") + ";")
    for edge in view.edges:
        attributes = ['style="dashed"'] if edge.type_only else []
        if edge.count > 1:
            attributes.append(f"label={_quote(str(edge.count))}")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {_quote(edge.src)} -> {_quote(edge.dst)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"
