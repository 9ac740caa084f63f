"""The environments the course promises are the ones it is checked in.

- Python: every file runs on the oldest Python pyproject.toml declares (vermin,
  also a step of the test command), and vermin does catch a newer-only construct.
- Packages: everything the package imports is declared in pyproject.toml.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.run_tests import VERMIN_PATHS, python_minimum, vermin_command

ROOT = Path(__file__).resolve().parents[1]


def _vermin(*paths: str | Path) -> subprocess.CompletedProcess:
    cmd = vermin_command([str(p) for p in paths])
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


NEWER_ONLY = {
    "datetime_utc.py": "import datetime\n\nprint(datetime.datetime.now(datetime.UTC))\n",
    "except_star.py": "try:\n    pass\nexcept* ValueError:\n    pass\n",
    "tomllib_module.py": "import tomllib\n",
}


@pytest.mark.parametrize("name", sorted(NEWER_ONLY))
def test_vermin_rejects_a_construct_newer_than_the_minimum(tmp_path, name):
    (tmp_path / name).write_text(NEWER_ONLY[name], "utf-8")
    result = _vermin(tmp_path / name)
    assert result.returncode != 0, result.stdout
    assert "requires !2, 3.11" in result.stdout


def test_vermin_accepts_code_for_the_minimum(tmp_path):
    ok = "from datetime import datetime, timezone\n\nprint(datetime.now(timezone.utc))\n"
    (tmp_path / "ok.py").write_text(ok, "utf-8")
    assert _vermin(tmp_path / "ok.py").returncode == 0


@pytest.mark.slow
def test_the_code_runs_on_the_declared_minimum():
    result = _vermin(*VERMIN_PATHS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_notebooks_run_on_the_declared_minimum(tmp_path):
    """Notebook code, with IPython's magics (``%pip``) left out, checked like the package."""
    for nb_path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        cells = json.loads(nb_path.read_text("utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        lines = [ln for cell in code for ln in cell.splitlines() if not ln.lstrip().startswith("%")]
        (tmp_path / f"{nb_path.stem}.py").write_text("\n".join(lines) + "\n", "utf-8")
    result = _vermin(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_minimum_everywhere():
    """pyproject's requires-python is the minimum of ruff, conda and the classifiers."""
    minimum = python_minimum()
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert f'target-version = "py{minimum.replace(".", "")}"' in pyproject
    assert f"Programming Language :: Python :: {minimum}" in pyproject
    assert re.search(rf"^\s*- python>={re.escape(minimum)}\s*$", _environment_yml(), re.MULTILINE)


def _environment_yml() -> str:
    return (ROOT / "environment.yml").read_text("utf-8")


def imported_top_level(paths: list[Path]) -> set[str]:
    """Top-level names of every absolute import in ``paths`` (``a.b`` -> ``a``)."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


#: Import name -> distribution name, where they differ.
DISTRIBUTION = {"IPython": "ipython", "matplotlib_inline": "matplotlib-inline"}


def undeclared(imported: set[str], declared: list[str], own: str) -> list[str]:
    """Imported third-party modules whose distribution is not among ``declared``."""
    names = {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower() for req in declared}
    third_party = imported - set(sys.stdlib_module_names) - {own, "__future__"}
    return sorted(m for m in third_party if DISTRIBUTION.get(m, m).lower() not in names)


def _dependencies() -> list[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]


def test_every_package_the_helpers_import_is_declared():
    imported = imported_top_level(list((ROOT / "llm101_helpers").rglob("*.py")))
    assert {"torch", "regex"} <= imported  # the parse found the real imports
    assert undeclared(imported, _dependencies(), own="llm101_helpers") == []


def test_an_undeclared_import_is_reported(tmp_path):
    (tmp_path / "m.py").write_text("import os\nimport regex\nfrom yaml import safe_load\n")
    imported = imported_top_level([tmp_path / "m.py"])
    assert undeclared(imported, ["torch>=2.4", "tiktoken"], own="m") == ["regex", "yaml"]
