"""`python -m app.cli embed GRAPH.json --out VECTORS.npy`: round trip through files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import main
from app.cli.embed import read_graph_json
from app.embedding.trainer import Trainer

REPO_ROOT = Path(__file__).resolve().parents[2]
FILES = ["pkg/__init__.py", "pkg/a.py", "pkg/b.py", "src/index.ts", "src/util.ts", "README_ONLY.py"]
EDGES = [["pkg/a.py", "pkg/b.py"], ["pkg/__init__.py", "pkg/a.py"], ["src/index.ts", "src/util.ts"]]


@pytest.fixture
def graph_json(tmp_path: Path) -> Path:
    path = tmp_path / "graph.json"
    document = {"files": FILES, "edges": EDGES, "kinds": ["import", "import", "import"], "repo": "x"}
    path.write_text(json.dumps(document))
    return path


def test_embed_writes_one_row_per_file_in_files_order(graph_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "vectors.npy"
    assert main(["embed", str(graph_json), "--out", str(out), "--device", "cpu", "--seed", "4"]) == 0
    vectors = np.load(out)
    assert vectors.shape == (len(FILES), 64)
    assert vectors.dtype == np.float32
    files, edges = read_graph_json(graph_json)
    expected = Trainer(device="cpu").train_embeddings(edges, len(files), seed=4)
    np.testing.assert_array_equal(vectors, expected.numpy())


def test_graph_json_edges_may_name_files_by_index(tmp_path: Path) -> None:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"files": ["a.py", "b.py", "c.py"], "edges": [[0, 1], ["b.py", "c.py"]]}))
    files, edges = read_graph_json(path)
    assert files == ["a.py", "b.py", "c.py"]
    assert edges.tolist() == [[0, 1], [1, 2]]
    assert edges.dtype == np.int64


def test_graph_json_without_edges_gives_an_empty_edge_array(tmp_path: Path) -> None:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"files": ["a.py"], "edges": []}))
    assert read_graph_json(path)[1].shape == (2, 0)


@pytest.mark.parametrize(
    "document",
    [
        {"files": ["a.py"], "edges": [["a.py", "missing.py"]]},
        {"files": ["a.py"], "edges": [[0, 3]]},
        {"edges": []},
    ],
)
def test_embed_reports_a_bad_graph_and_exits_1(
    document: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(document))
    assert main(["embed", str(path), "--out", str(tmp_path / "v.npy")]) == 1
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "v.npy").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_embed_on_cuda_without_cuda_exits_1(graph_json: Path, tmp_path: Path) -> None:
    assert main(["embed", str(graph_json), "--out", str(tmp_path / "v.npy"), "--device", "cuda"]) == 1


def test_module_entry_point_round_trip(graph_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "vectors.npy"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "embed", str(graph_json), "--out", str(out), "--seed", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    epochs = [line for line in result.stderr.splitlines() if line.startswith("Epoch ")]
    assert epochs and epochs[-1].startswith(f"Epoch {len(epochs)}/{len(epochs)}: loss ")
    assert "Node2Vec training device: cpu" in result.stderr or torch.cuda.is_available()
    assert np.load(out).shape == (len(FILES), 64)


def test_importing_the_cli_does_not_import_torch_or_numpy() -> None:
    """Other subcommands (and the cloud side) must not pay for torch."""
    code = "import sys, app.cli; sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=60).returncode == 0
