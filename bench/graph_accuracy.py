"""Edge accuracy of `app.graph.build.build_graph` against grimp (Python) and dependency-cruiser (JS/TS).

    python bench/graph_accuracy.py [--per-project] [--details N] CHECKOUT...

Each CHECKOUT is `NAME=PATH` or a folder named NAME, for a NAME of bench/repos.py (which records the
repository and commit measured). Reference tools: `pip install -r requirements-bench.txt` (grimp) and
`npm ci --prefix /work/tools/graph-depcruise` with bench/npm-tools/package*.json copied there
(dependency-cruiser 17.4.3, TypeScript 5.9.3; --depcruise and --typescript default to that folder).

- Python: grimp builds the graph of the repo's packages; both edge sets are compared on grimp's files
  (files outside grimp's packages are nodes of ours that grimp does not see). The type-only flag is
  checked too: our edges that are not type-only against grimp with `exclude_type_checking_imports`.
- JS/TS: dependency-cruiser runs with `--ts-pre-compilation-deps` over the whole checkout with the
  repo's root tsconfig (or, with --per-project, once per tsconfig.json, each file judged by the run of
  its nearest one). Workspace packages are linked into node_modules for the run, as an install would
  link them, and unlinked after. Both edge sets are compared on the files both tools list.
- Each JS/TS disagreement is put to TypeScript's own resolver (bench/ts_resolve.cjs, with the file's
  nearest tsconfig.json), and the count of those where TypeScript sides with us is printed with the
  figures that count them as right.

Printed per repository: precision and recall of our edges, the reference edges we miss by kind, our
extra edges by kind, and the first disagreements so they can be checked by hand.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import posixpath
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.graph.build import DependencyGraph, build_graph
from app.graph.discover import LANGUAGE_BY_SUFFIX, discover_sources
from app.graph.parse import parse_file
from app.graph.resolve_js import JsResolver
from bench.repos import DEPCRUISE_EXCLUDE, BenchRepo, parse_checkouts

TOOLS = "/work/tools/graph-depcruise/node_modules"
ARBITER = Path(__file__).with_name("ts_resolve.cjs")


@dataclass
class Reference:
    files: set[str]
    edges: dict[tuple[str, str], str]  # edge -> its kind as the reference describes it
    specifiers: dict[tuple[str, str], str] = field(default_factory=dict)  # JS: as written


@dataclass
class Comparison:
    repo: str
    files: int
    reference_edges: int
    our_edges: int
    agreed: int
    missed: list[tuple[str, str, str]]
    extra: list[tuple[str, str, str]]

    @property
    def precision(self) -> float:
        return self.agreed / self.our_edges if self.our_edges else 1.0

    @property
    def recall(self) -> float:
        return self.agreed / self.reference_edges if self.reference_edges else 1.0


# grimp -------------------------------------------------------------------------------------------


def grimp_reference(repo: BenchRepo, checkout: Path, *, without_type_checking: bool = False) -> Reference:
    import grimp

    source_root = (checkout / repo.source_root).resolve()
    sys.path.insert(0, str(source_root))
    try:
        graph = grimp.build_graph(
            *repo.packages, cache_dir=None, exclude_type_checking_imports=without_type_checking
        )
    finally:
        sys.path.remove(str(source_root))
    path_of = {module: _module_path(source_root, checkout, module) for module in graph.modules}
    files = {path for path in path_of.values() if path}
    edges = {}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            source, target = path_of[importer], path_of[imported]
            if source and target and source != target:
                details = graph.get_import_details(importer=importer, imported=imported)
                edges[(source, target)] = _python_kind(checkout / source, details)
    return Reference(files, edges)


def _module_path(source_root: Path, checkout: Path, module: str) -> str | None:
    base = source_root.joinpath(*module.split("."))
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(checkout.resolve()).as_posix()
    return None  # a namespace package: no file


def _python_kind(path: Path, details: list[dict]) -> str:
    if not details:
        return "unknown"
    first = details[0]
    text = first["line_contents"]
    form = "relative-from" if text.startswith("from .") else "from" if text.startswith("from ") else "import"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    line = lines[first["line_number"] - 1] if first["line_number"] <= len(lines) else ""
    return form + ("/nested" if line[:1] in (" ", "\t") else "")


# dependency-cruiser ------------------------------------------------------------------------------


def depcruise_reference(repo: BenchRepo, checkout: Path, depcruise: str, per_project: bool) -> Reference:
    """dependency-cruiser's edges: one run with the root tsconfig, or one per tsconfig.json."""
    folders: list[str | None] = [repo.tsconfig and ""] if not per_project else _tsconfig_folders(checkout)
    runs = {}
    for folder in folders or [None]:
        try:
            runs[folder] = _run_depcruise(checkout, depcruise, folder)
        except subprocess.CalledProcessError as exc:
            last = (exc.stderr or "").strip().splitlines()[-1:] or ["?"]
            print(
                f"    (dependency-cruiser failed in {folder or '.'}: {last[0][:100]}; "
                "its files go to the parent run)"
            )
    projects = [folder for folder in runs if folder is not None]
    reference = Reference(set(), {}, {})
    for folder, run in runs.items():
        owned = {path for path in run.files if _nearest(path, projects) == folder}
        reference.files |= owned
        for edge, kind in run.edges.items():
            if edge[0] in owned:
                reference.edges[edge] = kind
                reference.specifiers[edge] = run.specifiers[edge]
    return reference


