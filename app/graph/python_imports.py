"""Find the import statements of a Python file without parsing all of it.

A full tree-sitter parse runs at about 10 MB/s per core here, and most bytes of a Python package are
function bodies and docstrings that cannot hold an import. So a single regular-expression pass (C
speed) walks the file's strings and comments and stops on every `import` keyword outside them. In
Python `import` is a hard keyword, so each such hit belongs to an import statement wherever it is
(module level, inside a function, a `try` or an `if TYPE_CHECKING:` block). Only those statements are
cut out and parsed with tree-sitter, which reads names, aliases, parentheses and relative dots.

`if TYPE_CHECKING:` blocks are found the same way and measured by indentation, so each import keeps a
type-only flag.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import NamedTuple

import tree_sitter
import tree_sitter_python

# Strings (triple-quoted first), comments, and the two words we look for. String prefixes (r, b, f…)
# need no branch: a backslash keeps a quote from closing a raw string just as it does a plain one.
_STRING_AND_COMMENT = rb"""
    '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*(?:'''|\Z)
  | \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:\"\"\"|\Z)
  | '[^'\\\n]*(?:\\.[^'\\\n]*)*'?
  | "[^"\\\n]*(?:\\.[^"\\\n]*)*"?
  | \#[^\n]*
"""
_TOKENS = re.compile(_STRING_AND_COMMENT + rb"| import", re.X | re.S)
_TOKENS_WITH_GUARDS = re.compile(_STRING_AND_COMMENT + rb"| import | TYPE_CHECKING", re.X | re.S)

_IMPORT_KEYWORD = ord("i")
_GUARD_WORD = ord("T")
_QUOTES = (ord("'"), ord('"'))
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") | frozenset(
    range(0x80, 0x100)
)

# `from <module>` just before the keyword, on the same logical line.
# The text before the keyword, read backwards: blanks, the module (dots and names, perhaps spaced or
# continued), then `from` ("morf") not glued to a name. Reading backwards from the keyword keeps the
# cost to the clause's own length. (In a bytes pattern \w is ASCII only; identifiers may be any
# UTF-8, hence the \x80-\xff.)
_FROM_CLAUSE_REVERSED = re.compile(
    rb"[ \t\\\r\n]*(?P<module>[.\w\x80-\xff][.\w\x80-\xff \t\\\r\n]*?)morf(?![\w.\x80-\xff])"
)
_SIMPLE_PREFIX = re.compile(rb"[ \t]*(?:(from)(?![\w\x80-\xff])([ \t.\w\x80-\xff]*))?")
# No from-clause is longer than this; a hostile file must not make every keyword scan its whole line.
_LONGEST_CLAUSE = 512
_MOST_GUARDS = 256
# What follows the keyword up to the end of the statement: a parenthesised name list, or the rest of
# the logical line (stopping at `;` or a comment).
_STATEMENT_REST = re.compile(
    rb"[ \t]*(?:\\\r?\n[ \t]*)*(?:\((?:[^)#]|\#[^\n]*)*\)?|(?:[^\n;#\\]|\\\r?\n|\\.)*)"
)
_GUARD_HEADER = re.compile(rb"[ \t]*if[ \t]+(?:[\w\x80-\xff]+[ \t]*\.[ \t]*)*TYPE_CHECKING[ \t]*:[ \t]*")
_BLANKS = b" \t\r\n\f\\"  # inside a dotted name or relative import, only separators

_LANGUAGE = tree_sitter.Language(tree_sitter_python.language())
_QUERY = tree_sitter.Query(
    _LANGUAGE,
    """
    (import_statement name: [(dotted_name) @plain (aliased_import name: (dotted_name) @plain)])
    (import_from_statement module_name: (_) @from_module)
    (import_from_statement name: [(dotted_name) @member (aliased_import name: (dotted_name) @member)])
    (import_from_statement (wildcard_import) @member)
    """,
)


class PythonImport(NamedTuple):
    """`module` keeps its leading dots; `member` is the name after `from … import`, or None."""

    module: str
    member: str | None
    line: int
    type_only: bool


@dataclass(slots=True)
class PythonScan:
    imports: list[PythonImport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Statement:
    start: int  # byte offset in the file
    end: int
    line: int  # 1-based


def scan_python(data: bytes, parser: tree_sitter.Parser) -> PythonScan:
    """Return every import of a Python source file (bytes, UTF-8) with its line and type-only flag."""
    statements, guard_blocks = _find_statements(data)
    if not statements:
        return PythonScan()
    starts = [start for start, _ in guard_blocks]
    guarded = [_inside(item.start, starts, guard_blocks) for item in statements]
    return _parse_statements(data, statements, guarded, parser)


def _inside(position: int, starts: list[int], blocks: list[tuple[int, int]]) -> bool:
    index = bisect_right(starts, position) - 1
    return index >= 0 and position < blocks[index][1]


def _find_statements(data: bytes) -> tuple[list[_Statement], list[tuple[int, int]]]:
    """Locate import statements (and `if TYPE_CHECKING:` blocks) outside strings and comments."""
    last = data.rfind(b"import")
    if last < 0:
        return [], []
    has_guards = b"TYPE_CHECKING" in data
    tokens = _TOKENS_WITH_GUARDS if has_guards else _TOKENS
    statements: list[_Statement] = []
    guards: list[int] = []
    long_strings: list[tuple[int, int]] = []
    line, counted_to, covered_to = 1, 0, 0
    for match in tokens.finditer(data, 0, last + 6):
        start = match.start()
        first = data[start]
        if first == _IMPORT_KEYWORD:
            if start < covered_to or not _is_keyword(data, start, 6):
                continue
            statement = _statement_at(data, start)
            line += data.count(b"\n", counted_to, statement.start)
            counted_to = statement.start
            statement.line = line
            statements.append(statement)
            covered_to = statement.end
        elif first == _GUARD_WORD:
            guards.append(start)
        elif has_guards and first in _QUOTES and data.find(b"\n", start, match.end()) >= 0:
            long_strings.append((start, match.end()))
    blocks = [
        block for position in guards[:_MOST_GUARDS] if (block := _guard_block(data, position, long_strings))
    ]
    return statements, _merged(blocks)


def _merged(blocks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or nested ranges joined, in order, so that a bisect finds the one around a point."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(blocks):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _is_keyword(data: bytes, start: int, length: int) -> bool:
    before = data[start - 1] if start else 0x20
    after = data[start + length] if start + length < len(data) else 0x20
    return before not in _WORD_BYTES and after not in _WORD_BYTES


def _statement_at(data: bytes, keyword: int) -> _Statement:
    """The statement around an `import` keyword: back to its `from` clause, on to its end."""
    end = _STATEMENT_REST.match(data, keyword + 6).end()
    newline = data.rfind(b"\n", max(0, keyword - _LONGEST_CLAUSE), keyword)
    continued = newline > 0 and data[max(0, newline - 2) : newline].endswith((b"\\", b"\\\r"))
    if (newline >= 0 or keyword <= _LONGEST_CLAUSE) and not continued:
        # The common layouts (`import x`, `from x import y` alone on their line) need no backward read.
        simple = _SIMPLE_PREFIX.fullmatch(data, newline + 1, keyword)
        if simple is not None:
            has_module = simple.group(1) is not None and simple.group(2).strip()
            return _Statement(simple.start(1) if has_module else keyword, end, 0)
    window = data[max(0, keyword - _LONGEST_CLAUSE) : keyword][::-1]
    clause = _FROM_CLAUSE_REVERSED.match(window)
    start = keyword - clause.end() if clause and b"\n" not in _unescaped_newlines(clause.group()) else keyword
    return _Statement(start, end, 0)


def _unescaped_newlines(reversed_clause: bytes) -> bytes:
    """The clause (read backwards) without its backslash-newline continuations, to spot a real newline."""
    return reversed_clause.replace(b"\n\r\\", b"").replace(b"\n\\", b"")


def _guard_block(data: bytes, position: int, long_strings: list[tuple[int, int]]) -> tuple[int, int] | None:
    """Byte range governed by the `if TYPE_CHECKING:` whose condition is at `position`, if it is one."""
    line_start = data.rfind(b"\n", 0, position) + 1
    header = _GUARD_HEADER.match(data, line_start)
    if header is None or header.end() < position + 13:
        return None
    line_end = data.find(b"\n", header.end())
    line_end = len(data) if line_end < 0 else line_end
    tail = data[header.end() : line_end].strip()
    if tail and not tail.startswith(b"#"):
        return header.end(), line_end  # `if TYPE_CHECKING: import x` on one line
    indent = len(data[line_start : header.end()]) - len(data[line_start : header.end()].lstrip(b" \t"))
    return line_end, _block_end(data, line_end + 1, indent, long_strings)


def _block_end(data: bytes, position: int, indent: int, long_strings: list[tuple[int, int]]) -> int:
    """First line at or left of `indent` that is code (not blank, comment or inside a string)."""
    string_starts = [start for start, _ in long_strings]
    size = len(data)
    while position < size:
        line_end = data.find(b"\n", position)
        line_end = size if line_end < 0 else line_end
        line = data[position:line_end]
        stripped = line.lstrip(b" \t")
        if stripped.strip() and not stripped.startswith(b"#") and len(line) - len(stripped) <= indent:
            index = bisect_right(string_starts, position) - 1
            if index < 0 or long_strings[index][1] <= position:
                return position
        position = line_end + 1
    return size


def _parse_statements(
    data: bytes, statements: list[_Statement], guarded: list[bool], parser: tree_sitter.Parser
) -> PythonScan:
    """Parse the cut-out statements together, one per line, and read their names."""
    offsets = []
    pieces = []
    size = 0
    for statement in statements:
        offsets.append(size)
        piece = data[statement.start : statement.end]
        pieces.append(piece)
        size += len(piece) + 1
    tree = parser.parse(b"\n".join(pieces))
    captures = tree_sitter.QueryCursor(_QUERY).captures(tree.root_node)
    scan = PythonScan()
    broken: set[int] = set()
    if tree.root_node.has_error:
        broken = {
            bisect_right(offsets, child.start_byte) - 1
            for child in tree.root_node.children
            if child.has_error
        }
        scan.errors = [
            f"unparsable import statement at line {statements[index].line}" for index in sorted(broken)
        ]

    for node in captures.get("plain", ()):
        index = bisect_right(offsets, node.start_byte) - 1
        if index not in broken:
            scan.imports.append(PythonImport(_name(node), None, statements[index].line, guarded[index]))
    modules = {node.parent.start_byte: _name(node) for node in captures.get("from_module", ())}
    owners = sorted(modules)
    for node in captures.get("member", ()):
        index = bisect_right(offsets, node.start_byte) - 1
        if index in broken:
            continue
        owner = owners[bisect_right(owners, node.start_byte) - 1]
        member = "*" if node.type == "wildcard_import" else _name(node)
        scan.imports.append(PythonImport(modules[owner], member, statements[index].line, guarded[index]))
    return scan


def _name(node: tree_sitter.Node) -> str:
    return node.text.translate(None, _BLANKS).decode("utf-8", "replace")


def new_parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(_LANGUAGE)
