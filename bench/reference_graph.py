"""Export a repository's file dependency graph, as built by a reference tool, in GRAPH.json form.

    python bench/reference_graph.py grimp REPO PACKAGE_DIR > GRAPH.json
    python bench/reference_graph.py depcruise REPO SOURCE_DIR [--ts-config FILE] --depcruise PATH > GRAPH.json

GRAPH.json is `{"files": [repo-relative paths], "edges": [[src, dst], ...]}` with edges src → dst meaning
"src imports dst", the shape `python -m app.cli graph REPO --json` prints. grimp covers Python packages
(`PACKAGE_DIR` is the package folder, e.g. `src/flask`); dependency-cruiser covers JS/TS trees, run with
`--ts-pre-compilation-deps` so that type-only imports count.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def grimp_graph(repo: Path, package_dir: Path) -> dict:
    import grimp

    package_dir = (repo / package_dir).resolve()
    sys.path.insert(0, str(package_dir.parent))
    graph = grimp.build_graph(package_dir.name, include_external_packages=False, cache_dir=None)
    paths = {module: _module_path(package_dir.parent, module) for module in graph.modules}
    edges = {
        (paths[importer], paths[imported])
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if importer != imported
    }
    return _as_json(repo, list(paths.values()), edges)


def _module_path(root: Path, module: str) -> Path:
    base = root.joinpath(*module.split("."))
    return base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")


def depcruise_graph(repo: Path, source_dir: Path, depcruise: str, ts_config: str | None) -> dict:
    command = [
        depcruise,
        str(source_dir),
        "--no-config",
        "--ts-pre-compilation-deps",
        "--output-type",
        "json",
    ]
    if ts_config:
        command += ["--ts-config", ts_config]
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout)["modules"]
    local = {m["source"] for m in modules if _is_local(m)}
    edges = {
        (m["source"], d["resolved"])
        for m in modules
        if m["source"] in local
        for d in m.get("dependencies", [])
        if d["resolved"] in local and d["resolved"] != m["source"]
    }
    return _as_json(repo, [repo / path for path in local], {(repo / a, repo / b) for a, b in edges})


def _is_local(module: dict) -> bool:
    return (
        not module.get("coreModule")
        and not module.get("couldNotResolve")
        and "node_modules" not in module["source"]
    )


def _as_json(repo: Path, files: list[Path], edges: set[tuple[Path, Path]]) -> dict:
    def relative(path: Path) -> str:
        return path.resolve().relative_to(repo.resolve()).as_posix()

    names = sorted(relative(path) for path in files)
    return {"files": names, "edges": sorted([relative(a), relative(b)] for a, b in edges)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tool", choices=["grimp", "depcruise"])
    parser.add_argument("repo", type=Path)
    parser.add_argument("source", type=Path, help="package folder (grimp) or source folder (depcruise)")
    parser.add_argument("--depcruise", default="depcruise", help="the depcruise executable")
    parser.add_argument("--ts-config", help="tsconfig.json for path mapping, relative to REPO")
    args = parser.parse_args()
    if args.tool == "grimp":
        graph = grimp_graph(args.repo, args.source)
    else:
        graph = depcruise_graph(args.repo, args.source, args.depcruise, args.ts_config)
    json.dump(graph, sys.stdout)
    print(f"{len(graph['files'])} files, {len(graph['edges'])} edges", file=sys.stderr)


if __name__ == "__main__":
    main()
