"""The course's test command: ``python -m tools.run_tests`` (``make test`` runs it in the venv).

Runs, in order, stopping at the first failure:

1. ``ruff check`` over the package, tests, tools, benchmarks and notebooks;
2. ``vermin``: every Python file runs on the oldest Python that pyproject.toml
   declares (``requires-python``), so a newer-only construct fails here;
3. the helper package's unit tests (``tests/``), including the fast notebook
   guards that fail on stripped or unexecuted notebooks;
4. every notebook under ``notebooks/`` with nbval in strict mode, one kernel at a
   time, outputs sanitized with ``nbval_sanitize.cfg``;
5. Colab's ipywidgets (7.7.1, installed once with ``pip --target`` into
   ``build/ipywidgets-7.7.1`` and put first on ``PYTHONPATH``): the widget unit
   tests and strict nbval of every notebook that shows a widget, again.

Extra arguments are passed to the pytest runs (e.g. ``-k bpe`` or ``-x``);
``--only-notebooks [PATH ...]`` runs just step 4 (``make nb NB=...``).
pytest's exit code 5 ("no tests collected") counts as a failure: a test command
that ran nothing has proved nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NO_TESTS_COLLECTED = 5
#: How every notebook is checked: strict nbval in the current environment.
NBVAL_ARGS = [
    "--nbval",
    "--nbval-current-env",
    "--nbval-sanitize-with", str(ROOT / "nbval_sanitize.cfg"),
    "--nbval-cell-timeout", "300",
]  # fmt: skip
#: What vermin checks: all the Python code outside the notebooks.
VERMIN_PATHS = ["llm101_helpers", "tests", "bench", "tools", "conftest.py", "setup.py"]
#: Colab's ipywidgets and the versions it pins of its two companions and its one
#: dependency that ipywidgets 8 dropped (the rest comes from the venv).
IPYWIDGETS7 = [
    "ipywidgets==7.7.1",
    "widgetsnbextension==3.6.1",
    "jupyterlab_widgets==1.1.1",
    "ipython_genutils==0.2.0",
]
IPYWIDGETS7_DIR = ROOT / "build" / "ipywidgets-7.7.1"
#: A test file exercises widgets when it mentions them; a notebook shows one when a
#: stored output is a widget view (ipywidgets, or tqdm's progress bar built on it).
WIDGET_TEST = re.compile(r"ipywidgets|_widget|stepper|explorer")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def python_minimum() -> str:
    """The oldest Python pyproject.toml declares, e.g. ``"3.10"`` for ``>=3.10``."""
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    found = re.search(r'^requires-python\s*=\s*">=\s*(\d+\.\d+)"', text, re.MULTILINE)
    if found is None:
        raise SystemExit('pyproject.toml needs requires-python = ">=3.X"')
    return found.group(1)


def vermin_command(paths: list[str]) -> list[str]:
    """vermin, failing when any of ``paths`` needs a Python newer than the declared minimum."""
    run_vermin = "import sys, vermin; sys.exit(vermin.main())"
    target = f"--target={python_minimum()}-"
    return [sys.executable, "-c", run_vermin, target, "--no-tips", "--violations", *paths]


def run(title: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    took = time.perf_counter() - start
    if code == NO_TESTS_COLLECTED:
        print(
            f"=== {title}: FAILED, pytest collected no tests (exit 5) in {took:.0f} s", flush=True
        )
        sys.exit(1)
    if code != 0:
        print(f"=== {title}: FAILED (exit {code}) after {took:.0f} s", flush=True)
        sys.exit(code)
    print(f"=== {title}: ok in {took:.0f} s", flush=True)


def ipywidgets7_env() -> dict[str, str]:
    """The environment with Colab's ipywidgets first on the path (installed on first use)."""
    stamp = IPYWIDGETS7_DIR / "installed.txt"
    if not stamp.exists() or stamp.read_text("utf-8").split() != IPYWIDGETS7:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade"]
        run("install ipywidgets 7.7.1", [*pip, "--target", str(IPYWIDGETS7_DIR), *IPYWIDGETS7])
        stamp.write_text("\n".join(IPYWIDGETS7) + "\n", "utf-8")
    path = os.pathsep.join(filter(None, [str(IPYWIDGETS7_DIR), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "LLM101_EXPECT_IPYWIDGETS": "7.7.1"}


def widget_targets() -> tuple[list[str], list[str]]:
    """(unit-test files that use widgets, notebooks whose stored outputs show one)."""
    tests = sorted((ROOT / "tests").glob("test_*.py"))
    notebooks = sorted((ROOT / "notebooks").rglob("*.ipynb"))
    return (
        [p.relative_to(ROOT).as_posix() for p in tests if WIDGET_TEST.search(p.read_text("utf-8"))],
        [p.relative_to(ROOT).as_posix() for p in notebooks if WIDGET_VIEW in p.read_text("utf-8")],
    )


def run_ipywidgets7(args: list[str]) -> None:
    env = ipywidgets7_env()
    tests, notebooks = widget_targets()
    py, quiet = sys.executable, ["-W", "ignore::DeprecationWarning"]  # ipywidgets 7 on ipykernel 6+
    unit = [py, "-m", "pytest", *tests, "-m", "not browser", *quiet, *args]
    run("widget unit tests, ipywidgets 7.7.1", unit, env)
    nbval = [py, "-m", "pytest", *notebooks, *NBVAL_ARGS, *quiet, *args]
    run("notebooks with widgets (nbval, strict), ipywidgets 7.7.1", nbval, env)


def main(args: list[str]) -> None:
    py = sys.executable
    if args[:1] == ["--only-notebooks"]:
        targets = args[1:] or ["notebooks"]
        run("notebooks (nbval, strict)", [py, "-m", "pytest", *targets, *NBVAL_ARGS])
        return
    run("ruff", [py, "-m", "ruff", "check", "."])
    run(f"vermin (Python {python_minimum()}+)", vermin_command(VERMIN_PATHS))
    run("unit tests", [py, "-m", "pytest", "tests", *args])
    run(
        "notebooks (nbval, strict)",
        [py, "-m", "pytest", "notebooks", *NBVAL_ARGS, "--durations", "5", *args],
    )
    run_ipywidgets7(args)


if __name__ == "__main__":
    main(sys.argv[1:])
