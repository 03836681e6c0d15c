"""package.json `imports` and `exports` resolve as Node's PACKAGE_IMPORTS_EXPORTS_RESOLVE does."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from support.generated_repos import write_tree

from app.graph.build import build_graph
from app.graph.discover import discover_sources
from app.graph.package_map import _table_of, pattern_key_compare, resolve_exports, resolve_imports
from app.graph.resolve_js import JsResolver

FILES = {"./a.js", "./b.js", "./src/x.js", "./src/deep/y.js", "./lib/z.js", "./feat/f.js", "./i.d.ts"}


def locate(target: str, bare: bool) -> str | None:
    """Files of one package; a bare target is another package, spelt `pkg:NAME`."""
    if bare:
        return f"pkg:{target}"
    return target if target in FILES else None


def test_the_reported_conditions_object_resolves_in_written_order() -> None:
    imports = {"#x": {"module-sync": "./a.js", "default": "./b.js"}}
    assert resolve_imports(imports, "#x", locate) == "./a.js"
    assert resolve_imports({"#x": {"default": "./b.js", "import": "./a.js"}}, "#x", locate) == "./b.js"


def test_nested_conditions_skip_the_ones_not_in_the_set() -> None:
    imports = {
        "#x": {"browser": "./lib/z.js", "node": {"development": "./a.js", "import": {"types": "./i.d.ts"}}},
        "#y": {"browser": "./a.js", "worker": "./b.js"},  # no condition applies: not defined
    }
    assert resolve_imports(imports, "#x", locate) == "./i.d.ts"
    assert resolve_imports(imports, "#y", locate) is None


def test_arrays_take_the_first_target_in_the_checkout_and_null_blocks() -> None:
    imports = {
        "#x": ["./dist/missing.js", {"worker": "./lib/z.js"}, "./b.js", "./a.js"],
        "#blocked": None,
        "#blocked-array": [None, "./a.js"],
        "#empty": [],
        "#numbers": [1, True, "./a.js"],
    }
    assert resolve_imports(imports, "#x", locate) == "./b.js"
    assert resolve_imports(imports, "#blocked", locate) is None
    assert resolve_imports(imports, "#blocked-array", locate) is None
    assert resolve_imports(imports, "#empty", locate) is None
    assert resolve_imports(imports, "#numbers", locate) == "./a.js"


def test_patterns_most_specific_first_with_trailers() -> None:
    imports = {
        "#src/*": "./src/*.js",
        "#src/deep/*": "./src/deep/*.js",
        "#src/*.js": "./lib/z.js",
        "#src/private/*": None,
        "#*": "./feat/*.js",
    }
    assert resolve_imports(imports, "#src/x", locate) == "./src/x.js"
    assert resolve_imports(imports, "#src/deep/y", locate) == "./src/deep/y.js"
    assert resolve_imports(imports, "#src/x.js", locate) == "./lib/z.js"  # same base, longer key
    assert resolve_imports(imports, "#src/private/a", locate) is None
    assert resolve_imports(imports, "#f", locate) == "./feat/f.js"
    keys = ["#*", "#src/*", "#src/*.js", "#src/deep/*", "#a*b", "#ab*"]
    ordered = [pattern for pattern, _, _ in _table_of(dict.fromkeys(keys)).patterns]
    assert ordered == sorted(keys, key=functools.cmp_to_key(pattern_key_compare))
    assert ordered == ["#src/deep/*", "#src/*.js", "#src/*", "#ab*", "#a*b", "#*"]


def test_trailing_slash_folder_mappings() -> None:
    exports = {"./features/": "./feat/", "./lib/": {"import": "./lib/"}}
    assert resolve_exports(exports, "./features/f.js", locate) == "./feat/f.js"
    assert resolve_exports(exports, "./lib/z.js", locate) == "./lib/z.js"
    assert resolve_exports(exports, "./other/z.js", locate) is None


def test_invalid_targets_and_segments_are_refused() -> None:
    imports = {
        "#up": "../outside.js",
        "#abs": "/etc/passwd",
        "#url": "file:///etc/passwd",
        "#dots": "./src/../a.js",
        "#nm": "./node_modules/x.js",
        "#p/*": "./src/*.js",
        "#dep": "lodash",
        "#dep/*": "lodash/*",
    }
    for specifier in ("#up", "#abs", "#url", "#dots", "#nm", "#p/../../a", "#p/node_modules/x", "#", "#/x"):
        assert resolve_imports(imports, specifier, locate) is None, specifier
    assert resolve_imports(imports, "#dep", locate) == "pkg:lodash"  # imports may name a package
    assert resolve_imports(imports, "#dep/fp", locate) == "pkg:lodash/fp"
    assert resolve_exports({"./x": "lodash"}, "./x", locate) is None  # exports may not


def test_exports_sugar_main_and_invalid_configuration() -> None:
    assert resolve_exports("./a.js", ".", locate) == "./a.js"
    assert resolve_exports(["./missing.js", "./b.js"], ".", locate) == "./b.js"
    assert resolve_exports({"import": "./a.js", "default": "./b.js"}, ".", locate) == "./a.js"
    assert resolve_exports({".": {"require": "./b.js"}, "./sub": "./src/x.js"}, ".", locate) == "./b.js"
    assert resolve_exports({".": "./a.js", "./sub": "./src/x.js"}, "./sub", locate) == "./src/x.js"
    assert resolve_exports({".": "./a.js", "import": "./b.js"}, ".", locate) is None  # mixed keys
    assert resolve_exports("./a.js", "./sub", locate) is None


def test_any_json_value_is_tolerated() -> None:
    values = [None, True, 0, 1.5, "x", [], {}, [[[]]], {"#x": {"import": {"import": {}}}}, {"": ""}, {"*": 1}]
    for imports in values:
        for specifier in ("#x", "#", "#*", "#x/y"):
            assert resolve_imports(imports, specifier, locate) is None
        assert resolve_exports(imports, ".", locate) in (None, "./a.js")
        assert resolve_exports(imports, "./x", locate) is None
    deep: object = "./a.js"
    for _ in range(5000):
        deep = {"import": deep}
    assert resolve_imports({"#x": deep}, "#x", locate) is None  # beyond MAX_DEPTH: not followed


def test_through_the_resolver_and_the_graph(tmp_path: Path) -> None:
    files = {
        "package.json": json.dumps({"workspaces": ["packages/*"]}),
        "packages/app/package.json": json.dumps(
            {"name": "app", "imports": {"#x": {"module-sync": "./src/a.js", "default": "./src/b.js"}}}
        ),
        "packages/app/src/main.ts": "import a from '#x';\nimport u from 'util-lib/sub';\nimport m from 'util-lib';\n",
        "packages/app/src/a.ts": "",
        "packages/app/src/b.ts": "",
        "packages/util/package.json": json.dumps(
            {"name": "util-lib", "exports": {".": {"types": "./dist/index.d.ts"}, "./sub": "./src/sub.ts"}}
        ),
        "packages/util/src/sub.ts": "",
        "packages/util/index.ts": "",
    }
    write_tree(tmp_path, files)
    resolver = JsResolver(tmp_path, discover_sources(tmp_path).all_files)
    assert resolver.resolve("packages/app/src/main.ts", "#x") == "packages/app/src/a.ts"
    assert resolver.resolve("packages/app/src/main.ts", "util-lib/sub") == "packages/util/src/sub.ts"
    # The export names build output the clone lacks: the package's own index, as without exports.
    assert resolver.resolve("packages/app/src/main.ts", "util-lib") == "packages/util/index.ts"
    graph = build_graph(tmp_path, workers=1)
    assert {(edge.src, edge.dst) for edge in graph.edges} == {
        ("packages/app/src/main.ts", "packages/app/src/a.ts"),
        ("packages/app/src/main.ts", "packages/util/src/sub.ts"),
        ("packages/app/src/main.ts", "packages/util/index.ts"),
    }
    assert graph.failures == []


map_keys = st.sampled_from(
    ["#x", "#*", "#a/*", "#a/*.js", "./", ".", "./*", "./a/", "import", "default", "types"]
)
map_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["./a.js", "./src/*", "./feat/", "lodash", "../x"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(map_keys | st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(
    field=map_values, specifier=st.sampled_from(["#x", "#a/b", "#a/b.js", "#", "#/x"]) | st.text(max_size=8)
)
def test_property_5_any_imports_or_exports_value_resolves_or_is_none(field: object, specifier: str) -> None:
    for found in (
        resolve_imports(field, specifier, locate),
        resolve_exports(field, ".", locate),
        resolve_exports(field, "./" + specifier.lstrip("#"), locate),
    ):
        assert found is None or found in FILES or found.startswith("pkg:")
