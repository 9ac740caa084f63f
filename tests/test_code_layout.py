"""The code's layout stays as CONTRIBUTING.md describes it.

- README's table "The helper package" is the one map of the package: it lists exactly the
  package's modules and subpackages, and every name in its second column exists there.
- One name per quantity (CONTRIBUTING.md's glossary): old synonyms do not come back as
  parameter or attribute names.
- No function in the package or the benchmarks is longer than ``MAX_LINES`` lines, unless
  ``LONG_FUNCTIONS`` names it with the reason.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import llm101_helpers

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "llm101_helpers"


def package_modules() -> set[str]:
    """The public modules and subpackages of ``llm101_helpers``, read from the file system."""
    return {m.name for m in pkgutil.iter_modules(llm101_helpers.__path__) if m.name[0] != "_"}


def readme_table() -> dict[str, list[str]]:
    """Module -> the names in its row's second column, from README's "The helper package"."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## The helper package\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        module = cells[0].strip("`")
        assert module not in rows, f"README lists module {module!r} twice"
        names = cells[1].split(", ")
        for name in names:
            assert re.fullmatch(r"`[A-Za-z_][A-Za-z0-9_]*`", name), (
                f"README, row {module!r}: the second column holds only `name`s separated by "
                f"', ', found {name!r}"
            )
        rows[module] = [n.strip("`") for n in names]
    return rows


def test_readme_table_lists_exactly_the_package_modules():
    listed = set(readme_table())
    modules = package_modules()
    assert listed - modules == set(), "README lists modules the package does not have"
    assert modules - listed == set(), "modules missing from README's table 'The helper package'"


@pytest.mark.parametrize("module", sorted(package_modules()))
def test_every_module_declares_its_public_names(module):
    mod = importlib.import_module(f"llm101_helpers.{module}")
    assert isinstance(getattr(mod, "__all__", None), list), f"{module} has no __all__ list"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert missing == [], f"{module}.__all__ names what it does not define"


@pytest.mark.parametrize("module", sorted(readme_table()))
def test_readme_names_exist_in_their_module(module):
    mod = importlib.import_module(f"llm101_helpers.{module}")
    public = set(getattr(mod, "__all__", None) or dir(mod))
    missing = [n for n in readme_table()[module] if n not in public]
    assert missing == [], f"README's row {module!r} names what llm101_helpers.{module} lacks"


def test_the_package_docstring_points_to_the_map():
    assert "The helper package" in llm101_helpers.__doc__
    assert "README" in llm101_helpers.__doc__


# --- one name per quantity ------------------------------------------------------------

#: Synonyms replaced by the glossary's names (CONTRIBUTING.md).
OLD_NAMES = {
    "emb_dim": "d_model",
    "embed_dim": "d_model",
    "n_embd": "d_model",
    "n_heads": "num_heads",
    "n_head": "num_heads",
    "n_layers": "num_layers",
    "n_layer": "num_layers",
    "max_len": "context_length",
    "max_length": "context_length",
    "block_size": "context_length",
}


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _defined_names(tree: ast.AST):
    """(name, line) of every parameter and every ``self.<attribute>`` in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            yield node.arg, node.lineno
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            yield node.attr, node.lineno


def test_one_name_per_quantity():
    found = []
    for path in _python_files("llm101_helpers"):
        for name, line in _defined_names(ast.parse(path.read_text("utf-8"))):
            if name in OLD_NAMES:
                rel = path.relative_to(ROOT)
                found.append(f"{rel}:{line}: {name} (use {OLD_NAMES[name]})")
    assert found == []


def test_the_name_guard_can_fail():
    tree = ast.parse("class A:\n    def __init__(self, emb_dim):\n        self.n_heads = 2\n")
    assert {n for n, _ in _defined_names(tree)} & set(OLD_NAMES) == {"emb_dim", "n_heads"}


# --- function length --------------------------------------------------------------------

MAX_LINES = 60

#: "path::qualified name" -> why it may be longer than MAX_LINES.
LONG_FUNCTIONS: dict[str, str] = {}


def function_lengths(source: str) -> dict[str, int]:
    """Qualified name (``Class.method``, ``outer.inner``) -> lines, decorators excluded."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lengths[name] = child.end_lineno - child.lineno + 1
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def test_no_function_is_longer_than_the_limit():
    too_long = []
    for path in _python_files("llm101_helpers", "bench"):
        rel = path.relative_to(ROOT).as_posix()
        for name, lines in function_lengths(path.read_text("utf-8")).items():
            if lines > MAX_LINES and f"{rel}::{name}" not in LONG_FUNCTIONS:
                too_long.append(f"{rel}::{name} ({lines} lines)")
    assert too_long == [], (
        f"functions over {MAX_LINES} lines: split them, or add them to LONG_FUNCTIONS "
        "with the reason"
    )


def test_every_allowed_long_function_still_exists_and_has_a_reason():
    for key, reason in LONG_FUNCTIONS.items():
        rel, name = key.split("::")
        lengths = function_lengths((ROOT / rel).read_text("utf-8"))
        assert lengths.get(name, 0) > MAX_LINES, f"{key} is gone or short now: drop it"
        assert len(reason.split()) >= 3, f"{key}: say why it is long"


def test_the_length_guard_counts_methods_and_nested_functions():
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_LINES))
    source = f"class A:\n    def m(self):\n{body}\n\ndef f():\n    def g():\n{body}\n"
    lengths = function_lengths(source)
    assert lengths["A.m"] == MAX_LINES + 1 and lengths["f.g"] == MAX_LINES + 1
    assert lengths["f"] == MAX_LINES + 2
