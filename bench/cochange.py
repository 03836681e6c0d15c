"""Similar files against future co-changes: our ranking and four baselines, in one run.

    python bench/cochange.py NAME=GIT_DIR... [--queries 600] [--seed 0] [--fit] [--stability]
        [--history-days DAYS] [--json OUT.json]

For each repository (a git directory with history, e.g. a `fetch` mirror): the graph commit T is the
newest first-parent commit at least 365 days older than the head. The graph (`app.graph.build`) and the
Node2Vec vectors (`app.embedding.trainer`, CPU, the given seed) are built at T; the co-change history is
the `--history-days` before T (default: HISTORY_DAYS's, what an ingest reads; `app.search.history`,
commits of more than 30 indexed files left out), the same for ours and the history baseline. Queries: every
commit after T up to the head (no merges) touching 2–30 files of T's graph; for each changed file, its
partners are the other changed files. A seeded sample of at most `--queries` queries per repository is
scored (the number of all queries is printed). Rankings, all over every other file of the graph:

    ours              app.search.ranking (the blend the API, the CLI and the dashboard serve)
    cosine            cosine of the Node2Vec vectors alone (what the search served before)
    import neighbours files it imports or that import it first, then Adamic–Adar
    Adamic–Adar       on the undirected import graph
    directory         leading folders shared, over the deeper of the two folders
    history           times the pair changed together in that history (ROSE-like)

Metrics per query, averaged: Recall@10 (partners in the top 10 / partners), MRR (1 / rank of the first
partner) and pair AUC (chance that a partner ranks above a non-partner), each the expectation over a
random order within ties (history and directory leave most files tied).

`--fit` fits the blend weights instead, on the time before T only: history of the same days up to T−365 d,
queries from the commits in (T−365 d, T], graph and vectors at T; coordinate ascent maximises the mean
Recall@10 over the repositories (weighted, see `fit`). `--stability` trains a second model (seed + 1) and prints the overlap of
the top 10 of the two models, for ours and for the cosine alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import config
from app.embedding.trainer import Trainer
from app.graph.build import DependencyGraph, build_graph
from app.search.history import ChangeSet, co_changes
from app.search.ranking import FEATURES, BlendWeights, RepositoryIndex
from app.worker.history import read_changes

YEAR = 365 * 86_400
FIT_GAP = YEAR
MAX_FILES = 30
RANKINGS = ("ours", "cosine", "import neighbours", "Adamic–Adar", "directory", "history")


@dataclass
class Query:
    file: int
    partners: np.ndarray


@dataclass
class Repo:
    name: str
    git_dir: Path
    head: str
    head_time: int
    commit: str
    commit_time: int
    graph: DependencyGraph
    vectors: np.ndarray
    train_seconds: float


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def prepare(name: str, git_dir: Path, seed: int, workdir: Path) -> Repo:
    """The graph commit, the graph and the vectors of one repository."""
    head = git(git_dir, "rev-parse", "HEAD")
    head_time = int(git(git_dir, "log", "-1", "--format=%ct", head))
    commit = git(git_dir, "rev-list", "-1", "--first-parent", f"--before={head_time - YEAR}", head)
    commit_time = int(git(git_dir, "log", "-1", "--format=%ct", commit))
    tree = workdir / name
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", commit], capture_output=True,
                             check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    graph = build_graph(tree)
    started = time.perf_counter()
    vectors = train(graph, seed)
    return Repo(name, git_dir, head, head_time, commit, commit_time, graph, vectors,
                time.perf_counter() - started)  # fmt: skip


def train(graph: DependencyGraph, seed: int) -> np.ndarray:
    trainer = Trainer(device="cpu")
    return trainer.train_embeddings(graph.edge_index(), len(graph.files), seed=seed).numpy()


def index_for(repo: Repo, history: list[ChangeSet], now: int, vectors: np.ndarray) -> RepositoryIndex:
    indexed = set(repo.graph.files)
    pairs = co_changes(history, indexed, now=now)
    edges = [(edge.src, edge.dst) for edge in repo.graph.edges]
    return RepositoryIndex.build(repo.graph.files, edges, pairs, vectors)


def queries_of(commits: list[ChangeSet], index: RepositoryIndex) -> list[Query]:
    found = []
    for commit in commits:
        changed = sorted({index.position[p] for p in commit.paths if p in index.position})
        if not 2 <= len(changed) <= MAX_FILES:
            continue
        for file in changed:
            found.append(Query(file, np.array([other for other in changed if other != file])))
    return found


def sample(queries: list[Query], limit: int, seed: int) -> list[Query]:
    if len(queries) <= limit:
        return queries
    chosen = np.random.default_rng(seed).choice(len(queries), size=limit, replace=False)
    return [queries[i] for i in sorted(chosen)]


def baseline_scores(index: RepositoryIndex, features: np.ndarray, query: int) -> dict[str, np.ndarray]:
    """Scores of the reference rankings; `features` as `RepositoryIndex.features` gives them."""
    adamic = index.adamic_adar(query)
    counts = np.zeros(len(index.files))
    for other, pair in index.pairs[query].items():
        counts[other] = pair.count
    return {
        "cosine": features[:, 0],
        "import neighbours": features[:, 1] * 1e6 + adamic,
        "Adamic–Adar": adamic,
        "directory": features[:, 4],
        "history": counts,
    }


def metrics(scores: np.ndarray, query: Query) -> tuple[float, float, float]:
    """Recall@10, reciprocal rank of the first partner and pair AUC of one ranking of one query.

    Each is its expectation over a uniformly random order within ties, so a ranking that leaves most
    files tied (history, directory) is neither helped nor hurt by how the ties happen to fall.
    """
    others = np.delete(scores.astype(np.float64), query.file)
    partners = np.asarray(query.partners) - (np.asarray(query.partners) > query.file)
    is_partner = np.zeros(len(others), dtype=bool)
    is_partner[partners] = True
    ordered = np.sort(others)
    values = others[partners]
    higher = len(others) - np.searchsorted(ordered, values, side="right")
    tied = np.searchsorted(ordered, values, side="right") - np.searchsorted(ordered, values, side="left")
    recall = float(np.mean(np.clip((10 - higher) / tied, 0.0, 1.0)))
    return recall, _expected_reciprocal_rank(others, is_partner), _pair_auc(others, is_partner)


def _expected_reciprocal_rank(others: np.ndarray, is_partner: np.ndarray) -> float:
    best = others[is_partner].max()
    higher = int(np.sum(others > best))
    group = int(np.sum(others == best))
    inside = int(np.sum(is_partner & (others == best)))
    # The first of `inside` partners placed at random among `group` slots is at slot j with
    # probability C(group - j, inside - 1) / C(group, inside).
    slots = np.arange(1, group - inside + 2)
    weights = np.array([math.comb(group - j, inside - 1) for j in slots], dtype=np.float64)
    return float(np.sum(weights / weights.sum() / (higher + slots)))


def _pair_auc(others: np.ndarray, is_partner: np.ndarray) -> float:
    negatives = np.sort(others[~is_partner])
    if len(negatives) == 0:
        return 1.0
    positives = others[is_partner]
    below = np.searchsorted(negatives, positives, side="left")
    ties = np.searchsorted(negatives, positives, side="right") - below
    return float(np.mean((below + 0.5 * ties) / len(negatives)))


def evaluate(
    index: RepositoryIndex, queries: list[Query], weights: BlendWeights
) -> dict[str, tuple[float, ...]]:
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in RANKINGS}
    for query in queries:
        features = index.features(query.file)
        scores = {"ours": features @ weights.vector(), **baseline_scores(index, features, query.file)}
        for name in RANKINGS:
            results[name].append(metrics(scores[name], query))
    return {name: tuple(float(x) for x in np.mean(values, axis=0)) for name, values in results.items()}


def stability(repo: Repo, index: RepositoryIndex, history: list[ChangeSet], queries: list[Query],
              weights: BlendWeights, seed: int) -> tuple[float, float]:  # fmt: skip
    """Mean overlap of the top 10 of two models trained with different seeds, each ranked as the app
    ranks (`RepositoryIndex.rank`): ours, and the cosine alone."""
    other = index_for(repo, history, repo.commit_time, train(repo.graph, seed + 1))
    cosine_only = BlendWeights(**{name: 0.0 for name in FEATURES if name != "cosine"}, cosine=1.0)
    overlaps: dict[BlendWeights, list[float]] = {weights: [], cosine_only: []}
    for file in sorted({index.files[query.file] for query in queries}):
        for blend, values in overlaps.items():
            first = {hit.path for hit in index.rank(file, 10, blend)}
            second = {hit.path for hit in other.rank(file, 10, blend)}
            values.append(len(first & second) / max(len(first), 1))
    return float(np.mean(overlaps[weights])), float(np.mean(overlaps[cosine_only]))


Stack = tuple[np.ndarray, np.ndarray, np.ndarray]


def stack_of(index: RepositoryIndex, queries: list[Query]) -> Stack:
    """Features [Q, N, F] of a repository's queries, with the partners and the query files as masks."""
    features = np.stack([index.features(q.file) for q in queries])
    truth = np.zeros(features.shape[:2], dtype=bool)
    own = np.zeros(features.shape[:2], dtype=bool)
    for row, query in enumerate(queries):
        truth[row, query.partners] = True
        own[row, query.file] = True
    return features, truth, own


