"""Property 5, hostile inputs: whatever the configs, sources and file names hold, the graph builder returns a
graph (never an exception) and never opens a file outside the checkout.

Each example is a small checkout in a temp folder with a sibling folder `outside/` holding configs a
resolver could be tricked into reading (`../outside/tsconfig.json`, an absolute path to it). An audit hook
records every file opened while the graph is built; none may be under `outside/`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.generated_repos import write_tree

from app.graph.build import build_graph

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_opened: list[str] | None = None


def _audit(event: str, arguments: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(arguments[0], str | bytes):
        _opened.append(os.fsdecode(arguments[0]))


sys.addaudithook(_audit)


@contextmanager
def checkout(files: dict[str, str | bytes]) -> Iterator[Path]:
    """The files as a checkout beside an `outside/` folder no resolver may read."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        write_tree(
            base / "outside", {"tsconfig.json": '{"extends": "./tsconfig.json"}', "package.json": "{}"}
        )
        yield write_tree(base / "repo", files)


def build_inside(root: Path) -> object:
    """build_graph, asserting that it opened nothing outside `root` (in this process: one worker)."""
    global _opened
    _opened = []
    try:
        graph = build_graph(root, workers=1, file_seconds=5)
    finally:
        opened, _opened = _opened, None
    outside = str(root.parent / "outside")
    assert not [path for path in opened if os.path.realpath(path).startswith(outside)]
    json.dumps(graph.as_dict()).encode("utf-8")  # everything in it can be stored and sent
    # Isolation would hide a resolver or scanner that raises: none may, on any input.
    raised = [item for item in graph.failures if item.step == "resolve" or "failed:" in item.reason]
    assert not raised
    return graph


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Strings a config field is likely to hold, hostile ones included.
config_strings = st.sampled_from(
    ["./a.js", "./src/*", "*", "#x", "#*", "./", ".", "..", "../outside/tsconfig.json", "/etc/passwd",
     "./tsconfig.json", "./base", "src", "./node_modules/x", "lib/*", "packages/*", "!packages/x", "**"]
)  # fmt: skip
CONDITION_NAMES = ["import", "require", "default", "types", "node", "module-sync", "browser", "source"]
config_values = st.recursive(
    st.none() | st.booleans() | st.integers() | config_strings,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(CONDITION_NAMES), children, min_size=1, max_size=4)
        | st.dictionaries(config_strings, children, max_size=3)
    ),
    max_leaves=20,
)
# The maps themselves: keys the sources below import, patterns, folders, hostile keys.
import_maps = st.dictionaries(
    st.sampled_from(["#x", "#*", "#x/*", "#", "#/x", "#x/", "x", ""]), config_values, min_size=1, max_size=4
)
export_maps = config_values | st.dictionaries(
    st.sampled_from([".", "./sub", "./*", "./", "./sub/", "import", "*"]), config_values, max_size=4
)


def as_json5(value: object) -> st.SearchStrategy[str]:
    """The value as JSON, or as JSON5 a person writes: comments, trailing commas, single quotes, bare keys."""
    text = json.dumps(value)
    return st.sampled_from(
        [
            text,
            "// written by hand\n" + text + "\n",
            text.replace('{"', '{ /* c */ "').replace("}", ",}") if text.endswith("}") else text,
            text.replace('"', "'"),
            "\ufeff" + text,
            text[: len(text) // 2],  # cut short
        ]
    )


json5_text = st.text(max_size=60) | st.sampled_from(
    ["{a: 1, b: [Infinity, NaN, 0x1F, +1, .5,],}", "{'x': 'y'}"]
)

SOURCES = {
    "src/a.ts": "import x from '#x';\nimport w from '#x/y';\nimport y from 'lib/b';\nimport z from '@scope/pkg/sub';\nrequire('pkg');\n",
    "src/b.js": "export * from '#*';\nimport('./a.js');\n",
    "lib/b.ts": "",
    "packages/pkg/index.js": "require('#x');\n",
}


@FUZZ
@given(
    root_manifest=json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "imports": import_maps | config_values,
            "exports": export_maps,
            "workspaces": config_values | st.just(["packages/*"]),
            "main": config_values,
        },
    ),
    data=st.data(),
    package_manifest=json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["pkg", "@scope/pkg", ""]) | json_values,
            "exports": export_maps,
            "imports": import_maps | config_values,
            "main": config_values,
        },
    ),
)
def test_property_5_any_package_json_is_tolerated(
    root_manifest: object, package_manifest: object, data: st.DataObject
) -> None:
    files = {
        **SOURCES,
        "package.json": data.draw(as_json5(root_manifest) | json5_text),
        "packages/pkg/package.json": json.dumps(package_manifest),
    }
    with checkout(files) as root:
        graph = build_inside(root)
        assert len(graph.files) == len(SOURCES)


