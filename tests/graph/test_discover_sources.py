"""Discovery takes regular source files only, never follows a symlink, and skips what is not source."""

from __future__ import annotations

import os
from pathlib import Path

from support.generated_repos import write_tree

from app.graph.discover import Language, discover_sources
from app.worker.workspace import remove_tree


def test_languages_and_skipped_folders(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "a.py": "",
            "b.js": "",
            "c.jsx": "",
            "d.mjs": "",
            "e.cjs": "",
            "f.ts": "",
            "g.tsx": "",
            "h.mts": "",
            "i.cts": "",
            "types.d.ts": "",
            "README.md": "",
            "node_modules/dep/index.js": "",
            "pkg/node_modules/dep/index.js": "",
            ".git/hooks/x.py": "",
            "__pycache__/a.py": "",
            ".venv/lib/x.py": "",
            "env/pyvenv.cfg": "",
            "env/lib/site.py": "",
            "dist/bundle.js": "",
            "web/package.json": "{}",
            "web/build/out.js": "",
            "web/src/app.js": "",
            "lib/build/real_module.py": "",  # not beside a manifest: a real package folder
            "vendor/jquery.min.js": "",
            "x.egg-info/y.py": "",
        },
    )
    discovery = discover_sources(tmp_path)
    paths = {source.path: source.language for source in discovery.files}
    assert paths == {
        "a.py": Language.PYTHON,
        "b.js": Language.JAVASCRIPT,
        "c.jsx": Language.JAVASCRIPT,
        "d.mjs": Language.JAVASCRIPT,
        "e.cjs": Language.JAVASCRIPT,
        "f.ts": Language.TYPESCRIPT,
        "g.tsx": Language.TSX,
        "h.mts": Language.TYPESCRIPT,
        "i.cts": Language.TYPESCRIPT,
        "types.d.ts": Language.TYPESCRIPT,
        "web/src/app.js": Language.JAVASCRIPT,
        "lib/build/real_module.py": Language.PYTHON,
    }
    assert [source.path for source in discovery.files] == sorted(paths)
    assert "vendor/jquery.min.js" in {item.path for item in discovery.skipped}


def test_hostile_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_tree(outside, {"secret.py": "import os\n"})
    root = tmp_path / "repo"
    write_tree(root, {"ok.py": "", "x.js/inner.py": ""})
    (root / "passwd.py").symlink_to("/etc/passwd")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    with open(root / "huge.py", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # a 50 MB file, sparse
    os.mkfifo(root / "pipe.py")
    discovery = discover_sources(root)
    assert [source.path for source in discovery.files] == ["ok.py", "x.js/inner.py"]
    reasons = {item.path: item.reason for item in discovery.skipped}
    assert reasons["passwd.py"] == "symlink"
    assert "larger than" in reasons["huge.py"]
    assert not any(path.startswith(("escape", "loop")) for path in discovery.all_files)


def test_very_deep_folders(tmp_path: Path) -> None:
    depth = 1100  # deeper than Python's recursion limit, within PATH_MAX
    top = tmp_path / "deep"
    deep = str(top)
    try:
        os.mkdir(deep)
        for _ in range(depth):
            deep += "/d"
            os.mkdir(deep)  # one level at a time: pathlib's mkdir(parents=True) itself recurses
        Path(deep, "leaf.py").write_text("")
        discovery = discover_sources(top)
        assert [source.path for source in discovery.files] == ["d/" * depth + "leaf.py"]
    finally:
        remove_tree(top)  # pytest's own clean-up (shutil.rmtree) would recurse too deep