def stacked_recall(stack: Stack, vector: np.ndarray) -> float:
    """Mean Recall@10 of the blend `vector` over stacked queries, ties counted as in `metrics`."""
    features, truth, own = stack
    scores = features @ vector
    scores[own] = scores[~own].min() - 1.0
    rows, count = scores.shape
    span = scores.max() - scores.min() + 1.0
    keys = scores + np.arange(rows)[:, None] * span  # one sorted array, each row in its own interval
    ordered = np.sort(keys.ravel())
    row_of, _ = np.nonzero(truth)
    values = keys[truth]
    right = np.searchsorted(ordered, values, side="right")
    tied = right - np.searchsorted(ordered, values, side="left")
    higher = (row_of + 1) * count - right
    found = np.clip((10 - higher) / tied, 0.0, 1.0)
    per_row = np.bincount(row_of, found, minlength=rows) / np.bincount(row_of, minlength=rows)
    return float(per_row.mean())


FIT_VALUES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0)
FIT_QUERY_CAP = 200
FIT_ROUNDS = 6


def fit(prepared: list[tuple[str, Stack]]) -> BlendWeights:
    """Coordinate ascent on the blend weights (history fixed at 1) over `FIT_VALUES`, round after round
    until one changes nothing, from two starts: history alone and today's defaults; the better wins.

    The objective is the mean Recall@10 over repositories, each weighted by its number of fit queries up
    to `FIT_QUERY_CAP`, so that a repository with two queries before T does not steer the weights.
    """
    counts = {name: min(stack[1].shape[0], FIT_QUERY_CAP) for name, stack in prepared}

    def objective(weights: BlendWeights) -> float:
        recalls = {name: stacked_recall(stack, weights.vector()) for name, stack in prepared}
        return sum(counts[name] * recall for name, recall in recalls.items()) / sum(counts.values())

    alone = BlendWeights(**{name: 0.0 for name in FEATURES if name != "history"}, history=1.0)
    starts = ((alone, "history alone"), (BlendWeights(), "today's defaults"))
    best_score, best = max((_ascend(start, label, objective) for start, label in starts), key=lambda r: r[0])
    print(f"  fitted: weighted mean Recall@10 {best_score:.4f}")
    per_repo = {name: round(stacked_recall(stack, best.vector()), 3) for name, stack in prepared}
    print(f"  per repository (fit queries {counts}): {per_repo}")
    return best


