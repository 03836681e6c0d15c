"""A seeded, generated repository shaped like a large real one: Python packages beside a TypeScript tree.

    python bench/generated_repo.py OUT_DIR [--files 10000] [--seed 0] [--no-git]

Writes OUT_DIR as a git repository with one commit. The mix, taken from what real projects look like:
- 60% Python: packages of 8-40 modules in sub-packages two or three deep under `src/<project>/`, each with
  an `__init__.py` that re-exports a few names, and a `tests/` tree mirroring part of them. A module
  imports the standard library and third-party names (which resolve to nothing), then 2-8 modules of the
  project: mostly its own package (`from . import x`, `from .sub import y`), sometimes a sibling package,
  now and then a core module that many import (`from project.core.config import Settings`).
- 40% TypeScript under `web/`: feature folders of components (`.tsx`), hooks, services and `index.ts`
  barrels, `tsconfig.json` with a `@/*` path alias; a file imports React and other packages, then 2-8
  local files by relative path, by the alias or through a barrel, with a few `import type` and a dynamic
  `import()`.
- Sizes of 1-10 KB a file (functions and classes with bodies), so parsing costs what it does on real code.
Every choice comes from one seeded generator: the same arguments give the same tree.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PYTHON_SHARE = 0.6
STDLIB = (
    "os",
    "sys",
    "json",
    "logging",
    "re",
    "typing",
    "dataclasses",
    "pathlib",
    "collections",
    "functools",
)
THIRD_PARTY_PY = ("requests", "numpy", "pydantic", "sqlalchemy", "attrs", "click")
THIRD_PARTY_TS = ("react", "lodash", "zod", "axios", "date-fns", "@tanstack/react-query")
GIT_IDENTITY = [
    "-c",
    "user.name=Bench",
    "-c",
    "user.email=bench@example.invalid",
    "-c",
    "commit.gpgsign=false",
]


@dataclass
class Tree:
    """The files to write, by path relative to the root."""

    files: dict[str, str] = field(default_factory=dict)


def python_modules(count: int, rng: random.Random) -> list[str]:
    """Module paths (dotted, under `project`) of `count` files, packages' `__init__` included."""
    modules: list[str] = []
    top = 0
    while len(modules) < count:
        top_package = f"project.area{top}"
        modules.append(f"{top_package}.__init__")
        for sub in range(rng.randint(2, 6)):
            package = f"{top_package}.part{sub}"
            modules.append(f"{package}.__init__")
            modules += [f"{package}.module{index}" for index in range(rng.randint(8, 40))]
            if rng.random() < 0.3:
                deeper = f"{package}.inner"
                modules.append(f"{deeper}.__init__")
                modules += [f"{deeper}.module{index}" for index in range(rng.randint(4, 12))]
        top += 1
    core = ["project.__init__", "project.core.__init__", "project.core.config", "project.core.errors",
            "project.core.models", "project.core.db", "project.core.logging"]  # fmt: skip
    return (core + modules)[:count]


def python_source(module: str, modules: list[str], rng: random.Random) -> str:
    """A module of a few functions and a class, with the imports a real one has."""
    package = module.rsplit(".", 1)[0] if not module.endswith(".__init__") else module[: -len(".__init__")]
    siblings = [m for m in modules if m.rsplit(".", 1)[0] == package and m != module and "__init__" not in m]
    lines = [f'"""{module}: generated module."""', "", "from __future__ import annotations", ""]
    lines += [f"import {name}" for name in rng.sample(STDLIB, rng.randint(2, 5))]
    lines += [f"import {name}" for name in rng.sample(THIRD_PARTY_PY, rng.randint(0, 2))]
    local = []
    for _ in range(rng.randint(2, 8)):
        roll = rng.random()
        if roll < 0.55 and siblings:
            target = rng.choice(siblings).rsplit(".", 1)[1]
            local.append(f"from . import {target}" if rng.random() < 0.5 else f"from .{target} import Thing")
        elif roll < 0.8:
            target = rng.choice(modules).replace(".__init__", "")
            local.append(f"from {target} import Thing" if rng.random() < 0.5 else f"import {target}")
        else:
            core = rng.choice(["config", "errors", "models", "db", "logging"])
            local.append(f"from project.core.{core} import Settings")
    lines += sorted(set(local))
    if rng.random() < 0.15:
        lines += ["from typing import TYPE_CHECKING", "", "if TYPE_CHECKING:",
                  f"    from {rng.choice(modules).replace('.__init__', '')} import Other"]  # fmt: skip
    lines.append("")
    for index in range(rng.randint(2, 12)):
        lines += python_function(f"handle_{index}", rng)
    lines += [f"class Thing{rng.randint(0, 99)}:", '    """A class with a few methods."""', ""]
    for index in range(rng.randint(1, 5)):
        lines += [
            "    " + line if line else "" for line in python_function(f"method_{index}", rng, method=True)
        ]
    return "\n".join(lines) + "\n"


def python_function(name: str, rng: random.Random, method: bool = False) -> list[str]:
    args = "self, value: int" if method else "value: int, *, flag: bool = False"
    body = [f"def {name}({args}) -> dict[str, int]:", f'    """Compute {name}."""', "    result = {}"]
    for step in range(rng.randint(2, 8)):
        body += [f"    for item in range(value + {step}):", f"        if item % {step + 2} == 0:",
                 f"            result[str(item)] = item * {step + 1}"]  # fmt: skip
    return [*body, "    return result", ""]