def _tsconfig_folders(checkout: Path) -> list[str | None]:
    """Folders (repo-relative, "" for the root) holding a tsconfig.json, outside node_modules."""
    folders: list[str | None] = []
    for directory, subdirectories, names in os.walk(checkout):
        subdirectories[:] = [name for name in subdirectories if name not in ("node_modules", ".git")]
        if "tsconfig.json" in names:
            relative = Path(directory).relative_to(checkout).as_posix()
            folders.append("" if relative == "." else relative)
    return sorted(folders, key=lambda folder: folder or "")


def _nearest(path: str, folders: list[str]) -> str | None:
    owners = [folder for folder in folders if not folder or path.startswith(folder + "/")]
    return max(owners, key=len) if owners else None


def _run_depcruise(checkout: Path, depcruise: str, folder: str | None) -> Reference:
    """One dependency-cruiser run from `folder` (with its tsconfig.json), paths made repo-relative."""
    command = [depcruise, "--no-config", "--ts-pre-compilation-deps", "--output-type", "json"]
    command += ["--exclude", DEPCRUISE_EXCLUDE]
    if folder is not None:
        command += ["--ts-config", "tsconfig.json"]
    cwd = checkout / folder if folder else checkout
    result = subprocess.run([*command, "."], cwd=cwd, capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout)["modules"]

    def relative(path: str) -> str:
        return posixpath.normpath(posixpath.join(folder or "", path))

    run = Reference(
        {relative(module["source"]) for module in modules if (cwd / module["source"]).is_file()}, {}, {}
    )
    for module in modules:
        source = relative(module["source"])
        for dependency in module["dependencies"]:
            if dependency.get("couldNotResolve") or dependency.get("coreModule"):
                continue
            target = relative(dependency.get("resolved", ""))
            if target in run.files and target != source:
                kinds = [
                    kind
                    for kind in dependency["dependencyTypes"]
                    if not kind.startswith(("local", "aliased"))
                ]
                run.edges[(source, target)] = "+".join(kinds) or "local"
                run.specifiers[(source, target)] = dependency["module"]
    return run


@contextlib.contextmanager
def linked_workspaces(checkout: Path) -> Iterator[None]:
    """Symlink each workspace package into <checkout>/node_modules, as an install would."""
    discovery = discover_sources(checkout)
    packages = JsResolver(checkout, discovery.all_files).workspace_packages
    made: list[Path] = []
    created_root = not (checkout / "node_modules").exists()
    try:
        for name, folder in packages.items():
            link = checkout / "node_modules" / name
            if link.exists() or link.is_symlink():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(checkout / folder, target_is_directory=True)
            made.append(link)
        yield
    finally:
        for link in made:
            link.unlink()
        if created_root and (checkout / "node_modules").exists():
            shutil.rmtree(checkout / "node_modules")


