"""Diagrams of the course: the course map and a picture of each step, drawn by code.

Every figure is a function registered in ``DIAGRAMS`` under the name of the PNG
attachment that shows it in a notebook (``03_embedding_lookup.png``: lesson 03), with
its alt text. The notebooks carry the PNGs inside their markdown cells, so they render
offline, on GitHub and on Colab; ``python -m tools.diagrams`` (``make diagrams``)
re-embeds them after a drawing changes and ``tests/test_diagrams.py`` fails when a
notebook holds a figure that differs from what its function draws now.

- ``style``: the palette, a canvas in inches, boxes, arrows, grids, :func:`render_png`.
- ``registry``: :class:`Diagram`, ``DIAGRAMS``, ``@register``.
- ``course_map``: the whole GPT, with the part each lesson builds highlighted.
- ``lessons_00_05``, ``lessons_06_11``, ``lesson_12``, ``lesson_13``: the step diagrams of
  each lesson.
"""

from llm101_helpers.diagrams import (  # noqa: F401 (importing registers the diagrams)
    lesson_12,
    lesson_13,
    lessons_00_05,
    lessons_06_11,
)
from llm101_helpers.diagrams.course_map import course_map
from llm101_helpers.diagrams.registry import DIAGRAMS, Diagram, register
from llm101_helpers.diagrams.style import PALETTE, render_png

__all__ = ["DIAGRAMS", "PALETTE", "Diagram", "course_map", "register", "render_png"]
