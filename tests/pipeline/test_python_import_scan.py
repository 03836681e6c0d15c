"""The Python import scan finds every import statement grimp finds, and nothing in strings or comments."""

from __future__ import annotations

from app.pipeline.python_imports import PythonImport, new_parser, scan_python


def imports_of(source: str) -> set[tuple[str, str | None, bool]]:
    scan = scan_python(source.encode(), new_parser())
    return {(item.module, item.member, item.type_only) for item in scan.imports}


def test_every_statement_form_is_found() -> None:
    source = """
import a
import b.c as d, e
from . import f
from .. import g
from .h.i import (j,  # a comment with ) in it
    k as kk,
)
from l import *
import m; import n
from o \\
    import p
from.import q
from .r import s as t
"""
    assert imports_of(source) == {
        ("a", None, False),
        ("b.c", None, False),
        ("e", None, False),
        (".", "f", False),
        ("..", "g", False),
        (".h.i", "j", False),
        (".h.i", "k", False),
        ("l", "*", False),
        ("m", None, False),
        ("n", None, False),
        ("o", "p", False),
        (".", "q", False),
        (".r", "s", False),
    }


def test_imports_inside_functions_classes_and_try_count() -> None:
    source = """
def f():
    import a
    try:
        from b import c
    except ImportError:
        import d as c
class K:
    import e
if x: import g
"""
    assert {module for module, _, _ in imports_of(source)} == {"a", "b", "d", "e", "g"}


def test_strings_and_comments_hold_no_imports() -> None:
    source = '''
"""Module docstring.

import not_this
from neither import this
>>> from doctest import skipped
"""
x = "import nor_this"
y = 'from a import b'
z = f"{'import inner'}"
# import commented
s = """
import in_a_string
""" ; import after_string
raw = r"\\\\" ; import after_raw
__import__("dynamic")
importlib = 1
raise ValueError from error
'''
    assert imports_of(source) == {("after_string", None, False), ("after_raw", None, False)}


def test_type_checking_blocks_flag_their_imports() -> None:
    source = '''
import a
if TYPE_CHECKING:
    """A docstring
at column zero that must not end the block
"""
    from b import c

    # a comment at column zero does not end it either
    import d
else:
    import e
import f
if typing.TYPE_CHECKING: import g
def h():
    if TYPE_CHECKING:
        import i
    import j
'''
    flags = {module: type_only for module, _, type_only in imports_of(source)}
    assert flags == {
        "a": False,
        "b": True,
        "d": True,
        "e": False,
        "f": False,
        "g": True,
        "i": True,
        "j": False,
    }


def test_lines_are_reported() -> None:
    scan = scan_python(b"x = 1\n\nimport a\nfrom b import (\n  c,\n)\n", new_parser())
    assert sorted(scan.imports) == [PythonImport("a", None, 3, False), PythonImport("b", "c", 4, False)]


def test_a_broken_statement_is_reported_and_the_rest_kept() -> None:
    scan = scan_python(b"import a\nfrom b import (c,\nimport d\n", new_parser())
    assert ("a", None) in {(item.module, item.member) for item in scan.imports}
    assert scan.errors


def test_files_without_imports_cost_no_parse() -> None:
    assert scan_python(b"x = 1\n" * 1000, new_parser()).imports == []
    assert scan_python(b"", new_parser()).imports == []
