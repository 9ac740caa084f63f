"""Embed the course's diagrams in the notebooks, check them, or write them out (``make diagrams``).

Each diagram is a function in ``llm101_helpers.diagrams`` registered under the name of its
PNG attachment. A notebook shows one from a markdown cell whose source starts with
``![alt](attachment:NAME)`` and whose attachments hold the PNG (so it renders with no
files beside the notebook: JupyterLab, GitHub, Colab, offline).

    python -m tools.diagrams [NOTEBOOK ...]   re-draw every placed diagram: PNG and alt text
    python -m tools.diagrams --check          report placed diagrams that differ (exit 1)
    python -m tools.diagrams --out DIR [NAME ...]   write the PNGs to DIR, to look at them
    python -m tools.diagrams --cell NAME [--before] [--caption TEXT]
        print the spec of a new markdown cell holding NAME, for ``nbedit NB "@TEXT"``

Placing a new diagram is an edit of the notebook (``--cell`` piped to ``nbedit``); this
tool only keeps placed ones in step with their code. Run it while nobody else writes the
notebooks (it reads, changes and writes each file).
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
from PIL import Image

from llm101_helpers.diagrams import DIAGRAMS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
IMAGE = re.compile(r"!\[([^\]]*)\]\(attachment:([^)\s]+)\)")


def lessons() -> list[Path]:
    """The lesson notebooks ``notebooks/NN_*.ipynb`` (not the solutions), in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def pixels(png: bytes) -> np.ndarray:
    """The decoded RGBA pixels of a PNG."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def embedded(cell: nbformat.NotebookNode) -> dict[str, bytes]:
    """Attachment name -> PNG bytes of one markdown cell."""
    found = {}
    for name, bundle in (cell.get("attachments") or {}).items():
        if "image/png" in bundle:
            found[name] = base64.b64decode(bundle["image/png"])
    return found


def refresh(nb: nbformat.NotebookNode) -> list[str]:
    """Re-draw every registered diagram placed in ``nb`` (PNG and alt text); names changed."""
    changed = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for name, png in embedded(cell).items():
            if name not in DIAGRAMS:
                continue
            diagram = DIAGRAMS[name]
            fresh = diagram.png()
            source = IMAGE.sub(
                lambda m, d=diagram: d.markdown() if m.group(2) == d.name else m.group(0),
                cell.source,
            )
            if fresh != png or source != cell.source:
                cell.attachments[name] = {"image/png": base64.b64encode(fresh).decode("ascii")}
                cell.source = source
                changed.append(name)
    return changed


def cell_spec(name: str, before: bool, caption: str | None) -> dict:
    """The nbedit spec of a new markdown cell that shows diagram ``name``."""
    diagram = DIAGRAMS[name]
    source = diagram.markdown() + (f"\n\n*{caption}*" if caption else "")
    png = base64.b64encode(diagram.png()).decode("ascii")
    where = "insert_before" if before else "insert_after"
    return {where: True, "cell_type": "markdown", "source": source,
            "attachments": {name: {"image/png": png}}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks (default: every lesson)")
    parser.add_argument("--check", action="store_true", help="only report drift")
    parser.add_argument("--out", type=Path, help="write PNGs (names given, or all) to this folder")
    parser.add_argument("--cell", help="print an nbedit spec for a new cell showing this diagram")
    parser.add_argument("--before", action="store_true", help="with --cell: insert_before")
    parser.add_argument("--caption", help="with --cell: an italic caption under the image")
    args = parser.parse_args(argv)
    if args.cell:
        print(repr(cell_spec(args.cell, args.before, args.caption)))
        return 0
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name in args.notebooks or DIAGRAMS:
            (args.out / name).write_bytes(DIAGRAMS[name].png())
        return 0
    drift = 0
    for path in [Path(p).resolve() for p in args.notebooks] or lessons():
        nb = nbformat.read(path, as_version=4)
        changed = refresh(nb)
        drift += len(changed)
        if changed and not args.check:
            nbformat.validate(nb)
            nbformat.write(nb, path)
        if changed:
            verb = "differs" if args.check else "re-drawn"
            print(f"{path.name}: {verb}: {', '.join(changed)}")
    return 1 if args.check and drift else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