def typescript_files(count: int, rng: random.Random) -> list[str]:
    """Paths under `web/src/` of `count` files: feature folders with components, hooks and barrels."""
    paths: list[str] = [
        "web/src/lib/api.ts",
        "web/src/lib/format.ts",
        "web/src/lib/types.ts",
        "web/src/index.ts",
    ]
    feature = 0
    while len(paths) < count:
        folder = f"web/src/features/feature{feature}"
        paths.append(f"{folder}/index.ts")
        paths += [f"{folder}/components/Widget{index}.tsx" for index in range(rng.randint(4, 20))]
        paths += [f"{folder}/hooks/useThing{index}.ts" for index in range(rng.randint(1, 5))]
        paths += [f"{folder}/services/service{index}.ts" for index in range(rng.randint(1, 4))]
        feature += 1
    return paths[:count]


def typescript_source(path: str, paths: list[str], rng: random.Random) -> str:
    """A component, hook or service with React and package imports and 2-8 local ones."""
    here = Path(path).parent
    folder = path.split("/components/")[0].split("/hooks/")[0].split("/services/")[0]
    own = [p for p in paths if p.startswith(folder + "/") and p != path]
    lines = [f"import {{ {', '.join(rng.sample(['useState', 'useEffect', 'useMemo', 'useCallback'], 2))} }} "
             f"from 'react';"]  # fmt: skip
    lines += [f"import * as pkg{index} from '{name}';" for index, name in
              enumerate(rng.sample(THIRD_PARTY_TS, rng.randint(0, 3)))]  # fmt: skip
    for index in range(rng.randint(2, 8)):
        roll = rng.random()
        if roll < 0.5 and own:
            target = Path(rng.choice(own))
            specifier = relative_specifier(here, target)
        elif roll < 0.8:
            target = Path(rng.choice(paths))
            specifier = "@/" + str(target.relative_to("web/src").with_suffix(""))
        else:
            specifier = relative_specifier(
                here, Path(rng.choice(["web/src/lib/api.ts", "web/src/lib/types.ts"]))
            )
        kind = "import type" if rng.random() < 0.1 else "import"
        lines.append(f"{kind} {{ item{index} }} from '{specifier}';")
    if rng.random() < 0.1:
        lines.append(f"const lazy = () => import('{relative_specifier(here, Path(rng.choice(paths)))}');")
    lines.append("")
    for index in range(rng.randint(2, 10)):
        lines += [f"export function part{index}(value: number, label: string): Record<string, number> {{",
                  "  const result: Record<string, number> = {};"]  # fmt: skip
        for step in range(rng.randint(2, 6)):
            lines += [f"  for (let i = 0; i < value + {step}; i++) {{",
                      f"    if (i % {step + 2} === 0) {{ result[`${{label}}-${{i}}`] = i * {step + 1}; }}", "  }"]  # fmt: skip
        lines += ["  return result;", "}", ""]
    return "\n".join(lines) + "\n"


def relative_specifier(here: Path, target: Path) -> str:
    """'./x' or '../a/b' from folder `here` to `target`, without its extension (a barrel by its folder)."""
    parts_here, parts_target = here.parts, target.with_suffix("").parts
    common = 0
    while common < min(len(parts_here), len(parts_target)) and parts_here[common] == parts_target[common]:
        common += 1
    ups = [".."] * (len(parts_here) - common)
    rest = list(parts_target[common:])
    if rest and rest[-1] == "index" and len(rest) > 1:
        rest = rest[:-1]
    return "/".join(ups + rest) if ups else "./" + "/".join(rest)


def generate(files: int, seed: int = 0) -> Tree:
    """The whole tree of `files` source files plus the configuration files a real repository has."""
    rng = random.Random(seed)
    tree = Tree()
    python_count = round(files * PYTHON_SHARE)
    test_count = python_count // 6
    modules = python_modules(python_count - test_count, rng)
    for module in modules:
        tree.files["src/" + module.replace(".", "/") + ".py"] = python_source(module, modules, rng)
    for index in range(test_count):
        target = rng.choice(modules).replace(".__init__", "")
        tree.files[f"tests/test_{index:05d}.py"] = (
            f"import pytest\n\nfrom {target} import Thing\n\n\ndef test_thing() -> None:\n    assert Thing\n"
        )
    paths = typescript_files(files - python_count, rng)
    for path in paths:
        tree.files[path] = typescript_source(path, paths, rng)
    tree.files["pyproject.toml"] = '[project]\nname = "project"\nversion = "0.1.0"\n'
    tree.files["web/package.json"] = json.dumps({"name": "web", "private": True, "type": "module"}, indent=2)
    tree.files["web/tsconfig.json"] = json.dumps(
        {"compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["src/*"]}, "jsx": "react-jsx"}}, indent=2
    )
    return tree


def write(tree: Tree, root: Path, git: bool = True) -> Path:
    """Write the tree under `root` (which must not exist yet or be empty) and commit it."""
    for relative, content in tree.files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    if git:
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        subprocess.run(["git", *GIT_IDENTITY, "-C", str(root), "commit", "-q", "-m", "generated"], check=True)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=10_000, help="source files (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-git", action="store_true", help="write the files only")
    args = parser.parse_args()
    tree = generate(args.files, args.seed)
    write(tree, args.out, git=not args.no_git)
    print(f"{args.out}: {len(tree.files)} files")


if __name__ == "__main__":
    main()
