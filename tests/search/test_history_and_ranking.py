"""Co-change pairs from commits, the history a clone reads, and the blended ranking with its evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.generated_repos import commit_changes, make_git_repo

from app.search.history import ChangeSet, co_changes
from app.search.names import NameIndex, name_words, shared_words, words_match
from app.search.ranking import BlendWeights, RepositoryIndex
from app.worker.clone import clone_repository, deepen_history
from app.worker.history import read_changes

DAY = 86_400


def test_pairs_count_commits_with_a_half_life_and_skip_large_commits() -> None:
    commits = [
        ChangeSet(100 * DAY, ("a.py", "b.py", "README.md")),
        ChangeSet(100 * DAY - 180 * DAY, ("b.py", "a.py")),
        ChangeSet(99 * DAY, ("a.py",)),
        ChangeSet(98 * DAY, (*tuple(f"f{n}.py" for n in range(31)), "a.py", "b.py")),
    ]
    indexed = {"a.py", "b.py", *(f"f{n}.py" for n in range(31))}
    [pair] = co_changes(commits, indexed)
    assert (pair.a, pair.b, pair.count, pair.last) == ("a.py", "b.py", 2, 100 * DAY)
    assert pair.weight == pytest.approx(1.5)  # one commit now, one a half-life ago


def test_a_depth_one_clone_is_deepened_to_the_days_asked_for(tmp_path: Path) -> None:
    repo = tmp_path / "src"
    make_git_repo(repo, {})
    commit_changes(repo, {"a.py": "import b\n", "b.py": "", "d.py": ""}, when="2001-01-01T00:00:00Z")
    commit_changes(repo, {"a.py": "import b\nX = 1\n", "d.py": "Z = 1\n"})
    commit_changes(repo, {"a.py": "import b\nX = 2\n", "b.py": "Y = 1\n"})
    commit_changes(repo, {"b.py": "Y = 2\n", "c.py": ""})
    cloned = clone_repository(
        str(repo), tmp_path / "clone", timeout_s=60, max_bytes=1 << 30, allow_local=True
    )
    # A shallow clone's oldest commit shows every file as added: it is no co-change, and left out.
    assert read_changes(cloned.path) == []
    assert deepen_history(cloned, str(repo), days=30, timeout_s=60, max_bytes=1 << 30, allow_local=True)
    # The 2001 commit lies outside the 30 days; the oldest one inside is the clone's new boundary.
    assert [c.paths for c in read_changes(cloned.path)] == [("b.py", "c.py"), ("a.py", "b.py")]


def _index(pairs: list[tuple[str, str, int]] = ()) -> RepositoryIndex:
    files = ["pkg/a.py", "pkg/b.py", "pkg/c.py", "tests/test_a.py", "docs/x.py"]
    edges = [("pkg/a.py", "pkg/b.py"), ("pkg/c.py", "pkg/b.py"), ("tests/test_a.py", "pkg/a.py")]
    history = co_changes([ChangeSet(DAY * n, (a, b)) for a, b, times in pairs for n in range(times)], files)
    vectors = np.eye(5, 64)
    vectors[2] = vectors[0] * 0.9 + vectors[2] * 0.1  # c lies near a
    return RepositoryIndex.build(files, edges, history, vectors)


def test_every_signal_and_its_evidence() -> None:
    index = _index([("pkg/a.py", "docs/x.py", 3)])
    hits = {hit.path: hit for hit in index.rank("pkg/a.py", 4, BlendWeights())}
    assert next(iter(hits)) == "docs/x.py"  # changed together three times outweighs the structure
    b, c, test, x = (hits[p].evidence for p in ("pkg/b.py", "pkg/c.py", "tests/test_a.py", "docs/x.py"))
    assert (b.imports_it, b.imported_by_it, b.same_folder) == (True, False, True)
    assert (test.imports_it, test.imported_by_it, test.name_words) == (False, True, ("a",))
    assert (c.shared_neighbours, c.shared_examples) == (1, ("pkg/b.py",))
    assert c.cosine == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-4)
    assert (x.changed_together, x.last_changed_together, x.same_folder) == (3, "1970-01-03", False)


def test_without_history_structure_ranks_and_ties_go_to_the_smaller_path() -> None:
    index = _index()
    weights = BlendWeights(cosine=0, link=1, shared=0, history=0, folder=0, name=0, churn=0, degree=0)
    assert [hit.path for hit in index.rank("pkg/a.py", 4, weights)] == [
        "pkg/b.py", "tests/test_a.py", "docs/x.py", "pkg/c.py",
    ]  # fmt: skip
    assert len(index.rank("pkg/a.py", 100, weights)) == 4  # never the file itself


def test_name_words_drop_folders_extensions_and_test_markers() -> None:
    assert name_words("tests/test_userModel.py") == {"user", "model"}
    assert name_words("src/v4/string.test.ts") == {"string"}
    assert name_words("pkg/__init__.py") == frozenset()


def test_name_words_match_when_one_abbreviates_the_other() -> None:
    assert (
        words_match("req", "request") and words_match("utils", "util") and words_match("app", "application")
    )
    assert not words_match("re", "request")  # two letters abbreviate too much
    assert not words_match("request", "response")
    assert shared_words(frozenset({"req", "fresh"}), frozenset({"request"})) == ("req~request",)
    paths = ["lib/request.js", "lib/response.js", "test/req.fresh.js", "test/res.send.js", "lib/re.js"]
    names = NameIndex(paths)
    assert names.similarity(2).round(3).tolist() == [0.5, 0.0, 1.0, 0.0, 0.0]  # req~request of {req, fresh}
    assert names.similarity(0).round(3).tolist() == [1.0, 0.0, 0.5, 0.0, 0.0]


def test_abbreviated_names_are_evidence_and_hubs_rank_first_among_equals() -> None:
    files = ["lib/request.js", "lib/utils.js", "lib/view.js", "test/req.fresh.js", "index.js"]
    edges = [("index.js", "lib/request.js"), ("index.js", "lib/utils.js"), ("lib/request.js", "lib/utils.js"),
             ("lib/view.js", "lib/utils.js")]  # fmt: skip
    index = RepositoryIndex.build(files, edges, [], np.zeros((5, 64)))
    names_only = BlendWeights(cosine=0, link=0, shared=0, history=0, folder=0, name=1, churn=0, degree=0)
    [first] = index.rank("test/req.fresh.js", 1, names_only)
    assert (first.path, first.evidence.name_words) == ("lib/request.js", ("req~request",))
    hubs = BlendWeights(cosine=0, link=0, shared=0, history=0, folder=0, name=0, churn=0, degree=1)
    assert index.rank("index.js", 1, hubs)[0].path == "lib/utils.js"  # three neighbours, the most