# TypeScript as arbiter ---------------------------------------------------------------------------


def arbitrate(
    checkout: Path, comparison: Comparison, reference: Reference, typescript: str
) -> dict[str, list]:
    """Ask TypeScript how each disputed specifier resolves; group the disputes by its verdict.

    A dispute is one specifier in one file that we and the reference resolve differently (one of
    the two may not resolve it). TypeScript's answer sides with us, with the reference, or neither.
    """
    resolver = JsResolver(checkout, discover_sources(checkout).all_files)
    written = {(source, reference.specifiers[(source, target)]): target for source, target in reference.edges}
    disputes: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for source, target, _ in comparison.missed:
        specifier = reference.specifiers[(source, target)]
        disputes[(source, specifier)] = (resolver.resolve(source, specifier), target)
    for source, target, _ in comparison.extra:
        for specifier in _specifiers_to(checkout, resolver, source, target):
            disputes[(source, specifier)] = (target, written.get((source, specifier)))
    if not disputes:
        return {}
    configs = [folder for folder in _tsconfig_folders(checkout) if folder is not None]
    queries = []
    for source, specifier in disputes:
        owner = _nearest(source, configs)
        config = None if owner is None else (f"{owner}/tsconfig.json" if owner else "tsconfig.json")
        queries.append(
            json.dumps({"root": str(checkout), "config": config, "file": source, "specifier": specifier})
        )
    result = subprocess.run(
        ["node", str(ARBITER), typescript],
        input="\n".join(queries) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    verdicts: dict[str, list] = collections.defaultdict(list)
    for ((source, specifier), (ours, theirs)), line in zip(
        disputes.items(), result.stdout.splitlines(), strict=True
    ):
        resolved = json.loads(line)["resolved"]
        side = "us" if resolved == ours else "reference" if resolved == theirs else "neither"
        verdicts[side].append((source, specifier, ours, theirs, resolved))
    return verdicts


def _specifiers_to(checkout: Path, resolver: JsResolver, source: str, target: str) -> list[str]:
    language = LANGUAGE_BY_SUFFIX[posixpath.splitext(source)[1]]
    parsed = parse_file(str(checkout), source, language)
    return sorted({item.target for item in parsed.imports if resolver.resolve(source, item.target) == target})


# Comparison --------------------------------------------------------------------------------------


def compare(
    repo: BenchRepo, ours: DependencyGraph, reference: Reference, *, skip_type_only: bool = False
) -> Comparison:
    shared = reference.files & set(ours.files)
    our_edges = {
        (edge.src, edge.dst): edge
        for edge in ours.edges
        if edge.src in shared and edge.dst in shared and not (skip_type_only and edge.type_only)
    }
    theirs = {edge: kind for edge, kind in reference.edges.items() if edge[0] in shared and edge[1] in shared}
    agreed = our_edges.keys() & theirs.keys()
    missed = sorted((source, target, theirs[(source, target)]) for source, target in theirs.keys() - agreed)
    extra = []
    for source, target in sorted(our_edges.keys() - agreed):
        edge = our_edges[(source, target)]
        extra.append((source, target, "+".join(edge.kinds) + ("/type-only" if edge.type_only else "")))
    return Comparison(repo.name, len(shared), len(theirs), len(our_edges), len(agreed), missed, extra)


def report(comparison: Comparison, reference_name: str, details: int) -> None:
    print(
        f"{comparison.repo:<11} vs {reference_name:<18} files {comparison.files:>5}  "
        f"edges ref {comparison.reference_edges:>6} ours {comparison.our_edges:>6}  "
        f"precision {comparison.precision:.4f}  recall {comparison.recall:.4f}"
    )
    missed_by_kind = collections.Counter(kind for *_, kind in comparison.missed)
    extra_by_kind = collections.Counter(kind for *_, kind in comparison.extra)
    print(f"    missed by kind: {dict(missed_by_kind.most_common()) or '-'}")
    print(f"    extra by kind:  {dict(extra_by_kind.most_common()) or '-'}")
    for source, target, kind in comparison.missed[:details]:
        print(f"    missed  {source} -> {target}  [{kind}]")
    for source, target, kind in comparison.extra[:details]:
        print(f"    extra   {source} -> {target}  [{kind}]")


def report_verdicts(comparison: Comparison, verdicts: dict[str, list], details: int) -> None:
    if not verdicts:
        return
    counts = {side: len(items) for side, items in verdicts.items()}
    print(
        f"    TypeScript on the {sum(counts.values())} disputed specifiers: "
        f"sides with us {counts.get('us', 0)}, with the reference {counts.get('reference', 0)}, "
        f"with neither {counts.get('neither', 0)}"
    )
    right = {(source, ours) for source, _, ours, _, _ in verdicts.get("us", []) if ours}
    wrong = {(source, theirs) for source, _, _, theirs, _ in verdicts.get("us", []) if theirs}
    extra_right = sum(1 for source, target, _ in comparison.extra if (source, target) in right)
    missed_wrong = sum(1 for source, target, _ in comparison.missed if (source, target) in wrong)
    precision = (comparison.agreed + extra_right) / comparison.our_edges if comparison.our_edges else 1.0
    relevant = comparison.reference_edges - missed_wrong + extra_right
    recall = (comparison.agreed + extra_right) / relevant if relevant else 1.0
    print(f"    counting TypeScript's verdicts as right: precision {precision:.4f}  recall {recall:.4f}")
    for side in ("reference", "neither"):
        for source, specifier, ours, theirs, resolved in verdicts.get(side, [])[:details]:
            print(
                f"    TS sides with {side}: {source} '{specifier}': "
                f"ours {ours}, reference {theirs}, TypeScript {resolved}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", help="NAME=PATH, or PATH of a folder named NAME")
    parser.add_argument("--depcruise", default=f"{TOOLS}/.bin/depcruise")
    parser.add_argument("--typescript", default=f"{TOOLS}/typescript")
    parser.add_argument(
        "--per-project", action="store_true", help="one dependency-cruiser run per tsconfig.json"
    )
    parser.add_argument("--details", type=int, default=5, help="disagreements to print per repository")
    args = parser.parse_args()
    results = []
    for repo, path in parse_checkouts(args.checkouts):
        checkout = Path(path).resolve()
        ours = build_graph(checkout)
        if repo.language == "python":
            reference = grimp_reference(repo, checkout)
            comparison = compare(repo, ours, reference)
            report(comparison, "grimp", args.details)
            # The type-only flag: our edges that are not type-only against grimp without TYPE_CHECKING.
            flagged = compare(
                repo, ours, grimp_reference(repo, checkout, without_type_checking=True), skip_type_only=True
            )
            print(
                f"    runtime edges (ours not type-only, grimp exclude_type_checking_imports): "
                f"ref {flagged.reference_edges} ours {flagged.our_edges} "
                f"precision {flagged.precision:.4f} recall {flagged.recall:.4f}"
            )
        else:
            with linked_workspaces(checkout):
                reference = depcruise_reference(repo, checkout, args.depcruise, args.per_project)
                comparison = compare(repo, ours, reference)
                report(comparison, "dependency-cruiser", args.details)
                report_verdicts(
                    comparison, arbitrate(checkout, comparison, reference, args.typescript), args.details
                )
        results.append(comparison)
    failing = [item.repo for item in results if item.precision < 0.99 or item.recall < 0.98]
    print(
        f"\n{len(results) - len(failing)} of {len(results)} repositories "
        "meet precision >= 0.99 and recall >= 0.98"
    )
    if failing:
        print("below target (before TypeScript's verdicts):", ", ".join(failing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
