"""The JS/TS scan finds every dependency form dependency-cruiser counts, with kinds and type-only flags."""

from __future__ import annotations

from app.graph.discover import Language
from app.graph.js_imports import JsScanner


def found(source: str, language: Language = Language.TYPESCRIPT) -> set[tuple[str, str, bool]]:
    imports = JsScanner(language).scan(source.encode()).imports
    return {(item.specifier, item.kind, item.type_only) for item in imports}


def test_typescript_forms() -> None:
    source = """/// <reference path="./globals.d.ts" />
import a from './a';
import type { B } from './b';
import { type C, type D } from './c';
import { type E, F } from './e';
import * as G from './g';
import './side-effect';
export * from './h';
export { I } from './i';
export type { J } from './j';
export * as K from './k';
import L = require('./l');
const n = require('./n');
const later = async () => await import('./o');
type P = typeof import('./p');
let q: import('./q').Q;
require(`./r`);
require(`./s/${name}`);
require(variable);
import data from './data.json' with { type: 'json' };
function f() { return require('./nested'); }
const spread = require(
  './multi-line'
);
"""
    assert found(source) == {
        ("./globals.d.ts", "reference", True),
        ("./a", "import", False),
        ("./b", "import", True),
        ("./c", "import", True),
        ("./e", "import", False),
        ("./g", "import", False),
        ("./side-effect", "import", False),
        ("./h", "export", False),
        ("./i", "export", False),
        ("./j", "export", True),
        ("./k", "export", False),
        ("./l", "import-equals", False),
        ("./n", "require", False),
        ("./o", "dynamic-import", False),
        ("./p", "type-import", True),
        ("./q", "type-import", True),
        ("./r", "require", False),
        ("./data.json", "import", False),
        ("./nested", "require", False),
        ("./multi-line", "require", False),
    }


def test_javascript_and_jsx() -> None:
    source = """
const express = require('express');
import React from 'react';
import Button from './Button';
export default function App() { return <Button onClick={() => import('./lazy')} />; }
"""
    assert found(source, Language.JAVASCRIPT) == {
        ("express", "require", False),
        ("react", "import", False),
        ("./Button", "import", False),
        ("./lazy", "dynamic-import", False),
    }


def test_tsx() -> None:
    source = "import { Card } from './card';\nexport const View = () => <Card title='x' />;\n"
    assert found(source, Language.TSX) == {("./card", "import", False)}


def test_strings_and_comments_are_not_imports() -> None:
    source = """
// import a from './commented';
/* require('./block-comment') */
const text = "import b from './in-a-string'";
const template = `require('./in-a-template')`;
"""
    assert found(source, Language.JAVASCRIPT) == set()


def test_syntax_errors_are_reported_and_imports_kept() -> None:
    imports, errors, _ = JsScanner(Language.TYPESCRIPT).scan(b"import a from './a';\nconst = = ;\n")
    assert [item.specifier for item in imports] == ["./a"]
    assert errors and "line 2" in errors[0]


def test_calls_are_found_at_any_depth() -> None:
    """25,000 nested functions, a require() opening each and an import() at the bottom: all found."""
    depth = 25_000
    source = "".join(f"function f{n}() {{ require('./m{n % 7}');\n" for n in range(depth))
    source += "import('./deepest');\n" + "}\n" * depth
    scan = JsScanner(Language.JAVASCRIPT).scan(source.encode())
    kinds = [item.kind for item in scan.imports]
    assert (kinds.count("require"), kinds.count("dynamic-import")) == (depth, 1)
    assert scan.imports[-1].specifier == "./deepest" and not scan.errors and not scan.stopped


def test_look_alike_calls_are_not_imports() -> None:
    source = "$require('./a'); obj.require('./b'); _import('./c'); require(name); import(`./${x}`);\n"
    assert found(source, Language.JAVASCRIPT) == set()
