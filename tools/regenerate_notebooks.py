"""Re-execute notebooks in place so their stored outputs are fresh (``make notebooks``).

Each notebook runs top to bottom in a fresh kernel of the current environment,
one at a time, from the ``notebooks/`` folder, with the same offline settings
the tests use (``tests/offline_env.py``). ``make notebooks`` sets
``LLM101_DEVICE=cpu`` so stored outputs come from the CPU.

To keep diffs small and outputs reproducible it stores no per-cell timing
metadata, no widget state and no Python version, and numbers execution counts
1..N. Cells tagged ``raises-exception`` may raise; any other error stops the
run and leaves the notebook file untouched.

Usage, from the repository root: python -m tools.regenerate_notebooks [NOTEBOOK ...]
(default: all)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.offline_env import REPO_ROOT, configure_offline_env

NOTEBOOKS = REPO_ROOT / "notebooks"
LANGUAGE_INFO = {
    "name": "python",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop machine-specific metadata that would only make diffs noisy."""
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = LANGUAGE_INFO
    for cell in nb.cells:
        for key in ("execution", "collapsed", "scrolled", "jupyter"):
            cell.metadata.pop(key, None)


def regenerate(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        # True: nbclient 0.11 raises KeyError when an ipywidgets Output widget (as made by
        # interactive_output) captures output and widget state is not kept; clean() drops it.
        store_widget_state=True,
    )
    client.execute()
    took = time.perf_counter() - start
    clean(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return took


def main(args: list[str]) -> None:
    configure_offline_env()
    paths = [Path(a).resolve() for a in args] or sorted(NOTEBOOKS.rglob("*.ipynb"))
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    for path in paths:
        print(f"executing {path.relative_to(REPO_ROOT)} ...", flush=True)
        print(f"  done in {regenerate(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
