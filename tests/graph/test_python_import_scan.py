"""The Python import scan finds every import statement grimp finds, and nothing in strings or comments."""

from __future__ import annotations

import ast
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st
from support.python_ast_imports import imports_by_python_ast

from app.graph.python_imports import PythonImport, new_parser, scan_python


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


# Generated sources: the scan must agree with CPython's own parser on every one of them.
NAMES = st.sampled_from(["a", "b.c", "pkg.mod", "x_1", "λ"])
MEMBERS = st.sampled_from(["y", "z", "*", "Thing"])
IMPORT_LINES = st.one_of(
    st.builds(lambda name: f"import {name}", NAMES),
    st.builds(lambda name, alias: f"import {name} as {alias}, os", NAMES, st.sampled_from(["q", "r"])),
    st.builds(
        lambda dots, name, member: f"from {dots}{name} import {member}",
        st.sampled_from(["", ".", ".."]),
        NAMES,
        MEMBERS,
    ),
    st.builds(
        lambda dots, member: f"from {dots} import {member}",
        st.sampled_from([".", ".."]),
        st.sampled_from(["y", "z"]),
    ),
    st.builds(lambda name: f"from {name} import (\n    y,  # ) tricky\n    z as w,\n)", NAMES),
    st.builds(lambda name: f"from {name} \\\n    import y", NAMES),
    st.builds(lambda name: f"import {name}; x = 1", NAMES),
)
NOISE_LINES = st.sampled_from(
    [
        'x = "import nope"',
        "y = 'from nope import x'",
        's = """\nimport nope\nfrom nope import (x)\n"""',
        "t = '''it''s \"import nope\"\n'''",
        'r = r"\\\\" + "import nope"',
        "f = f\"{x!r} import nope {'import'}\"",
        "b = b'import nope'",
        "# import nope",
        '# a lone quote: " \' """',
        "importer = __import__('nope')",
        "raise ValueError('x') from None",
        "x = [i for i in range(3)]",
    ]
)
LINES = st.one_of(IMPORT_LINES, NOISE_LINES)
HEADERS = st.sampled_from(
    ["def f():", "class C:", "if TYPE_CHECKING:", "if typing.TYPE_CHECKING:", "try:", "if x:"]
)


@st.composite
def python_sources(draw: st.DrawFn, depth: int = 0) -> str:
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        if depth < 2 and draw(st.integers(0, 3)) == 0:
            header = draw(HEADERS)
            body = draw(python_sources(depth + 1)) + "pass\n"  # a body of comments only is no body
            lines.append(header + "\n" + textwrap.indent(body, "    "))
            if header == "try:":
                lines.append("except ImportError:\n    pass")
            elif header.startswith("if"):
                lines.append("else:\n" + textwrap.indent(draw(python_sources(depth + 1)) + "pass\n", "    "))
        else:
            lines.append(draw(LINES))
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(source=python_sources())
def test_scan_agrees_with_the_python_parser_on_generated_sources(source: str) -> None:
    scan = scan_python(source.encode(), new_parser())
    assert {
        (item.module, item.member, item.line, item.type_only) for item in scan.imports
    } == imports_by_python_ast(ast.parse(source))
    assert scan.errors == []
