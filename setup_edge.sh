#!/usr/bin/env bash
# Set up the edge worker on this machine: a virtualenv, PyTorch for the GPU if there is one, the edge
# requirements, a settings file, and a self-test. Linux, macOS or WSL; for a Windows service see README.
# Safe to run again: an existing .venv, a PyTorch of the right version and .env.edge are kept as they are.
#   TORCH_INDEX=…      wheel index for NVIDIA GPUs (default: CUDA 13.0 builds)
#   TORCH_CPU_INDEX=…  wheel index for the CPU build (default: PyTorch's CPU index)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cu130}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

if [ -x .venv/bin/python ]; then
    echo "Using the existing .venv"
else
    "$PYTHON" -m venv .venv
fi

installed_torch=$(.venv/bin/python -c "import torch; print(torch.__version__)" 2>/dev/null || true)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "NVIDIA GPU found: $(nvidia-smi -L | head -n 1)"
    wanted_index=$TORCH_INDEX
    wanted_build="CUDA"
else
    echo "No NVIDIA GPU found: the CPU build of PyTorch (training runs on the CPU)."
    wanted_index=$TORCH_CPU_INDEX
    wanted_build="CPU"
fi
case "$installed_torch" in
    "$TORCH_VERSION"*)
        echo "PyTorch $installed_torch is installed already" ;;
    *)
        # The index holds only PyTorch's own builds of one kind, so nothing else can come from it; on a
        # machine without a GPU that keeps the multi-gigabyte CUDA wheels of the general index away.
        echo "Installing PyTorch $TORCH_VERSION ($wanted_build build)"
        .venv/bin/python -m pip install --disable-pip-version-check "torch==${TORCH_VERSION}" \
            --index-url "$wanted_index" ;;
esac
.venv/bin/python -m pip install --disable-pip-version-check -r requirements-edge.txt

.venv/bin/python -c "import torch; print(f'PyTorch {torch.__version__}, CUDA available: {torch.cuda.is_available()}')"

if [ ! -f .env.edge ]; then
    cp .env.edge.template .env.edge
    echo "Created .env.edge: fill in your Upstash/Redis, Neon and Qdrant settings, then run:"
    echo "    .venv/bin/python worker.py --test"
    exit 0
fi
echo "Keeping the existing .env.edge; checking it:"
.venv/bin/python worker.py --test
