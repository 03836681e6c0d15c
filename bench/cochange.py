"""Similar files against future co-changes: our ranking and four baselines, in one run.

    python bench/cochange.py NAME=GIT_DIR... [--queries 600] [--seed 0] [--fit] [--stability]
        [--cosine-only] [--json OUT.json]

For each repository (a git directory with history, e.g. a `fetch` mirror): the graph commit T is the
newest first-parent commit at least 365 days older than the head. The graph (`app.graph.build`) and the
Node2Vec vectors (`app.embedding.trainer`, CPU, the given seed) are built at T; the co-change history is
the year before T (`app.search.history`, commits of more than 30 indexed files left out). Queries: every
commit after T up to the head (no merges) touching 2–30 files of T's graph; for each changed file, its
partners are the other changed files. A seeded sample of at most `--queries` queries per repository is
scored (the number of all queries is printed). Rankings, all over every other file of the graph:

    ours              app.search.ranking (the blend the API, the CLI and the dashboard serve)
    cosine            cosine of the Node2Vec vectors alone (what the search served before)
    import neighbours files it imports or that import it first, then Adamic–Adar
    Adamic–Adar       on the undirected import graph
    directory         leading folders shared, over the deeper of the two folders
    history           times the pair changed together in the year before T (ROSE-like)

Ties are broken by one seeded random order of the files, the same for every ranking. Metrics per query,
averaged: Recall@10 (partners in the top 10 / partners), MRR (1 / rank of the first partner) and pair AUC
(chance that a partner ranks above a non-partner).

`--fit` fits the blend weights instead, on the time before T only: history from T−545 d to T−180 d,
queries from the commits in (T−180 d, T], graph and vectors at T; a grid search maximises the mean
Recall@10 over the repositories. `--stability` trains a second model (seed + 1) and prints the overlap of
the top 10 of the two models, for ours and for the cosine alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.embedding.trainer import Trainer
from app.graph.build import DependencyGraph, build_graph
from app.search.history import ChangeSet, co_changes
from app.search.ranking import BlendWeights, RepositoryIndex
from app.worker.history import read_changes

YEAR = 365 * 86_400
FIT_GAP = 180 * 86_400
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


def metrics(scores: np.ndarray, query: Query, tiebreak: np.ndarray) -> tuple[float, float, float]:
    """Recall@10, reciprocal rank of the first partner and pair AUC of one ranking of one query."""
    scores = scores.astype(np.float64).copy()
    scores[query.file] = -np.inf
    order = np.lexsort((tiebreak, -scores))
    order = order[order != query.file]
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    partner_ranks = np.sort(rank[query.partners])
    recall = float(np.mean(partner_ranks <= 10))
    others = len(order) - len(partner_ranks)
    if others == 0:
        return recall, 1.0 / partner_ranks[0], 1.0
    # Non-partners below each partner: all files below it minus the partners below it.
    below = (len(order) - partner_ranks) - (len(partner_ranks) - 1 - np.arange(len(partner_ranks)))
    return recall, 1.0 / partner_ranks[0], float(np.mean(below) / others)


def evaluate(index: RepositoryIndex, queries: list[Query], weights: BlendWeights,
             tiebreak: np.ndarray) -> dict[str, tuple[float, float, float]]:  # fmt: skip
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in RANKINGS}
    for query in queries:
        features = index.features(query.file)
        scores = {"ours": features @ weights.vector(), **baseline_scores(index, features, query.file)}
        for name in RANKINGS:
            results[name].append(metrics(scores[name], query, tiebreak))
    return {name: tuple(float(x) for x in np.mean(values, axis=0)) for name, values in results.items()}


def top10(index: RepositoryIndex, query: int, scores: np.ndarray, tiebreak: np.ndarray) -> set[int]:
    scores = scores.copy()
    scores[query] = -np.inf
    return set(np.lexsort((tiebreak, -scores))[:10].tolist())


def stability(repo: Repo, index: RepositoryIndex, history: list[ChangeSet], queries: list[Query],
              weights: BlendWeights, seed: int, tiebreak: np.ndarray) -> tuple[float, float]:  # fmt: skip
    """Mean overlap of the top 10 of two models trained with different seeds: ours, cosine alone."""
    other = index_for(repo, history, repo.commit_time, train(repo.graph, seed + 1))
    ours, cosine = [], []
    for file in sorted({query.file for query in queries}):
        f1, f2 = index.features(file), other.features(file)
        ours.append(len(top10(index, file, f1 @ weights.vector(), tiebreak)
                        & top10(other, file, f2 @ weights.vector(), tiebreak)) / 10)  # fmt: skip
        cosine.append(
            len(top10(index, file, f1[:, 0], tiebreak) & top10(other, file, f2[:, 0], tiebreak)) / 10
        )
    return float(np.mean(ours)), float(np.mean(cosine))


def fit(prepared: list[tuple[Repo, RepositoryIndex, list[Query]]], seed: int) -> BlendWeights:
    """Grid search of the blend weights (history fixed at 1) for the best mean Recall@10 over repositories.

    Vectorised: each repository's queries are stacked, ties broken by the seeded order (scaled below any
    real difference of scores).
    """
    stacks = []
    for _, index, queries in prepared:
        tiebreak = np.random.default_rng(seed).random(len(index.files)) * 1e-9
        features = np.stack([index.features(q.file) for q in queries])  # [Q, N, F]
        truth = np.zeros(features.shape[:2], dtype=bool)
        own = np.zeros(features.shape[:2], dtype=bool)
        for row, query in enumerate(queries):
            truth[row, query.partners] = True
            own[row, query.file] = True
        stacks.append((features, truth, own, tiebreak))
    grid = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5)
    best: tuple[float, BlendWeights] | None = None
    for cosine, link, shared, folder in itertools.product(grid, grid, grid, grid):
        weights = BlendWeights(cosine=cosine, link=link, shared=shared, history=1.0, folder=folder)
        score = float(np.mean([_stacked_recall(stack, weights.vector()) for stack in stacks]))
        if best is None or score > best[0] + 1e-9:
            best = (score, weights)
            print(f"  fit: mean Recall@10 {score:.4f} with {weights}", flush=True)
    assert best is not None
    per_repo = [round(_stacked_recall(stack, best[1].vector()), 3) for stack in stacks]
    print(f"  per repository: {dict(zip([repo.name for repo, _, _ in prepared], per_repo, strict=True))}")
    return best[1]


def _stacked_recall(
    stack: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], vector: np.ndarray
) -> float:
    features, truth, own, tiebreak = stack
    scores = features @ vector + tiebreak
    scores[own] = -np.inf
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    hits = np.take_along_axis(truth, top, axis=1).sum(axis=1)
    return float(np.mean(hits / truth.sum(axis=1)))


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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    weights = BlendWeights()
    rows, fitting = [], []
    with tempfile.TemporaryDirectory(prefix="neo-cochange-") as workdir:
        for spec in args.repos:
            name, _, git_dir = spec.partition("=")
            repo = prepare(name, Path(git_dir), args.seed, Path(workdir))
            tiebreak = np.random.default_rng(args.seed).random(len(repo.graph.files))
            if args.fit:
                start = repo.commit_time - FIT_GAP
                history = read_changes(repo.git_dir, repo.commit, since=start - YEAR)
                before = [c for c in history if c.when <= start]
                index = index_for(repo, before, start, repo.vectors)
                targets = [c for c in history if c.when > start]
                queries = sample(queries_of(targets, index), args.queries, args.seed)
                print(f"{name}: {len(repo.graph.files)} files, {len(queries)} fit queries", flush=True)
                fitting.append((repo, index, queries))
                continue
            history = read_changes(repo.git_dir, repo.commit, since=repo.commit_time - YEAR)
            index = index_for(repo, history, repo.commit_time, repo.vectors)
            future = read_changes(repo.git_dir, f"{repo.commit}..{repo.head}")
            every = queries_of(future, index)
            queries = sample(every, args.queries, args.seed)
            figures = evaluate(index, queries, weights, tiebreak)
            row = {
                "name": name, "files": len(repo.graph.files), "edges": len(repo.graph.edges),
                "graph_commit": repo.commit, "graph_date": _day(repo.commit_time), "head": repo.head,
                "head_date": _day(repo.head_time), "history_commits": len(history),
                "future_commits": len(future), "queries": len(every), "sampled": len(queries),
                "train_seconds": round(repo.train_seconds, 1), "figures": figures,
            }  # fmt: skip
            if args.stability:
                row["stability"] = stability(repo, index, history, queries, weights, args.seed, tiebreak)
            rows.append(row)
            print_row(row, flush=True)
    if args.fit:
        print(f"fitted: {fit(fitting, args.seed)}")
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
