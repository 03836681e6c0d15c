"""One bad file, import or config never ends the graph: it is recorded against that file and the build goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.generated_repos import write_tree

from app.errors import ParseError
from app.graph import build as build_module
from app.graph.build import build_graph
from app.graph.js_imports import JsScanner
from app.graph.parse import ParseStatus
from app.graph.resolve_js import JsResolver

PROJECT = {
    "src/main.ts": "import { a } from './a';\nimport { b } from './b';\n",
    "src/a.ts": "export const a = 1;\n",
    "src/b.ts": "import { a } from './a';\nexport const b = a;\n",
    "src/crash.ts": "import { a } from './a'; // BOOM\n",
}


def edges_of(root: Path, **options: object) -> tuple[set[tuple[str, str]], object]:
    graph = build_graph(root, workers=1, **options)
    return {(edge.src, edge.dst) for edge in graph.edges}, graph


def test_a_scanner_exception_fails_that_file_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scan = JsScanner.scan

    def scan_or_raise(self: JsScanner, data: bytes, deadline: float | None = None) -> object:
        if b"BOOM" in data:  # a scanner bug that one file's bytes set off
            raise IndexError("tuple index out of range")
        return scan(self, data, deadline)

    monkeypatch.setattr(JsScanner, "scan", scan_or_raise)
    edges, graph = edges_of(write_tree(tmp_path, PROJECT))
    assert edges == {("src/main.ts", "src/a.ts"), ("src/main.ts", "src/b.ts"), ("src/b.ts", "src/a.ts")}
    assert "src/crash.ts" in graph.files
    [failure] = graph.failures
    assert (failure.path, failure.step, failure.status) == ("src/crash.ts", "parse", "failed")
    assert failure.reason == "scanning failed: IndexError: tuple index out of range"


def test_a_resolver_exception_fails_that_import_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resolve = JsResolver.resolve

    def resolve_or_raise(self: JsResolver, importer: str, specifier: str) -> str | None:
        if importer == "src/main.ts" and specifier == "./b":
            raise IndexError("tuple index out of range")
        return resolve(self, importer, specifier)

    monkeypatch.setattr(JsResolver, "resolve", resolve_or_raise)
    edges, graph = edges_of(write_tree(tmp_path, PROJECT))
    assert edges == {("src/main.ts", "src/a.ts"), ("src/b.ts", "src/a.ts"), ("src/crash.ts", "src/a.ts")}
    [failure] = graph.failures
    assert (failure.path, failure.step, failure.specifier) == ("src/main.ts", "resolve", "./b")
    assert failure.describe() == "src/main.ts, import './b' (resolve): IndexError: tuple index out of range"
    assert graph.as_dict()["failures"][0]["specifier"] == "./b"


def test_a_deeply_nested_pnpm_workspace_is_a_config_failure(tmp_path: Path) -> None:
    depth = 5000  # PyYAML's loaders recurse per level: RecursionError, or a crash in libyaml's
    files = {
        "pnpm-workspace.yaml": "packages:\n  - " + "[" * depth + "]" * depth + "\n",
        "package.json": json.dumps({"workspaces": ["packages/*"]}),
        "packages/lib/package.json": json.dumps({"name": "lib", "main": "index.js"}),
        "packages/lib/index.js": "",
        "app.js": "require('lib');\n",
    }
    edges, graph = edges_of(write_tree(tmp_path, files))
    assert edges == {("app.js", "packages/lib/index.js")}  # the package.json workspaces still count
    [failure] = graph.failures
    assert (failure.path, failure.step) == ("pnpm-workspace.yaml", "config")
    assert failure.reason == "nested deeper than 64 levels"


def test_a_file_past_its_deadline_is_partial_with_what_was_read(tmp_path: Path) -> None:
    body = "".join(f"const m{n} = require('./a');\n" for n in range(20_000))
    files = {"src/a.js": "", "src/big.js": "const first = require('./a');\n" + body}
    edges, graph = edges_of(write_tree(tmp_path, files), file_seconds=1e-6)
    [failure] = graph.failures
    assert (failure.path, failure.step, failure.status) == ("src/big.js", "parse", "partial")
    assert "PARSE_FILE_SECONDS" in failure.reason
    assert graph.info["src/big.js"].status is ParseStatus.PARTIAL
    edges, graph = edges_of(tmp_path, file_seconds=60)
    assert edges == {("src/big.js", "src/a.js")} and graph.failures == []


def test_names_that_are_not_utf8_are_shown_escaped(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/bad\udcffname.py": "from pkg import good\n",  # b"bad\xffname.py" on disk
        "pkg/good.py": "",
        "web/caf\udce9.js": "require('./util');\n",
        "web/util.js": "",
    }
    edges, graph = edges_of(write_tree(tmp_path, files))
    assert "pkg/bad\\xffname.py" in graph.files and "web/caf\\xe9.js" in graph.files
    assert edges == {("pkg/bad\\xffname.py", "pkg/good.py"), ("web/caf\\xe9.js", "web/util.js")}
    json.dumps(graph.as_dict()).encode("utf-8")  # every name can be stored and sent


def test_an_escaped_name_that_is_another_files_name_is_skipped(tmp_path: Path) -> None:
    files = {"a\udcff.py": "import b\n", "a\\xff.py": "import b\n", "b.py": ""}
    _, graph = edges_of(write_tree(tmp_path, files))
    assert graph.files == ["a\\xff.py", "b.py"]
    assert {item.path: item.reason for item in graph.skipped} == {
        "a\\xff.py": "its escaped name is another file's name"
    }


def test_a_failure_outside_any_file_names_the_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> object:
        raise IndexError("tuple index out of range")

    monkeypatch.setattr(build_module, "_assemble", broken)
    with pytest.raises(ParseError, match=r"while assembling the graph: IndexError: tuple index out of range"):
        build_graph(write_tree(tmp_path, PROJECT), workers=1)
