"""Find the imports of a JavaScript or TypeScript file with tree-sitter.

The whole file is parsed (the TypeScript grammar runs at about 13 MB/s per core here) and every
dependency form dependency-cruiser knows with `--ts-pre-compilation-deps` is collected: static
`import`, `export … from`, `import x = require()` and `/// <reference path>` directives by a query over
the top statements; literal `require()` and `import()` (`import('x')` in type positions too) by one
walk of the tree to the places a regular expression found them. Type-only imports and exports are
flagged. The cost is linear in the file's size however deep it nests; a deadline stops a scan early.
"""

from __future__ import annotations

import re
import time
from typing import NamedTuple

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from app.graph.discover import Language


class JsImport(NamedTuple):
    specifier: str
    kind: str  # import, export, require, dynamic-import, import-equals, type-import, reference
    line: int
    type_only: bool


# Static imports and re-exports are top-level statements (dependency-cruiser reads them from the
# file's statements too), so this query only looks one level down.
_STATEMENT_PATTERNS = """
(import_statement source: (string) @import)
(export_statement source: (string) @export)
((comment) @reference (#match? @reference "^///[ \\t]*<reference[ \\t]"))
"""
_TYPESCRIPT_STATEMENT_PATTERNS = """
(import_statement (import_require_clause source: (string) @import-equals))
"""
# require() and import() can be anywhere: the places they are written are found with a regular expression,
# then each one's node is reached from the last one's with a single tree cursor (see _call_sites).
_CALL_SITES = re.compile(rb"\b(require|import)\s*\(")
_CALL_KINDS = {b"require": "require", b"import": "dynamic-import"}
# How far up from a call the type-position test looks (`x: typeof import("y")` is a few levels).
_TYPE_CONTEXT_DEPTH = 8
# With syntax errors, statements can sit a level or two deeper than the top; deeper than this they are
# not looked for (a hostile file can nest thousands of broken blocks).
_ERROR_STATEMENT_DEPTH = 4
# Reading the file in chunks lets a parse stop at its deadline; checks of the clock this often.
_CHUNK_BYTES = 16384
_SITES_PER_CLOCK_CHECK = 256

# Node types that mean an `import("x")` call is really a type (`typeof import("x")`, `x: import("x").T`).
_TYPE_CONTEXTS = frozenset(
    {
        "type_query",
        "type_annotation",
        "type_alias_declaration",
        "type_arguments",
        "generic_type",
        "lookup_type",
        "union_type",
        "intersection_type",
        "array_type",
        "index_signature",
        "property_signature",
        "implements_clause",
        "extends_type_clause",
    }
)
_REFERENCE_ATTRIBUTES = (b'path="', b"path='", b'types="', b"types='")


def _grammar(language: Language) -> tree_sitter.Language:
    if language is Language.TYPESCRIPT:
        return tree_sitter.Language(tree_sitter_typescript.language_typescript())
    if language is Language.TSX:
        return tree_sitter.Language(tree_sitter_typescript.language_tsx())
    return tree_sitter.Language(tree_sitter_javascript.language())


class JsScan(NamedTuple):
    imports: list[JsImport]
    errors: list[str]  # where the first syntax error is, if the parse had any
    stopped: bool  # the deadline came first: only what was read by then is listed


class JsScanner:
    """A parser and its query for one of the JavaScript-family grammars."""

    def __init__(self, language: Language) -> None:
        grammar = _grammar(language)
        statements = _STATEMENT_PATTERNS
        if language in (Language.TYPESCRIPT, Language.TSX):
            statements += _TYPESCRIPT_STATEMENT_PATTERNS
        self.parser = tree_sitter.Parser(grammar)
        self.statements = tree_sitter.Query(grammar, statements)

    def scan(self, data: bytes, deadline: float | None = None) -> JsScan:
        """The file's imports; past `deadline` (time.monotonic()) the scan stops and keeps what it has.

        The cost is linear in the file's size: one parse, one query over the top statements and one
        walk of the tree that visits each node on the way to a `require(`/`import(` at most once.
        """
        tree, stopped = self._parse(data, deadline)
        root = tree.root_node
        statements = tree_sitter.QueryCursor(self.statements)
        statements.set_max_start_depth(_ERROR_STATEMENT_DEPTH if root.has_error else 1)
        imports: dict[tuple[int, str], JsImport] = {}
        for kind, nodes in statements.captures(root).items():
            for node in nodes:
                item = _read_capture(kind, node)
                if item is not None:
                    imports[(node.start_byte, kind)] = item
        sites = [(site.start(), _CALL_KINDS[site.group(1)]) for site in _CALL_SITES.finditer(data)]
        calls, walk_stopped = _call_sites(root, sites, deadline)
        for node, item in calls:
            imports.setdefault((node.start_byte, item.kind), item)
        errors = [_first_error(root)] if root.has_error and not stopped else []
        return JsScan(list(imports.values()), errors, stopped or walk_stopped)

    def _parse(self, data: bytes, deadline: float | None) -> tuple[tree_sitter.Tree, bool]:
        if deadline is None:
            return self.parser.parse(data), False
        stopped = False

        def read(offset: int, _point: object) -> bytes:
            nonlocal stopped
            if offset >= len(data):
                return b""
            if stopped or time.monotonic() > deadline:
                stopped = True
                return b""
            return data[offset : offset + _CHUNK_BYTES]

        return self.parser.parse(read), stopped


