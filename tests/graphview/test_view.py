"""Views of a file graph: filters, focus and depth, collapse — dependency-cruiser's semantics."""

from __future__ import annotations

import pytest

from app.errors import InvalidOption, UnknownFile
from app.graphview.view import ViewOptions, build_view, collapsed_name

FILES = [
    "src/a/one.py",
    "src/a/two.py",
    "src/b/deep/three.py",
    "src/b/four.py",
    "main.py",
    "tests/test_one.py",
]
EDGES = [("main.py", "src/a/one.py", False), ("src/a/one.py", "src/b/deep/three.py", False),
         ("src/a/one.py", "src/b/four.py", True), ("src/a/two.py", "src/a/one.py", False),
         ("src/b/deep/three.py", "main.py", False), ("tests/test_one.py", "src/a/one.py", False)]  # fmt: skip


def test_collapsed_name_follows_dependency_cruiser() -> None:
    assert collapsed_name("src/a/b/c.py", 2) == "src/a/"
    assert collapsed_name("src/a.py", 2) == "src/a.py"
    assert collapsed_name("src/a/b.py", 1) == "src/"
    assert collapsed_name("src/a/b.py", None) == "src/a/b.py"


def test_focus_keeps_the_neighbours_within_depth_with_their_relation() -> None:
    view = build_view(FILES, EDGES, ViewOptions(focus=("src/a/one.py",), depth=1))
    relations = {node.name: (node.distance, node.relation) for node in view.nodes}
    assert relations == {
        "src/a/one.py": (0, "focus"), "main.py": (1, "dependent"), "src/a/two.py": (1, "dependent"),
        "tests/test_one.py": (1, "dependent"), "src/b/deep/three.py": (1, "dependency"),
        "src/b/four.py": (1, "dependency"),
    }  # fmt: skip
    assert view.cycles == [["main.py", "src/a/one.py", "src/b/deep/three.py"]]
    alone = build_view(FILES, EDGES, ViewOptions(focus=("tests/test_one.py",), depth=2))
    assert {node.name: node.relation for node in alone.nodes}["src/a/two.py"] == "related"
    assert build_view(FILES, EDGES, ViewOptions(focus=("tests/test_one.py",), depth=0)).files == [
        "tests/test_one.py"
    ]


def test_collapse_merges_folders_but_keeps_the_focus_and_lone_files() -> None:
    view = build_view(FILES, EDGES, ViewOptions(focus=("src/a/one.py",), depth=1, collapse=1))
    assert {node.name: (node.kind, node.files) for node in view.nodes} == {
        "src/": ("folder", 3), "src/a/one.py": ("file", 1), "main.py": ("file", 1),
        "tests/test_one.py": ("file", 1),  # a folder that would hold one file stays that file
    }  # fmt: skip
    merged = {(edge.src, edge.dst): (edge.count, edge.type_only) for edge in view.edges}
    assert merged[("src/a/one.py", "src/")] == (2, False)
    assert ("src/", "src/") not in merged  # edges inside one folder disappear


def test_include_and_exclude_filter_before_everything_else() -> None:
    view = build_view(FILES, EDGES, ViewOptions(include=("^src/",), exclude=("deep",)))
    assert view.files == ["src/a/one.py", "src/a/two.py", "src/b/four.py"]
    assert view.cycles == [] and view.files_total == 6
    with pytest.raises(InvalidOption, match="not a regular expression"):
        build_view(FILES, EDGES, ViewOptions(include=("(",)))


def test_focus_by_pattern_or_an_unknown_file() -> None:
    assert build_view(FILES, EDGES, ViewOptions(focus=(r"four\.py$",), depth=0)).focus == ["src/b/four.py"]
    with pytest.raises(UnknownFile, match=r"no file matches the focus 'nope\.py'"):
        build_view(FILES, EDGES, ViewOptions(focus=("nope.py",)))
