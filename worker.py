"""Edge worker: `python worker.py` (see app/worker/main.py; `--help` for options)."""

import sys

from app.worker.main import main

if __name__ == "__main__":
    sys.exit(main())
