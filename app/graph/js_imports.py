"""Find the imports of a JavaScript or TypeScript file with tree-sitter.

The whole file is parsed (the TypeScript grammar runs at about 13 MB/s per core here) and one query
collects every dependency form dependency-cruiser knows with `--ts-pre-compilation-deps`: static
`import`, `export … from`, literal `require()` and `import()`, `import x = require()`, `import('x')`
in type positions and `/// <reference path>` directives. Type-only imports and exports are flagged.
"""

from __future__ import annotations

import re
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
# require() and import() can be anywhere; this query runs only around the places they are written.
_CALL_PATTERNS = """
(call_expression
  function: (identifier) @_require
  arguments: (arguments . [(string) (template_string)] @require)
  (#eq? @_require "require"))
(call_expression function: (import) arguments: (arguments . [(string) (template_string)] @dynamic-import))
"""
_CALL_SITES = re.compile(rb"\b(?:require|import)\s*\(\s*")

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


class JsScanner:
    """A parser and its queries for one of the JavaScript-family grammars."""

    def __init__(self, language: Language) -> None:
        grammar = _grammar(language)
        statements = _STATEMENT_PATTERNS
        if language in (Language.TYPESCRIPT, Language.TSX):
            statements += _TYPESCRIPT_STATEMENT_PATTERNS
        self.parser = tree_sitter.Parser(grammar)
        self.statements = tree_sitter.Query(grammar, statements)
        self.calls = tree_sitter.Query(grammar, _CALL_PATTERNS)

    def scan(self, data: bytes) -> tuple[list[JsImport], list[str]]:
        """Return the file's imports and, if the parse had errors, where the first one is."""
        tree = self.parser.parse(data)
        root = tree.root_node
        statements = tree_sitter.QueryCursor(self.statements)
        if not root.has_error:  # error recovery can wrap statements one level deeper
            statements.set_max_start_depth(1)
        found = [statements.captures(root)]
        calls = tree_sitter.QueryCursor(self.calls)
        for site in _CALL_SITES.finditer(data):
            calls.set_byte_range(site.start(), site.end() + 1)  # through the first argument's start
            found.append(calls.captures(root))
        imports = {}
        for captures in found:
            for kind, nodes in captures.items():
                if not kind.startswith("_"):
                    for node in nodes:
                        item = _read_capture(kind, node)
                        if item is not None:
                            imports[(node.start_byte, kind)] = item
        errors = [_first_error(root)] if root.has_error else []
        return list(imports.values()), errors


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
    if kind == "dynamic-import" and _in_type_position(node.parent.parent):
        return JsImport(specifier, "type-import", line, True)
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


def _in_type_position(node: tree_sitter.Node | None) -> bool:
    depth = 0
    while node is not None and depth < 8:
        if node.type in _TYPE_CONTEXTS:
            return True
        if node.type.endswith(("statement", "declaration")) and node.type != "type_alias_declaration":
            return False
        node = node.parent
        depth += 1
    return False


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
