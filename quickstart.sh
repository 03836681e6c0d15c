#!/usr/bin/env bash
# Install into .venv and ingest a repository on the embedded stores (MODE=LOCAL): no servers, no accounts.
#   ./quickstart.sh                                  this repository
#   ./quickstart.sh https://github.com/pallets/flask a public repository
#   ./quickstart.sh /path/to/checkout                a local checkout
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# requirements-dev.txt = the edge worker's requirements plus the test tools (for .venv/bin/python -m pytest).
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

REPO=${1:-$(pwd)}
MODE=LOCAL exec .venv/bin/python -m app.cli ingest "$REPO"
