"""The notebooks' first cell, run as Colab runs it: with ``google.colab`` imported.

A stand-in ``google.colab`` module makes the cell take its Colab branch; the
package comes from a wheel built from this checkout (pip does the same with the
git URL on Colab), installed with ``--target`` into an empty folder. The
subprocess starts with ``python -S`` and the venv's site-packages on
``PYTHONPATH``, so the checkout's own editable install is invisible, as on a
fresh Colab runtime.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from llm101_helpers import GIT_URL
from tests.test_notebooks import COLAB_CELL
from tests.test_packaging import wheel  # noqa: F401 (the fixture that builds the wheel)

#: Runs the cell (argv[1]) in IPython, then what the next cells of a notebook do.
RUN_CELL = """
import sys, types
from IPython.core.interactiveshell import InteractiveShell

if sys.argv[2] == "colab":
    sys.modules["google.colab"] = types.ModuleType("google.colab")  # Colab's kernel imports it
shell = InteractiveShell.instance()
first = shell.run_cell(sys.argv[1])
print("FIRST CELL", "FAILED" if first.error_in_exec else "OK")
if sys.argv[2] == "colab" and not first.error_in_exec:
    shell.run_cell("import llm101_helpers; from llm101_helpers.model import GPT")
    print("IMPORTED FROM", shell.user_ns["llm101_helpers"].__file__)
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
REQUIREMENT = f'"llm101-helpers @ git+{GIT_URL}"'


def run_first_cell(tmp_path: Path, package: str, where: str = "colab") -> tuple[str, Path]:
    """Run COLAB_CELL with ``package`` installed instead of the git URL; (output, target)."""
    target = tmp_path / "site"
    target.mkdir(exist_ok=True)
    assert COLAB_CELL.count(REQUIREMENT) == 1
    cell = COLAB_CELL.replace(REQUIREMENT, f'--no-deps --no-index --target "{target}" "{package}"')
    path = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONNOUSERSITE": "1"}
    result = subprocess.run(
        [sys.executable, "-S", "-c", RUN_CELL, cell, where],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return ANSI.sub("", result.stdout + result.stderr), target


@pytest.mark.slow
def test_on_colab_the_first_cell_installs_the_package(tmp_path, wheel):  # noqa: F811
    out, target = run_first_cell(tmp_path, str(wheel))
    assert "FIRST CELL OK" in out, out
    imported = re.search(r"IMPORTED FROM (.+)", out)
    assert imported and Path(imported.group(1)).is_relative_to(target), out


@pytest.mark.slow
def test_a_failed_install_stops_at_the_first_cell_with_one_sentence(tmp_path):
    out, _ = run_first_cell(tmp_path, str(tmp_path / "llm101_helpers-0.1.0-py3-none-any.whl"))
    assert "FIRST CELL FAILED" in out, out
    sentence = (
        "RuntimeError: Installing llm101-helpers failed (see pip's message above): "
        "check that the runtime is online, then run this cell again."
    )
    assert sentence in out, out
    assert "IMPORTED FROM" not in out


@pytest.mark.slow
def test_outside_colab_the_first_cell_installs_nothing(tmp_path):
    out, target = run_first_cell(tmp_path, "does-not-matter.whl", where="not colab")
    assert "FIRST CELL OK" in out, out
    assert list(target.iterdir()) == [], "pip ran outside Colab"
