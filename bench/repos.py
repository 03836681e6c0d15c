"""The public repositories the graph benchmarks were measured on, and how to compare each.

Bring a checkout with the search tool's `fetch` (or `git clone`) at the commit below, e.g.

    git --git-dir=/work/.mirror/sympy+sympy/repo archive e950d313… | tar -x -C /work/repos/sympy

and pass its folder to the benchmark scripts (`NAME=PATH`, or just PATH when the folder is named NAME).
Nothing of these repositories is committed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BenchRepo:
    name: str
    url: str
    commit: str
    language: str  # "python" or "js"
    # Python: the packages grimp is asked for, and the folder that holds them (on sys.path).
    packages: tuple[str, ...] = ()
    source_root: str = "."
    # JS/TS: the tsconfig dependency-cruiser is given (None: none), and its targets.
    tsconfig: str | None = None
    targets: tuple[str, ...] = (".",)
    notes: str = ""
    extra: dict = field(default_factory=dict)


REPOS = {
    repo.name: repo
    for repo in (
        BenchRepo(
            "sympy",
            "https://github.com/sympy/sympy",
            "e950d313a932bc6cccbc95376b3821cd2f8b5af4",
            "python",
            packages=("sympy",),
            notes="~1,550-file package: the speed target",
        ),
        BenchRepo(
            "sqlalchemy",
            "https://github.com/sqlalchemy/sqlalchemy",
            "f35da7e2b9349a08b8de1f6bd3b07c8bf8616790",
            "python",
            packages=("sqlalchemy",),
            source_root="lib",
            notes="many TYPE_CHECKING blocks, lib/ layout",
        ),
        BenchRepo(
            "flask",
            "https://github.com/pallets/flask",
            "2ac89889f4cc330eabd50f295dcef02828522c69",
            "python",
            packages=("flask",),
            source_root="src",
            notes="src/ layout",
        ),
        BenchRepo(
            "requests",
            "https://github.com/psf/requests",
            "1f6589ec3a1ee910f9a65cc3ceac60b26677bc0e",
            "python",
            packages=("requests",),
            source_root="src",
            notes="src/ layout, relative imports",
        ),
        BenchRepo(
            "core",
            "https://github.com/vuejs/core",
            "e2bede96134f757aad5c5b33ac9be055022dbfc8",
            "js",
            tsconfig="tsconfig.json",
            notes="Vue 3: ~500-file TypeScript tree, tsconfig paths, pnpm workspace: the speed target",
        ),
        BenchRepo(
            "zod",
            "https://github.com/colinhacks/zod",
            "e516c3baf22615e20934116abebfed6c000222c2",
            "js",
            tsconfig="tsconfig.json",
            notes="TypeScript ESM with .js specifiers naming .ts sources, tsconfig extends",
        ),
        BenchRepo(
            "express",
            "https://github.com/expressjs/express",
            "a3714473feb3d2908add734d340e7755fd85e0a3",
            "js",
            notes="CommonJS require()",
        ),
        BenchRepo(
            "axios",
            "https://github.com/axios/axios",
            "23a25af0688d1db2c396deb09229d2271cc24f6c",
            "js",
            tsconfig="tsconfig.json",
            notes="ES modules in .js, CommonJS tests",
        ),
    )
}

DEPCRUISE_EXCLUDE = r"(^|/)(node_modules|dist|build|out|coverage|\.git)/"


def parse_checkouts(arguments: list[str]) -> list[tuple[BenchRepo, str]]:
    """`NAME=PATH` or `PATH` (folder named NAME) -> (repo, path)."""
    chosen = []
    for argument in arguments:
        name, _, path = argument.rpartition("=")
        if not name:
            name = path.rstrip("/").rsplit("/", 1)[-1]
        if name not in REPOS:
            raise SystemExit(f"unknown repository {name!r}; known: {', '.join(REPOS)}")
        chosen.append((REPOS[name], path))
    return chosen
