"""The course's test command: ``python -m tools.run_tests`` (``make test`` runs it in the venv).

Runs, in order, stopping at the first failure:

1. ``ruff check`` over the package, tests, tools, benchmarks and notebooks;
2. the helper package's unit tests (``tests/``), including the fast notebook
   guards that fail on stripped or unexecuted notebooks;
3. every notebook under ``notebooks/`` with nbval in strict mode, one kernel at a
   time, outputs sanitized with ``nbval_sanitize.cfg``.

Extra arguments are passed to both pytest runs (e.g. ``-k bpe`` or ``-x``);
``--only-notebooks [PATH ...]`` runs just step 3 (``make nb NB=...``).
pytest's exit code 5 ("no tests collected") counts as a failure: a test command
that ran nothing has proved nothing.
"""

from __future__ import annotations

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


def run(title: str, cmd: list[str]) -> None:
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    code = subprocess.call(cmd, cwd=ROOT)
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


def main(args: list[str]) -> None:
    py = sys.executable
    if args[:1] == ["--only-notebooks"]:
        targets = args[1:] or ["notebooks"]
        run("notebooks (nbval, strict)", [py, "-m", "pytest", *targets, *NBVAL_ARGS])
        return
    run("ruff", [py, "-m", "ruff", "check", "."])
    run("unit tests", [py, "-m", "pytest", "tests", *args])
    run(
        "notebooks (nbval, strict)",
        [py, "-m", "pytest", "notebooks", *NBVAL_ARGS, "--durations", "5", *args],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
