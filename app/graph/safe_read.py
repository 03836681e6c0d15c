"""Read a file of a clone without following a symlink and without reading past a size cap."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_CONFIG_BYTES = 1 << 20
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The file's bytes; OSError if it is a symlink, not a regular file, or larger than `max_bytes`."""
    descriptor = os.open(path, _FLAGS)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > max_bytes:
            raise OSError(0, f"larger than {max_bytes} bytes")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(max_bytes + 1)
    finally:
        os.close(descriptor)


def read_config_text(path: Path) -> str | None:
    """A small config file's text (package.json, tsconfig.json…), or None if it cannot be read."""
    try:
        return read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
