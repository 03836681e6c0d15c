"""Repository text made safe to show: file names, paths and messages, escaped for terminals and logs.

A file name may hold any character but `/` and NUL: an ESC sequence that clears the screen or sets the
terminal title, a bell, a carriage return that writes over the line, bidirectional controls that show a
name in another order than it has. `printable` writes those the way Python's `repr` does (`\\x1b`,
`\\u202e`), and bytes that were not UTF-8 (held as surrogate escapes) as the byte (`\\xff`). Letters of any
script, spaces and symbols stay as they are.

The command line prints through `echo`; a process's log records escape their arguments once
`escape_log_records()` has run (the API, the worker and the command line call it at start).
"""

from __future__ import annotations

import logging
import numbers
import sys
import unicodedata
from collections.abc import Mapping
from typing import IO, Any

# Controls, format characters (bidi, zero-width), surrogates, private use, unassigned, line separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with every character a terminal could act on escaped."""
    if text.isprintable():  # the common case, at C speed
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in UNSAFE_CATEGORIES else ch for ch in text)


def printable_lines(text: str) -> str:
    """`printable` on each line of our own multi-line text: its line breaks stay."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for a byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def echo(*values: object, file: IO[str] | None = None, end: str = "\n") -> None:
    """`print` for the command line: what it shows may come from a repository."""
    stream = file or sys.stdout
    stream.write(" ".join(printable_lines(str(value)) for value in values) + end)
    stream.flush()


class _Shown:
    """A log argument as `%s` / `%r` show it, escaped."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return printable(str(self.value))

    def __repr__(self) -> str:
        return printable(repr(self.value))


class PrintableLogRecord(logging.LogRecord):
    """A log record whose message shows repository text escaped: the arguments wholly, the format string
    (ours) line by line, a traceback line by line. Numbers stay numbers, for `%d` and `%.1f`."""

    _exc_text: str | None = None

    @property  # type: ignore[override]
    def exc_text(self) -> str | None:
        """The formatted traceback, which `logging.Formatter` stores here: its last line is `str(exc)`."""
        return self._exc_text

    @exc_text.setter
    def exc_text(self, value: str | None) -> None:
        self._exc_text = None if value is None else printable_lines(value)

    def getMessage(self) -> str:
        message = printable_lines(str(self.msg))
        if not self.args:
            return message
        args: Any = self.args
        if isinstance(args, Mapping):
            return message % {key: _shown(value) for key, value in args.items()}
        return message % tuple(_shown(value) for value in args)


def _shown(value: object) -> object:
    return value if isinstance(value, numbers.Number) else _Shown(value)


def escape_log_records() -> None:
    """Make every log record of this process a `PrintableLogRecord` (once; a custom factory is kept)."""
    if logging.getLogRecordFactory() is logging.LogRecord:
        logging.setLogRecordFactory(PrintableLogRecord)