def _call_sites(
    root: tree_sitter.Node, sites: list[tuple[int, str]], deadline: float | None
) -> tuple[list[tuple[tree_sitter.Node, JsImport]], bool]:
    """The literal `require("x")` and `import("x")` calls at `sites` (byte offsets, ascending).

    One cursor walks from each site's node to the next one's through their nearest common ancestor,
    so every node on those paths is entered once in all (node.parent would walk from the root).
    """
    found = []
    cursor = root.walk()
    for number, (site, kind) in enumerate(sites):
        if deadline is not None and number % _SITES_PER_CLOCK_CHECK == 0 and time.monotonic() > deadline:
            return found, True
        node = cursor.node
        while not node.start_byte <= site < node.end_byte and cursor.goto_parent():
            node = cursor.node
        while cursor.goto_first_child_for_byte(site) is not None:
            if cursor.node.start_byte > site:
                cursor.goto_parent()
                break
        while not cursor.node.is_named and cursor.goto_parent():
            pass  # `import` is a named node around an anonymous keyword token of the same type
        call = _call_at(cursor, site, kind)
        if call is not None:
            found.append(call)
    return found, False


def _call_at(
    cursor: tree_sitter.TreeCursor, site: int, kind: str
) -> tuple[tree_sitter.Node, JsImport] | None:
    """The call whose callee is the cursor's node, if it is `require`/`import` (written at `site`) with a
    literal first argument; leaves the cursor at an ancestor of that node."""
    callee = cursor.node
    expected = ("identifier", 7) if kind == "require" else ("import", 6)
    if (callee.type, callee.end_byte - callee.start_byte) != expected or callee.start_byte != site:
        return None
    if not cursor.goto_parent():
        return None
    call = cursor.node
    function = call.child_by_field_name("function")
    if call.type != "call_expression" or function is None or function.start_byte != callee.start_byte:
        return None
    arguments = call.child_by_field_name("arguments")
    first = arguments.named_children[0] if arguments is not None and arguments.named_child_count else None
    if first is None or first.type not in ("string", "template_string"):
        return None
    specifier = _literal(first)
    if specifier is None:
        return None
    line = first.start_point.row + 1
    if kind == "dynamic-import" and _cursor_in_type_position(cursor):
        return first, JsImport(specifier, "type-import", line, True)
    return first, JsImport(specifier, kind, line, False)


def _cursor_in_type_position(cursor: tree_sitter.TreeCursor) -> bool:
    """Whether the call at the cursor sits in a type; moves the cursor up a few levels."""
    for _ in range(_TYPE_CONTEXT_DEPTH):
        if not cursor.goto_parent():
            return False
        kind = cursor.node.type
        if kind in _TYPE_CONTEXTS:
            return True
        if kind.endswith(("statement", "declaration")) and kind != "type_alias_declaration":
            return False
    return False


def _read_capture(kind: str, node: tree_sitter.Node) -> JsImport | None:
    line = node.start_point.row + 1
    if kind == "reference":
        specifier = _reference_target(node.text)
        return JsImport(specifier, kind, line, True) if specifier else None
    specifier = _literal(node)
    if specifier is None:
        return None
    if kind in ("import", "export"):
        return JsImport(specifier, kind, line, _is_type_only(node.parent))
    return JsImport(specifier, kind, line, False)


def _literal(node: tree_sitter.Node) -> str | None:
    """The text of a string literal, or of a template literal without substitutions."""
    if node.type == "template_string" and any(
        child.type == "template_substitution" for child in node.children
    ):
        return None
    text = node.text[1:-1]
    if b"\\" in text:
        text = text.replace(b"\\/", b"/").replace(b"\\\\", b"\\")
    return text.decode("utf-8", "replace")


def _is_type_only(statement: tree_sitter.Node) -> bool:
    """`import type …`, `export type …`, or named bindings that are all `type` (as TypeScript sees it)."""
    clause = None
    for child in statement.children:
        if child.type == "type":
            return True
        if child.type in ("import_clause", "export_clause"):
            clause = child
    if clause is None:
        return False
    specifiers = clause
    if clause.type == "import_clause":
        named = [child for child in clause.children if child.type == "named_imports"]
        if not named:
            return False
        specifiers = named[0]
    elements = [
        child for child in specifiers.children if child.type in ("import_specifier", "export_specifier")
    ]
    return bool(elements) and all(
        any(part.type == "type" for part in element.children) for element in elements
    )


def _reference_target(comment: bytes) -> str | None:
    for attribute in _REFERENCE_ATTRIBUTES:
        start = comment.find(attribute)
        if start >= 0:
            start += len(attribute)
            end = comment.find(attribute[-1:], start)
            if end > start:
                target = comment[start:end].decode("utf-8", "replace")
                # `types="node"` names a package; `path="./x.d.ts"` a file beside this one.
                return target if attribute.startswith(b"types") else _as_relative(target)
    return None


def _as_relative(path: str) -> str:
    return path if path.startswith((".", "/")) else "./" + path


def _first_error(root: tree_sitter.Node) -> str:
    cursor = root.walk()
    while True:
        node = cursor.node
        if node.is_error or node.is_missing:
            return f"syntax error at line {node.start_point.row + 1}"
        if node.has_error and cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return "syntax error"
        # siblings without errors are skipped by the has_error test on the next turn
