#!/usr/bin/env bash
# Set up the edge worker on this machine: a virtualenv, PyTorch for the GPU if there is one, the edge
# requirements, a settings file, and a self-test. Linux, macOS or WSL; for a Windows service see README.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0
# PyTorch's wheel index for NVIDIA GPUs; override for another CUDA line, e.g. TORCH_INDEX=.../whl/cu128.
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cu130}

"$PYTHON" -m venv .venv
.venv/bin/python -m pip install --upgrade pip

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "NVIDIA GPU found: $(nvidia-smi -L | head -n 1)"
    .venv/bin/pip install "torch==${TORCH_VERSION}" --index-url "$TORCH_INDEX"
else
    echo "No NVIDIA GPU found: installing the CPU build of PyTorch (training falls back to the CPU)."
    .venv/bin/pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
fi
.venv/bin/pip install -r requirements-edge.txt

.venv/bin/python -c "import torch; print(f'CUDA available: {torch.cuda.is_available()}')"

if [ ! -f .env.edge ]; then
    cp .env.edge.template .env.edge
    echo "Created .env.edge: fill in your Upstash/Redis, Neon and Qdrant settings, then run:"
    echo "    .venv/bin/python worker.py --test"
    exit 0
fi
.venv/bin/python worker.py --test
