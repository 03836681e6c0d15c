"""Python imports resolve to files with grimp's rules, with package roots found wherever they are."""

from __future__ import annotations

from app.graph.resolve_python import PythonResolver

FILES = [
    "setup.py",
    "src/shop/__init__.py",
    "src/shop/cart.py",
    "src/shop/models/__init__.py",
    "src/shop/models/item.py",
    "src/shop/models/price.py",
    "tools/admin/__init__.py",
    "tools/admin/cli.py",
    "tests/conftest.py",
    "tests/helpers.py",
    "tests/test_cart.py",
    "scripts/release.py",
    "scripts/helpers.py",
]


def test_module_names_and_roots() -> None:
    modules = PythonResolver(FILES).modules
    assert (modules["src/shop/models/item.py"].name, modules["src/shop/models/item.py"].root) == (
        "shop.models.item",
        "src",
    )
    assert modules["src/shop/__init__.py"].name == "shop"
    assert modules["src/shop/__init__.py"].is_package
    assert (modules["tools/admin/cli.py"].name, modules["tools/admin/cli.py"].root) == ("admin.cli", "tools")
    assert (modules["tests/helpers.py"].name, modules["tests/helpers.py"].root) == ("helpers", "tests")
    assert modules["setup.py"].name == "setup"


def test_absolute_imports() -> None:
    resolver = PythonResolver(FILES)
    assert resolver.resolve("tests/test_cart.py", "shop.cart", None) == "src/shop/cart.py"
    assert resolver.resolve("tests/test_cart.py", "shop.models", "item") == "src/shop/models/item.py"
    # `from X import name` where name is not a module: the edge goes to X.
    assert resolver.resolve("tests/test_cart.py", "shop.models", "Item") == "src/shop/models/__init__.py"
    # `import a.b.c` falls back to its parent only, as grimp does.
    assert resolver.resolve("tests/test_cart.py", "shop.models.item.Thing", None) == "src/shop/models/item.py"
    assert resolver.resolve("tests/test_cart.py", "shop.nothing.deep", None) is None
    assert resolver.resolve("tests/test_cart.py", "os.path", None) is None
    assert resolver.resolve("tools/admin/cli.py", "shop", "cart") == "src/shop/cart.py"


def test_relative_imports() -> None:
    resolver = PythonResolver(FILES)
    assert resolver.resolve("src/shop/models/item.py", ".", "price") == "src/shop/models/price.py"
    assert resolver.resolve("src/shop/models/item.py", "..", "cart") == "src/shop/cart.py"
    assert resolver.resolve("src/shop/models/item.py", "..cart", "Cart") == "src/shop/cart.py"
    # In an __init__.py one dot is the package itself.
    assert resolver.resolve("src/shop/models/__init__.py", ".", "item") == "src/shop/models/item.py"
    assert resolver.resolve("src/shop/models/__init__.py", "..", "cart") == "src/shop/cart.py"
    assert resolver.resolve("src/shop/__init__.py", ".models", "*") == "src/shop/models/__init__.py"
    assert resolver.resolve("src/shop/cart.py", "....", "x") is None  # beyond the top


def test_files_outside_packages_prefer_their_own_folder() -> None:
    resolver = PythonResolver(FILES)
    assert resolver.resolve("tests/test_cart.py", "helpers", None) == "tests/helpers.py"
    assert resolver.resolve("scripts/release.py", "helpers", None) == "scripts/helpers.py"
    assert resolver.resolve("tests/test_cart.py", "tests.helpers", None) == "tests/helpers.py"
    assert resolver.resolve("tests/test_cart.py", "conftest", None) == "tests/conftest.py"


def test_a_plain_module_is_not_importable_from_other_folders_by_its_bare_name() -> None:
    resolver = PythonResolver([*FILES, "examples/json.py", "examples/demo.py", "runner.py"])
    assert resolver.resolve("src/shop/cart.py", "json", None) is None  # the standard library's json
    assert resolver.resolve("examples/demo.py", "json", None) == "examples/json.py"
    assert resolver.resolve("src/shop/cart.py", "examples.json", None) == "examples/json.py"
    assert resolver.resolve("tests/test_cart.py", "runner", None) == "runner.py"  # the root is on the path