tsconfig_documents = st.fixed_dictionaries(
    {},
    optional={
        "extends": config_values | st.lists(config_strings, max_size=3) | json_values,
        "compilerOptions": json_values
        | st.fixed_dictionaries({}, optional={"paths": config_values, "baseUrl": config_values}),
    },
)


@FUZZ
@given(
    root=tsconfig_documents,
    nested=tsconfig_documents,
    base=tsconfig_documents,
    text=st.sampled_from(
        ["", "{", "// only a comment", "{'a': 1,}", "[1, 2]", "\ufeff{}", "{" * 40 + "}" * 40]
    ),
    data=st.data(),
)
def test_property_5_any_tsconfig_chain_is_tolerated(
    root: object, nested: object, base: object, text: str, data: st.DataObject
) -> None:
    """Extends chains with cycles (a config extending itself or its child), arrays, absolute and outside paths."""
    outside = "../outside/tsconfig.json"
    files = {
        **SOURCES,
        "tsconfig.json": data.draw(as_json5(root)),
        "src/tsconfig.json": data.draw(as_json5(nested)),
        "base.json": data.draw(as_json5(base) | json5_text),
        "broken/tsconfig.json": text,
        "broken/c.ts": "import a from 'src/a';\n",
        "cycle/tsconfig.json": json.dumps({"extends": ["./tsconfig.json", "../src/tsconfig.json", outside]}),
        "cycle/d.ts": "import b from 'lib/b';\n",
    }
    with checkout(files) as root_path:
        (root_path / "abs").mkdir()
        (root_path / "abs" / "tsconfig.json").write_text(
            json.dumps({"extends": str(root_path.parent / "outside" / "tsconfig.json")})
        )
        (root_path / "abs" / "e.ts").write_text("import x from 'x';\n")
        build_inside(root_path)


yaml_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | config_strings,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.just("packages"), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(FUZZ, max_examples=30)  # three documents per example
@given(
    document=yaml_documents,
    raw=st.text(max_size=200),
    depth=st.sampled_from([0, 10, 70, 3000]),
    flow=st.booleans(),
)
def test_property_5_any_pnpm_workspace_is_tolerated(
    document: object, raw: str, depth: int, flow: bool
) -> None:
    nested = ("[" * depth + "]" * depth) if flow else "".join("  " * level + "-\n" for level in range(depth))
    for text in (yaml.safe_dump({"packages": document}), raw, "packages:\n" + nested):
        files = {**SOURCES, "pnpm-workspace.yaml": text, "package.json": "{}"}
        with checkout(files) as root:
            graph = build_inside(root)
            assert all(
                item.step == "config" and item.path == "pnpm-workspace.yaml" for item in graph.isolated
            )


file_names = st.binary(min_size=1, max_size=12).filter(
    lambda name: b"/" not in name and b"\0" not in name and name not in (b".", b"..")
)


@FUZZ
@given(
    sources=st.lists(
        st.tuples(
            file_names, st.sampled_from([b".py", b".js", b".ts", b".tsx", b".mjs"]), st.binary(max_size=300)
        ),
        min_size=1,
        max_size=6,
    ),
    text_source=st.text(max_size=300),
)
def test_property_5_any_bytes_and_file_names_are_tolerated(
    sources: list[tuple[bytes, bytes, bytes]], text_source: str
) -> None:
    with checkout({"pkg/__init__.py": "", "web/t.ts": text_source, "pkg/t.py": text_source}) as root:
        for stem, suffix, data in sources:
            for folder in (b"pkg", b"web"):
                with open(os.path.join(os.fsencode(root), folder, stem + suffix), "wb") as handle:
                    handle.write(data)
        graph = build_inside(root)
        names = set(graph.files) | {item.path for item in graph.skipped}
        assert len(names) >= 3
        assert all(isinstance(path, str) and path.encode("utf-8") for path in names)
