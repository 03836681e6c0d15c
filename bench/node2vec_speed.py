"""Speed of the embedding stage on synthetic code-like graphs (bench/synthetic_graph.py).

    flock /tmp/neo-bench.lock python bench/node2vec_speed.py [--device cpu|cuda] [--repeats 3]

Prints, each as the median of `--repeats` runs after one warm-up:
- one training epoch with the default hyper-parameters on a 20,000-node, 100,000-edge graph;
- uniform walks (10 per node, 20 steps) on a 100,000-node, 500,000-edge graph, and p/q-biased ones;
- on CUDA, also 10 epochs on the 100,000-node graph.
Wall-clock seconds, with the machine's load average before and after, since other processes share it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_graph import synthetic_edges

from app.embedding.device import resolve_device
from app.embedding.optim import make_optimizer
from app.embedding.trainer import Node2VecConfig, build_model, train_epoch
from app.embedding.walker import CsrGraph, RandomWalker


def timed(run: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    """Seconds of each run after one warm-up run."""
    seconds = []
    for attempt in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if attempt:
            seconds.append(time.perf_counter() - started)
    return seconds


def describe(seconds: list[float]) -> str:
    runs = ", ".join(f"{s:.3f}" for s in seconds)
    return f"{statistics.median(seconds):.3f} s (runs: {runs})"


def epoch_speed(num_nodes: int, num_edges: int, device: torch.device, repeats: int, epochs: int = 1) -> str:
    edges = torch.from_numpy(synthetic_edges(num_nodes, num_edges, seed=0))
    config = Node2VecConfig()
    model = build_model(edges, num_nodes, config, device).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    model.reset_parameters(generator)
    optimizer = make_optimizer(model, config.lr)
    batch_size = config.batch_size_for(device, num_nodes)

    def run() -> None:
        for _ in range(epochs):
            train_epoch(model, optimizer, batch_size, generator)

    products = "bfloat16" if model.product_dtype == torch.bfloat16 else "float32"
    return f"batch size {batch_size} nodes, {products} products: " + describe(timed(run, device, repeats))


def walk_speed(num_nodes: int, num_edges: int, device: torch.device, repeats: int, p: float, q: float) -> str:
    edges = torch.from_numpy(synthetic_edges(num_nodes, num_edges, seed=0))
    walker = RandomWalker(CsrGraph.from_edge_index(edges, num_nodes, device=device), p=p, q=q)
    start = torch.arange(num_nodes, device=device).repeat(10)
    generator = torch.Generator(device=device).manual_seed(0)
    return describe(timed(lambda: walker.walk(start, 20, generator), device, repeats))


def machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    described = (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads"
    )
    if device.type == "cuda":
        described += f", {torch.cuda.get_device_name(device)}"
    return described


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"machine: {machine(device)}; device {device}; load average before: {load()}")
    print(
        f"one epoch, defaults, 20k nodes / 100k edges: {epoch_speed(20_000, 100_000, device, args.repeats)}"
    )
    walks = "walks, 10 per node x 20 steps, 100k nodes / 500k edges"
    print(f"uniform {walks}: {walk_speed(100_000, 500_000, device, args.repeats, 1.0, 1.0)}")
    print(f"p=1 q=0.5 {walks}: {walk_speed(100_000, 500_000, device, args.repeats, 1.0, 0.5)}")
    if device.type == "cuda":
        ten = epoch_speed(100_000, 500_000, device, args.repeats, epochs=10)
        print(f"10 epochs, defaults, 100k nodes / 500k edges: {ten}")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