def _ascend(
    start: BlendWeights, label: str, objective: Callable[[BlendWeights], float]
) -> tuple[float, BlendWeights]:
    best, best_score = start, objective(start)
    print(f"  fit from {label}: weighted mean Recall@10 {best_score:.4f}", flush=True)
    for _ in range(FIT_ROUNDS):
        moved = False
        for name in (name for name in FEATURES if name != "history"):
            for value in FIT_VALUES:
                candidate = replace(best, **{name: value})
                score = objective(candidate)
                if score > best_score + 1e-9:
                    best, best_score, moved = candidate, score, True
                    print(f"  fit: weighted mean Recall@10 {score:.4f} with {best}", flush=True)
        if not moved:
            break
    return best_score, best


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("repos", nargs="+", help="NAME=GIT_DIR")
    parser.add_argument("--queries", type=int, default=600, help="queries sampled per repository")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", action="store_true", help="fit the blend weights before T instead")
    parser.add_argument("--stability", action="store_true", help="overlap of two seeds' top 10")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--history-days", type=int, default=config.default("history_days"),
                        help="days of history before T (before T - 365 d with --fit); default HISTORY_DAYS's")  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    span = args.history_days * 86_400
    weights = BlendWeights()
    rows, fitting = [], []
    with tempfile.TemporaryDirectory(prefix="neo-cochange-") as workdir:
        for spec in args.repos:
            name, _, git_dir = spec.partition("=")
            repo = prepare(name, Path(git_dir), args.seed, Path(workdir))
            if args.fit:
                start = repo.commit_time - FIT_GAP
                history = read_changes(repo.git_dir, repo.commit, since=start - span)
                before = [c for c in history if c.when <= start]
                index = index_for(repo, before, start, repo.vectors)
                targets = [c for c in history if c.when > start]
                queries = sample(queries_of(targets, index), args.queries, args.seed)
                print(f"{name}: {len(repo.graph.files)} files, {len(queries)} fit queries", flush=True)
                fitting.append((name, stack_of(index, queries)))
                continue
            history = read_changes(repo.git_dir, repo.commit, since=repo.commit_time - span)
            index = index_for(repo, history, repo.commit_time, repo.vectors)
            future = read_changes(repo.git_dir, f"{repo.commit}..{repo.head}")
            every = queries_of(future, index)
            queries = sample(every, args.queries, args.seed)
            figures = evaluate(index, queries, weights)
            row = {
                "name": name, "files": len(repo.graph.files), "edges": len(repo.graph.edges),
                "graph_commit": repo.commit, "graph_date": _day(repo.commit_time), "head": repo.head,
                "head_date": _day(repo.head_time), "history_commits": len(history),
                "future_commits": len(future), "queries": len(every), "sampled": len(queries),
                "train_seconds": round(repo.train_seconds, 1), "figures": figures,
            }  # fmt: skip
            if args.stability:
                row["stability"] = stability(repo, index, history, queries, weights, args.seed)
            rows.append(row)
            print_row(row, flush=True)
    if args.fit:
        print(f"fitted: {fit(fitting)}")
        return 0
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _day(seconds: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def print_row(row: dict, flush: bool = False) -> None:
    print(f"{row['name']}: {row['files']} files, graph {row['graph_commit'][:12]} ({row['graph_date']}), "
          f"head {row['head'][:12]} ({row['head_date']}), {row['history_commits']} commits before, "
          f"{row['queries']} queries ({row['sampled']} scored), training {row['train_seconds']} s"
          + (f", top-10 overlap of two seeds: ours {row['stability'][0]:.3f}, cosine {row['stability'][1]:.3f}"
             if "stability" in row else ""), flush=flush)  # fmt: skip
    for name in RANKINGS:
        recall, mrr, auc = row["figures"][name]
        print(f"    {name:18s} R@10 {recall:.3f}  MRR {mrr:.3f}  AUC {auc:.3f}", flush=flush)


def print_table(rows: list[dict]) -> None:
    header = (
        "| repository | files | queries | "
        + " | ".join(RANKINGS)
        + " | ours / best structural | ours / history |"
    )
    print("\nRecall@10 (MRR, pair AUC)\n" + header)
    print("|---|---:|---:|" + "---:|" * (len(RANKINGS) + 2))
    for row in rows:
        figures = row["figures"]
        cells = [f"{figures[n][0]:.3f} ({figures[n][1]:.3f}, {figures[n][2]:.3f})" for n in RANKINGS]
        structural = max(figures[n][0] for n in ("import neighbours", "Adamic–Adar", "directory"))
        ours = figures["ours"][0]
        print(f"| {row['name']} | {row['files']} | {row['sampled']}/{row['queries']} | " + " | ".join(cells)
              + f" | {ours / structural:.2f} | {ours / max(figures['history'][0], 1e-9):.2f} |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
