"""One look for every diagram: the palette, a canvas in inches and a few drawing primitives.

A diagram is drawn on :func:`canvas`, whose axes use inches as data units (origin at the
bottom left), so ``box(ax, 1.0, 0.5, 1.2, 0.4, ...)`` is a 1.2 x 0.4 inch box one inch from
the left edge. Colours are named by what they stand for (``PALETTE``: tokens, embeddings,
attention, ...), the same in every figure. :func:`render_png` turns a figure into PNG bytes
the same way on every machine: Agg, 100 dpi, matplotlib's bundled DejaVu Sans, default rc
settings, no timestamp or software tag, and the matplotlib and FreeType versions recorded in
the PNG (the drift test compares pixels only when they match the installed ones).
"""

from __future__ import annotations

import io

import matplotlib
from matplotlib import ft2font, patches
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

__all__ = ["PALETTE", "arrow", "box", "canvas", "engine", "grid", "label", "render_png", "tint"]

#: Colour per kind of thing (Okabe-Ito, readable by colour-blind learners).
PALETTE = {
    "ink": "#222222",  # text, arrows
    "muted": "#9a9a9a",  # what the current step does not touch
    "paper": "#ffffff",
    "data": "#bdbdbd",  # text, windows, plain tensors
    "token": "#56B4E9",  # tokens, ids, the vocabulary
    "embedding": "#009E73",  # token and position embeddings, X
    "attention": "#E69F00",  # queries, keys, values, scores, weights, heads
    "norm": "#CC79A7",  # LayerNorm, RMSNorm
    "ffn": "#0072B2",  # FeedForward, GELU, linear layers
    "output": "#D55E00",  # logits, loss, the next token, the KV cache
    "highlight": "#F0E442",  # "you are here", one emphasised cell
}
DPI = 100
FONT = "DejaVu Sans"  # shipped inside matplotlib, so every machine draws the same glyphs
FONT_SIZE = 10


def tint(colour: str, amount: float = 0.75) -> tuple[float, float, float]:
    """``colour`` (a PALETTE key or any matplotlib colour) mixed with ``amount`` of white."""
    r, g, b = to_rgb(PALETTE.get(colour, colour))
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A blank ``width`` x ``height`` inch figure; its axes count inches from the bottom left."""
    if not (0 < width <= 10 and 0 < height <= 4.5):
        raise ValueError(f"a diagram is at most 10 x 4.5 inches, got {width} x {height}")
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor=PALETTE["paper"])
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def box(
    ax: Axes,
    x: float,
    y: float,
    w: float,
    h: float,
    text: str = "",
    *,
    colour: str = "data",
    strong: bool = False,
    faded: bool = False,
    size: float = FONT_SIZE,
    dashed: bool = False,
    rounded: bool = True,
) -> patches.FancyBboxPatch:
    """A labelled box with its lower left corner at ``(x, y)``: a light tint of ``colour``
    (``strong``: a deeper tint with a thick edge; ``faded``: grey, for what a step leaves out)."""
    edge = PALETTE["muted"] if faded else PALETTE.get(colour, colour)
    face = tint("muted", 0.85) if faded else tint(colour, 0.35 if strong else 0.75)
    style = "round,pad=0,rounding_size=0.06" if rounded else "square,pad=0"
    patch = patches.FancyBboxPatch(
        (x, y), w, h, boxstyle=style, facecolor=face, edgecolor=PALETTE["ink"] if strong else edge,
        linewidth=2.2 if strong else 1.2, linestyle="--" if dashed else "-",
    )
    ax.add_patch(patch)
    if text:
        ink = PALETTE["muted"] if faded else PALETTE["ink"]
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, color=ink,
                family=FONT, fontweight="bold" if strong else "normal")
    return patch


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    text: str = "",
    *,
    colour: str = "ink",
    size: float = FONT_SIZE - 1,
    bend: float = 0.0,
    offset: tuple[float, float] = (0.0, 0.1),
) -> None:
    """An arrow from ``start`` to ``end`` (``bend``: curvature, 0 = straight), with ``text``
    written at its middle, moved by ``offset`` inches."""
    ax.add_patch(patches.FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=12, linewidth=1.3,
        color=PALETTE.get(colour, colour), connectionstyle=f"arc3,rad={bend}",
        shrinkA=0, shrinkB=0,
    ))
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        label(ax, mx, my, text, size=size, ha="center", va="bottom")


def label(
    ax: Axes, x: float, y: float, text: str, *, size: float = FONT_SIZE, colour: str = "ink",
    ha: str = "center", va: str = "center", bold: bool = False, mono: bool = False,
) -> None:
    """Text at ``(x, y)`` inches (``mono``: DejaVu Sans Mono, for code and shapes)."""
    ax.text(x, y, text, ha=ha, va=va, fontsize=size, color=PALETTE.get(colour, colour),
            family="DejaVu Sans Mono" if mono else FONT, fontweight="bold" if bold else "normal")


def grid(
    ax: Axes,
    x: float,
    y: float,
    texts: list[list[str]],
    *,
    cell: float = 0.4,
    height: float | None = None,
    colour: str = "data",
    colours: list[list[str | None]] | None = None,
    size: float = FONT_SIZE - 1,
) -> None:
    """A matrix of cells ``cell`` inches wide (and ``height`` high, default square), top row
    first, lower left corner at ``(x, y)``; ``colours[i][j]`` (a PALETTE key, or None for
    ``colour``) fills one cell."""
    rows, height = len(texts), height or cell
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            key = (colours[i][j] if colours else None) or colour
            cx, cy = x + j * cell, y + (rows - 1 - i) * height
            ax.add_patch(patches.Rectangle((cx, cy), cell, height, facecolor=tint(key, 0.55),
                                           edgecolor=PALETTE["paper"], linewidth=1.5))
            if text:
                label(ax, cx + cell / 2, cy + height / 2, text, size=size)


def engine() -> str:
    """What decides the pixels: matplotlib's major.minor and the FreeType it draws text with."""
    version = ".".join(matplotlib.__version__.split(".")[:2])
    return f"matplotlib {version}, FreeType {ft2font.__freetype_version__}"


def render_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes, the same pixels on every machine with the same :func:`engine`,
    which the PNG records (its ``Source`` text)."""
    rc = {"font.family": FONT, "svg.hashsalt": "llm101", "path.simplify": True}
    with matplotlib.rc_context(rc):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, facecolor=PALETTE["paper"], metadata={
            "Software": None, "Source": f"llm101_helpers.diagrams, {engine()}",
        })
    return buffer.getvalue()
