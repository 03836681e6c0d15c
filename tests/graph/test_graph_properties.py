"""Property 5 on generated repositories: every source file is a node, and each import its edge."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.generated_repos import write_tree

from app.graph.build import build_graph
from app.graph.discover import discover_sources

PYTHON_FORMS = (
    "import pkg.{name}\n",
    "from pkg import {name}\n",
    "from . import {name}\n",
    "from .{name} import Thing\n",
    "def f():\n    import pkg.{name} as alias\n",
    "if TYPE_CHECKING:\n    from pkg.{name} import Thing\n",
    "try:\n    from pkg import (\n        {name},\n    )\nexcept ImportError:\n    pass\n",
)
PYTHON_NOISE = ('"""\nimport pkg.{name}\n"""\n', "# from pkg import {name}\n", "x = 'import pkg.{name}'\n")
JS_FORMS = (
    "import x from './{name}';\n",
    "export * from './{name}.js';\n",
    "const a = require('./{name}');\n",
    "const lazy = () => import('./{name}');\n",
    "import type {{ T }} from './{name}';\n",
)
JS_NOISE = ("// import x from './{name}';\n", "const s = \"require('./{name}')\";\n")


@st.composite
def repositories(draw: st.DrawFn) -> tuple[dict[str, str], set[tuple[str, str]]]:
    python_count = draw(st.integers(min_value=0, max_value=6))
    js_count = draw(st.integers(min_value=0 if python_count else 1, max_value=6))
    python = [f"pkg/m{index}.py" for index in range(python_count)]
    js = [f"web/f{index}.{draw(st.sampled_from(['js', 'ts', 'mjs']))}" for index in range(js_count)]
    files: dict[str, str] = {"pkg/__init__.py": ""} if python else {}
    expected: set[tuple[str, str]] = set()
    for path in python:
        lines = []
        for target in draw(st.lists(st.sampled_from(python), max_size=4)):
            name = Path(target).stem
            lines.append(draw(st.sampled_from(PYTHON_FORMS)).format(name=name))
            if target != path:
                expected.add((path, target))
            lines.append(draw(st.sampled_from(PYTHON_NOISE)).format(name=name))
        files[path] = "".join(lines)
    for path in js:
        lines = []
        for target in draw(st.lists(st.sampled_from(js), max_size=4)):
            name = Path(target).stem
            form = draw(st.sampled_from(JS_FORMS if path.endswith(".ts") else JS_FORMS[:4]))
            if form.startswith("export * from") and not target.endswith(".ts"):
                form = form.replace(".js'", "'")  # a .js specifier names a .ts source only
            lines.append(form.format(name=name))
            if target != path:
                expected.add((path, target))
            lines.append(draw(st.sampled_from(JS_NOISE)).format(name=name))
        files[path] = "".join(lines)
    return files, expected


@pytest.mark.property
@settings(max_examples=100, deadline=None)
@given(repository=repositories())
def test_property_5_every_source_file_is_a_node_and_every_import_an_edge(
    repository: tuple[dict[str, str], set[tuple[str, str]]],
) -> None:
    files, expected = repository
    root = Path(tempfile.mkdtemp(prefix="property-5-"))
    try:
        write_tree(root, files)
        sources = [source.path for source in discover_sources(root).files]
        graph = build_graph(root, workers=1)
        assert sorted(files) == sources
        assert graph.files == sources  # every source file is a node: at least as many nodes as files
        assert len(graph.files) >= len(sources)
        assert {(edge.src, edge.dst) for edge in graph.edges} == expected
        assert len({(edge.src, edge.dst) for edge in graph.edges}) == len(graph.edges)  # deduplicated
        assert graph.edge_index().shape == (2, len(graph.edges))
    finally:
        shutil.rmtree(root)
