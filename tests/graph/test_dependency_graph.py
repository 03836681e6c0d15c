"""End to end: generated git repositories are cloned into a job workspace and turned into graphs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.generated_repos import make_git_repo, write_tree

from app.graph.build import DependencyGraph, build_graph
from app.graph.parse import ParseStatus
from app.worker.clone import ClonedRepo, clone_repository
from app.worker.workspace import job_workspace

PYTHON_PROJECT = {
    "src/shop/__init__.py": "from .cart import Cart\nfrom . import models\n",
    "src/shop/cart.py": (
        "import shop.models.item\n"
        "from shop.models import price as p\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from shop.models.item import Item\n"
        "def total():\n"
        "    try:\n"
        "        from .discounts import apply\n"
        "    except ImportError:\n"
        "        apply = None\n"
    ),
    "src/shop/discounts.py": "from .models import *\n",
    "src/shop/models/__init__.py": "",
    "src/shop/models/item.py": "from ..cart import Cart\n",
    "src/shop/models/price.py": '"""import shop.cart"""\n',
    "tests/helpers.py": "",
    "tests/test_cart.py": "import helpers\nfrom shop.cart import Cart\nimport os, json\n",
}
PYTHON_EDGES = {
    ("src/shop/__init__.py", "src/shop/cart.py"),
    ("src/shop/__init__.py", "src/shop/models/__init__.py"),
    ("src/shop/cart.py", "src/shop/models/item.py"),
    ("src/shop/cart.py", "src/shop/models/price.py"),
    ("src/shop/cart.py", "src/shop/discounts.py"),
    ("src/shop/discounts.py", "src/shop/models/__init__.py"),
    ("src/shop/models/item.py", "src/shop/cart.py"),
    ("tests/test_cart.py", "tests/helpers.py"),
    ("tests/test_cart.py", "src/shop/cart.py"),
}
JS_PROJECT = {
    "package.json": json.dumps({"workspaces": ["packages/*"]}),
    "tsconfig.json": json.dumps(
        {"compilerOptions": {"baseUrl": ".", "paths": {"~/*": ["packages/app/src/*"]}}}
    ),
    "packages/lib/package.json": json.dumps({"name": "@demo/lib", "main": "index.js"}),
    "packages/lib/index.js": "module.exports = require('./impl.cjs');\n",
    "packages/lib/impl.cjs": "exports.x = 1;\n",
    "packages/app/src/main.ts": (
        "import lib from '@demo/lib';\n"
        "import type { Model } from './model.js';\n"
        "export * from './reexport';\n"
        "import cfg = require('~/config');\n"
        "const lazy = () => import('./lazy');\n"
        "import { helper } from './util';\n"
    ),
    "packages/app/src/model.ts": "export interface Model {}\n",
    "packages/app/src/reexport.ts": "export const r = 1;\n",
    "packages/app/src/config.ts": "export = {};\n",
    "packages/app/src/lazy.tsx": "export default () => <div />;\n",
    "packages/app/src/util/index.ts": "export const helper = 1;\n",
}
JS_EDGES = {
    ("packages/lib/index.js", "packages/lib/impl.cjs"),
    ("packages/app/src/main.ts", "packages/lib/index.js"),
    ("packages/app/src/main.ts", "packages/app/src/model.ts"),
    ("packages/app/src/main.ts", "packages/app/src/reexport.ts"),
    ("packages/app/src/main.ts", "packages/app/src/config.ts"),
    ("packages/app/src/main.ts", "packages/app/src/lazy.tsx"),
    ("packages/app/src/main.ts", "packages/app/src/util/index.ts"),
}


def clone_and_build(
    source: Path, workspace_root: Path, **options: object
) -> tuple[ClonedRepo, DependencyGraph]:
    with job_workspace(workspace_root) as workspace:
        cloned = clone_repository(
            str(source), workspace / "repo", timeout_s=60, max_bytes=1 << 30, allow_local=True
        )
        return cloned, build_graph(cloned.path, **options)


def test_every_import_form_through_the_whole_pipeline(tmp_path: Path) -> None:
    source = make_git_repo(tmp_path / "origin", {**PYTHON_PROJECT, **JS_PROJECT})
    cloned, graph = clone_and_build(source, tmp_path / "jobs")
    assert len(cloned.commit) == 40
    assert graph.files == sorted(
        {**PYTHON_PROJECT, **JS_PROJECT}.keys()
        - {"package.json", "tsconfig.json"}
        - {path for path in JS_PROJECT if path.endswith("package.json")}
    )
    assert {(edge.src, edge.dst) for edge in graph.edges} == PYTHON_EDGES | JS_EDGES
    by_pair = {(edge.src, edge.dst): edge for edge in graph.edges}
    assert by_pair[("packages/app/src/main.ts", "packages/app/src/model.ts")].type_only
    assert by_pair[("packages/app/src/main.ts", "packages/app/src/config.ts")].kinds == ("import-equals",)
    assert by_pair[("packages/app/src/main.ts", "packages/app/src/lazy.tsx")].kinds == ("dynamic-import",)
    assert by_pair[("src/shop/cart.py", "src/shop/models/item.py")].kinds == ("from", "import")
    assert by_pair[("src/shop/cart.py", "src/shop/models/item.py")].kind == "import"
    assert not by_pair[("src/shop/cart.py", "src/shop/models/item.py")].type_only
    assert not list((tmp_path / "jobs").iterdir())  # property 14


def test_graph_outputs(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "repo", {"a.py": "import b\n", "b.py": "import c\n", "c.py": "", 'q"uote.py': ""}
    )
    graph = build_graph(root)
    index = graph.edge_index()
    assert index.dtype == np.int64 and index.shape == (2, 2)
    assert [[graph.files[i] for i in column] for column in index.T.tolist()] == [
        ["a.py", "b.py"],
        ["b.py", "c.py"],
    ]
    document = json.loads(graph.to_json())
    assert document["files"] == ["a.py", "b.py", "c.py", 'q"uote.py'] and document["edges"] == [
        ["a.py", "b.py"],
        ["b.py", "c.py"],
    ]
    dot = graph.to_dot()
    assert dot.startswith("digraph") and '"a.py" -> "b.py";' in dot and '"q\\"uote.py";' in dot


def test_empty_repository(tmp_path: Path) -> None:
    source = make_git_repo(tmp_path / "origin", {})
    cloned, graph = clone_and_build(source, tmp_path / "jobs")
    assert cloned.commit is None
    assert graph.files == [] and graph.edges == [] and graph.edge_index().shape == (2, 0)
    assert not list((tmp_path / "jobs").iterdir())


def test_hostile_repository_completes_reading_nothing_outside(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.py": "import leaked\n", "leaked.py": ""})
    deep = 10_000
    files: dict[str, str | bytes] = {
        "x.js/index.py": "import ok\n",
        "ok.py": "",
        "bad_utf8.py": b"import ok\n\xff\xfe\xfd not text\n",
        "bad_utf8.js": b"require('./ok')\n\xff\xfe\n",
        "deep.py": "import ok\nx = " + "(" * deep + "1" + ")" * deep + "\n",
        # Deep but not one long line (that would count as minified): 50 brackets a line.
        "deep.js": "const ok = require('./target');\nconst x = "
        + ("[" * 50 + "\n") * (deep // 50)
        + "]" * deep
        + ";\n",
        "target.js": "",
        "blob.js": b"\x00\x01binary" * 100,
        "mini.js": "var a=1;" * 2000,
    }
    source = make_git_repo(tmp_path / "origin", files)
    os.symlink("/etc/passwd", source / "passwd.py")
    os.symlink(outside, source / "outside_dir", target_is_directory=True)
    os.symlink(outside / "secret.py", source / "secret_link.py")
    with open(source / "huge.py", "wb") as handle:
        handle.write(b"import ok\n" + b"#" * (50 * 1024 * 1024))
    subprocess.run(["git", "-C", str(source), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(source), "commit", "-qm", "hostile"],
        check=True,
    )

    opened: list[str] = []

    def audit(event: str, arguments: tuple) -> None:
        if event == "open" and isinstance(arguments[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(arguments[0]))

    sys.addaudithook(audit)
    _cloned, graph = clone_and_build(
        source, tmp_path / "jobs", workers=1
    )  # in-process, so the hook sees it all
    clone_root = str(tmp_path / "jobs")
    assert not [path for path in opened if path.startswith(str(tmp_path)) and not path.startswith(clone_root)]
    assert "/etc/passwd" not in opened
    assert "x.js/index.py" in graph.files and "ok.py" in graph.files
    assert not any(path.startswith(("outside_dir", "secret", "passwd", "huge")) for path in graph.files)
    status = {item.path: item.status for item in graph.info.values()}
    assert status["bad_utf8.py"] is ParseStatus.FAILED and status["bad_utf8.js"] is ParseStatus.FAILED
    assert {item.path for item in graph.parse_failures} >= {"bad_utf8.py", "bad_utf8.js"}
    assert ("deep.py", "ok.py") in {(edge.src, edge.dst) for edge in graph.edges}
    assert ("deep.js", "target.js") in {(edge.src, edge.dst) for edge in graph.edges}
    skipped = {item.path: item.reason for item in graph.skipped}
    assert skipped["blob.js"] == "binary file" and skipped["mini.js"] == "minified bundle"
    assert "larger than" in skipped["huge.py"]
    assert not list((tmp_path / "jobs").iterdir())


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_is_reported_as_parsing_advances(tmp_path: Path, workers: int) -> None:
    files = {
        f"pkg/m{index}.py": f"from pkg import m{index + 1}\n" + "x = 1\n" * 20_000 for index in range(40)
    }
    root = write_tree(tmp_path / "repo", {"pkg/__init__.py": "", **files})
    calls: list[tuple[int, int]] = []
    graph = build_graph(root, progress=lambda done, total: calls.append((done, total)), workers=workers)
    assert calls[0] == (0, 41) and calls[-1] == (41, 41)
    assert len(calls) > 2 and all(a[0] <= b[0] for a, b in itertools.pairwise(calls))
    # m39 imports pkg.m40, which does not exist: the edge goes to the package, as grimp has it.
    assert len(graph.edges) == 40 and ("pkg/m39.py", "pkg/__init__.py") in {
        (e.src, e.dst) for e in graph.edges
    }


@pytest.mark.parametrize("output", ["--json", "--dot"])
def test_cli(tmp_path: Path, output: str) -> None:
    root = write_tree(tmp_path / "repo", {"a.py": "import b\n", "b.py": ""})
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "graph", str(root), output],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    if output == "--json":
        document = json.loads(result.stdout)
        assert document["files"] == ["a.py", "b.py"] and document["edges"] == [["a.py", "b.py"]]
    else:
        assert '"a.py" -> "b.py";' in result.stdout


def test_a_coding_cookie_is_honoured(tmp_path: Path) -> None:
    latin = "# -*- coding: latin-1 -*-\nimport b\nname = 'café'\n".encode("latin-1")
    root = write_tree(tmp_path / "repo", {"a.py": latin, "b.py": "", "c.py": b"import b\nx = '\xe9'\n"})
    graph = build_graph(root)
    assert graph.info["a.py"].status is ParseStatus.OK
    assert graph.info["c.py"].status is ParseStatus.FAILED  # no cookie, not UTF-8
    assert {(edge.src, edge.dst) for edge in graph.edges} == {("a.py", "b.py")}
