"""Repository text never acts on the terminal: file names escaped in the command line's output and logs."""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli import main
from app.printable import UNSAFE_CATEGORIES, PrintableLogRecord, printable

HOSTILE = "\x1b]0;owned\x07\x1b[2J\r\u202egnp.py"  # sets the title, clears the screen, reverses the name


def test_controls_bidi_and_undecodable_bytes_are_escaped() -> None:
    assert printable(HOSTILE) == "\\x1b]0;owned\\x07\\x1b[2J\\x0d\\u202egnp.py"
    assert printable("bad\udcffname.py") == "bad\\xffname.py"
    assert printable("src/données/日本語 file.py") == "src/données/日本語 file.py"


@given(st.text())
def test_no_escaped_text_holds_a_control_character(text: str) -> None:
    assert not {unicodedata.category(ch) for ch in printable(text)} & UNSAFE_CATEGORIES


def test_graph_summary_shows_a_hostile_file_name_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / HOSTILE).write_bytes(b"\xff\xfe")  # undecodable: listed by name under parse failures
    assert main(["graph", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert printable(HOSTILE) in out


def test_log_records_escape_their_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(PrintableLogRecord)
    try:
        log = logging.getLogger("test.printable")
        with caplog.at_level(logging.INFO, logger="test.printable"):
            log.info("parsed %s in %.1f s", HOSTILE, 1.5)
            try:
                raise ValueError(f"cannot read {HOSTILE}")
            except ValueError:
                log.exception("job failed")
    finally:
        logging.setLogRecordFactory(previous)
    assert caplog.records[0].getMessage() == f"parsed {printable(HOSTILE)} in 1.5 s"
    assert "\x1b" not in caplog.text and "\u202e" not in caplog.text
    assert f"ValueError: cannot read {printable(HOSTILE)}" in caplog.text
