"""JS/TS specifiers resolve to repository files as dependency-cruiser (enhanced-resolve) and TypeScript do."""

from __future__ import annotations

import json
from pathlib import Path

from support.generated_repos import write_tree

from app.graph.discover import discover_sources
from app.graph.resolve_js import JsResolver


def resolver_for(root: Path, files: dict[str, str]) -> JsResolver:
    write_tree(root, files)
    return JsResolver(root, discover_sources(root).all_files)


def test_relative_specifiers_probe_extensions_index_and_main(tmp_path: Path) -> None:
    resolver = resolver_for(
        tmp_path,
        {
            "src/app.js": "",
            "src/util.ts": "",
            "src/both.js": "",
            "src/both.ts": "",
            "src/lib/index.mjs": "",
            "src/pkg/package.json": json.dumps({"main": "./lib/entry.cjs"}),
            "src/pkg/lib/entry.cjs": "",
            "src/types.d.ts": "",
            "src/esm.ts": "",
            "src/view.tsx": "",
            "src/mod.mts": "",
            "src/data.json": "{}",
        },
    )
    assert resolver.resolve("src/app.js", "./util") == "src/util.ts"
    assert resolver.resolve("src/app.js", "./both") == "src/both.js"  # .js comes first
    assert resolver.resolve("src/app.js", "./lib") == "src/lib/index.mjs"
    assert resolver.resolve("src/app.js", "./pkg") == "src/pkg/lib/entry.cjs"
    assert resolver.resolve("src/app.js", "./types") == "src/types.d.ts"
    assert resolver.resolve("src/app.js", "./esm.js") == "src/esm.ts"  # TypeScript's .js -> .ts
    assert resolver.resolve("src/app.js", "./view.jsx") == "src/view.tsx"
    assert resolver.resolve("src/app.js", "./mod.mjs") == "src/mod.mts"
    assert resolver.resolve("src/app.js", "./data.json") == "src/data.json"
    assert resolver.resolve("src/lib/index.mjs", "../util") == "src/util.ts"
    assert resolver.resolve("src/app.js", "./missing") is None
    assert resolver.resolve("src/app.js", "../../../etc/passwd") is None
    assert resolver.resolve("src/app.js", "/etc/passwd") is None
    assert resolver.resolve("src/app.js", "fs") is None
    assert resolver.resolve("src/app.js", "node:path") is None


def test_tsconfig_paths_and_base_url_follow_extends(tmp_path: Path) -> None:
    resolver = resolver_for(
        tmp_path,
        {
            "tsconfig.base.json": '{\n // comments and trailing commas are fine\n "compilerOptions": {'
            '"baseUrl": "./src", "paths": {"@app/*": ["app/*", "fallback/*"],'
            ' "config": ["conf/main.ts"],},},}',
            "tsconfig.json": '{"extends": "./tsconfig.base.json", "compilerOptions": {"strict": true}}',
            "src/app/service.ts": "",
            "src/fallback/only.ts": "",
            "src/conf/main.ts": "",
            "src/shared/thing.ts": "",
            "src/index.ts": "",
            "web/tsconfig.json": '{"compilerOptions": {"paths": {"@/*": ["./*"]}}}',
            "web/components/button.tsx": "",
            "web/page.tsx": "",
        },
    )
    assert resolver.resolve("src/index.ts", "@app/service") == "src/app/service.ts"
    assert resolver.resolve("src/index.ts", "@app/only") == "src/fallback/only.ts"
    assert resolver.resolve("src/index.ts", "config") == "src/conf/main.ts"
    assert resolver.resolve("src/index.ts", "shared/thing") == "src/shared/thing.ts"  # baseUrl
    assert resolver.resolve("web/page.tsx", "@/components/button") == "web/components/button.tsx"
    assert resolver.resolve("web/page.tsx", "@app/service") is None  # web/ has its own tsconfig


def test_workspace_packages_map_to_their_folders(tmp_path: Path) -> None:
    resolver = resolver_for(
        tmp_path,
        {
            "package.json": json.dumps({"private": True, "workspaces": ["packages/*", "!packages/ignored"]}),
            "packages/core/package.json": json.dumps({"name": "@acme/core", "main": "src/index.js"}),
            "packages/core/src/index.js": "",
            "packages/core/src/extra.js": "",
            "packages/ignored/package.json": json.dumps({"name": "ignored"}),
            "packages/ignored/index.js": "",
            "apps/web/package.json": json.dumps({"name": "web"}),
            "apps/web/main.js": "",
        },
    )
    assert resolver.resolve("apps/web/main.js", "@acme/core") == "packages/core/src/index.js"
    assert resolver.resolve("apps/web/main.js", "@acme/core/src/extra") == "packages/core/src/extra.js"
    assert resolver.resolve("apps/web/main.js", "ignored") is None
    assert resolver.workspace_packages == {"@acme/core": "packages/core"}


def test_pnpm_workspace_and_package_imports(tmp_path: Path) -> None:
    resolver = resolver_for(
        tmp_path,
        {
            "pnpm-workspace.yaml": "packages:\n  - 'libs/**'\n",
            "libs/a/b/package.json": json.dumps({"name": "deep", "imports": {"#internal/*": "./src/*.js"}}),
            "libs/a/b/index.ts": "",
            "libs/a/b/src/helper.js": "",
            "main.ts": "",
        },
    )
    assert resolver.resolve("main.ts", "deep") == "libs/a/b/index.ts"
    assert resolver.resolve("libs/a/b/index.ts", "#internal/helper") == "libs/a/b/src/helper.js"


def test_broken_or_hostile_configs_are_ignored(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"compilerOptions": {"paths": {"x": ["../secret"]}}}')
    root = tmp_path / "repo"
    write_tree(
        root, {"tsconfig.json": '{"extends": "../outside.json"', "a.ts": "", "package.json": "[" * 10000}
    )
    (root / "linked.json").symlink_to(outside)
    resolver = JsResolver(root, discover_sources(root).all_files)
    assert resolver.resolve("a.ts", "x") is None
    assert resolver.resolve("a.ts", "./linked.json") is None


def test_config_fields_of_any_json_type_are_ignored(tmp_path: Path) -> None:
    """`"extends": true` once raised TypeError; every field of every type must simply not apply."""
    for index, value in enumerate([True, False, 0, 1.5, None, "", [], {}, [True, None, 3], {"a": 1}]):
        config = {"extends": value, "compilerOptions": {"paths": value, "baseUrl": value}}
        manifest = {"imports": value, "exports": value, "main": value, "name": value, "workspaces": value}
        root = tmp_path / str(index)
        resolver = resolver_for(
            root,
            {"tsconfig.json": json.dumps(config), "package.json": json.dumps(manifest), "src/a.ts": ""},
        )
        for specifier in ("x", "#x", "./a", "src/a"):
            resolver.resolve("src/b.ts", specifier)
        assert resolver.resolve("src/b.ts", "./a") == "src/a.ts"
