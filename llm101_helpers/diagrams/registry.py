"""The list of diagrams: each one's attachment name, alt text and drawing function.

``@register("03_embedding_lookup.png", alt="...")`` above a function that takes no
arguments and returns a :class:`~matplotlib.figure.Figure` adds it to ``DIAGRAMS``. The
name is the attachment's file name in the notebook; its two-digit prefix is the lesson
whose notebook shows it. ``tools/diagrams.py`` embeds the figures and
``tests/test_diagrams.py`` checks that what the notebooks hold is what the code draws now.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.figure import Figure

from llm101_helpers.diagrams.style import render_png

__all__ = ["DIAGRAMS", "Diagram", "register"]

NAME = re.compile(r"(\d\d)_[a-z0-9_]+\.png")


@dataclass(frozen=True)
class Diagram:
    """One figure: ``name`` (``NN_what.png``), its ``alt`` text and the function that draws it."""

    name: str
    alt: str
    draw: Callable[[], Figure]

    @property
    def lesson(self) -> str:
        """The two-digit number of the lesson that shows it, e.g. ``"03"``."""
        return self.name[:2]

    def png(self) -> bytes:
        """The figure as PNG bytes (see :func:`~llm101_helpers.diagrams.style.render_png`)."""
        return render_png(self.draw())

    def markdown(self) -> str:
        """The markdown that shows it from a cell attachment: ``![alt](attachment:name)``."""
        return f"![{self.alt}](attachment:{self.name})"


#: name -> Diagram, in the order the modules register them.
DIAGRAMS: dict[str, Diagram] = {}


def register(name: str, alt: str) -> Callable[[Callable[[], Figure]], Callable[[], Figure]]:
    """Decorator: add the decorated drawing function to ``DIAGRAMS`` as ``name`` with ``alt``."""
    if not NAME.fullmatch(name):
        raise ValueError(f"a diagram's name looks like '03_embedding_lookup.png', got {name!r}")
    if name in DIAGRAMS:
        raise ValueError(f"diagram {name!r} is registered twice")
    alt = " ".join(alt.split())
    if len(alt) < 20 or any(c in alt for c in "[]\n"):
        raise ValueError(f"{name}: alt text must say what the figure shows, without [ ]: {alt!r}")

    def add(draw: Callable[[], Figure]) -> Callable[[], Figure]:
        DIAGRAMS[name] = Diagram(name, alt, draw)
        return draw

    return add
