"""Step diagrams of lesson 13, data-parallel training: one global batch shared among the ranks,
and the all-reduce that makes every rank's gradient the same.

Each function draws one figure, registered under the attachment name its notebook uses
(``13_what.png``); ``tools/diagrams.py`` embeds them. The labels are the names of
``llm101_helpers.training.distributed`` (``world_size``, ``rank``, ``shard_batch``,
``dist.all_reduce``), drawn for ``world_size`` = 2 and a global batch of 8 windows, as in
the notebook.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from llm101_helpers.diagrams.registry import register
from llm101_helpers.diagrams.style import arrow, box, canvas, grid, label

__all__: list[str] = []

RANK_COLOURS = ["token", "attention"]  # rank 0, rank 1


@register(
    "13_global_batch.png",
    alt="One global batch of batch_size = 8 windows, drawn by every rank with the same seeded "
    "generator. With world_size = 2, shard_batch gives rank 0 rows 0-3 and rank 1 rows 4-7, "
    "each of shape (batch_size / world_size, T) = (4, T); together they are exactly the 8 rows "
    "one process would read. If both ranks read the same rows, they compute the same gradient "
    "and two processes do the work of one.",
)
def global_batch() -> Figure:
    fig, ax = canvas(10.0, 3.6)
    c, x0, top = 0.8, 0.9, 2.45
    label(ax, 0.15, 3.4, "Every rank draws the same global batch (same seed) and keeps its own "
          "rows", ha="left", bold=True)
    grid(ax, x0, top, [[f"row {i}" for i in range(8)]], cell=c, height=0.5,
         colours=[[RANK_COLOURS[i // 4] for i in range(8)]], size=9)
    label(ax, x0 - 0.1, top + 0.25, "global\nbatch", size=9, ha="right")
    label(ax, x0 + 4 * c, top + 0.68, "batch_size = 8 windows of T tokens:  (8, T)", size=9,
          mono=True)
    for rank in range(2):
        x = x0 + rank * 4 * c + 0.1
        arrow(ax, (x + 1.5, top), (x + 1.5, 1.85), "shard_batch", size=8, offset=(0.55, -0.1))
        box(ax, x, 1.2, 4 * c - 0.2, 0.65, f"rank {rank}: rows {4 * rank}-{4 * rank + 3}\n"
            "(batch_size / world_size, T) = (4, T)", colour=RANK_COLOURS[rank], size=9)
    box(ax, 7.75, top - 0.05, 2.1, 0.6, "one process:\nget_batch, rows 0-7", size=9)
    arrow(ax, (x0 + 8 * c, top + 0.25), (7.75, top + 0.25))
    label(ax, 8.8, 1.52, "rank 0's rows + rank 1's rows\n= the one-process batch", size=8.5)
    box(ax, 0.9, 0.2, 8.95, 0.6, "", faded=True)
    label(ax, 5.37, 0.5, "✗  both ranks reading rows 0-3: the same gradient twice, and its "
          "average is that gradient again:\nworld_size processes would do the work of one, "
          "on a batch of 4", size=8.5, colour="muted")
    return fig


def _rank_row(ax, rank: int, y: float) -> None:
    """One rank's half of the all-reduce figure: its rows, its GPT copy, its gradient."""
    colour = RANK_COLOURS[rank]
    label(ax, 0.55, y + 0.3, f"rank {rank}", size=10, bold=True)
    box(ax, 1.1, y, 1.5, 0.6, f"x, y: rows {4 * rank}-{4 * rank + 3}\n(4, T)", colour=colour,
        size=9)
    arrow(ax, (2.6, y + 0.3), (3.0, y + 0.3))
    box(ax, 3.0, y, 1.3, 0.6, "GPT copy\nmodel(x)", colour="ffn", size=9)
    arrow(ax, (4.3, y + 0.3), (5.25, y + 0.3), "loss.backward()", size=8)
    box(ax, 5.25, y, 0.75, 0.6, f"g{rank}", colour=colour, size=11)
    arrow(ax, (6.0, y + 0.3), (6.45, y + 0.3))
    arrow(ax, (8.05, y + 0.3), (8.45, y + 0.3))
    box(ax, 8.45, y, 1.45, 0.6, "grad = (g0+g1)/2\noptimizer.step()", colour="output", size=8.5)


@register(
    "13_gradient_allreduce.png",
    alt="The gradient all-reduce with world_size = 2: rank 0 runs its GPT copy on rows 0-3 and "
    "rank 1 on rows 4-7; loss.backward() gives each its own gradient, g0 and g1. "
    "dist.all_reduce sums them, g0 + g1, on every rank, and dividing by world_size gives both "
    "the same averaged gradient, (g0 + g1) / 2, the one-process gradient of all 8 rows; so "
    "both take the same optimizer.step() and their weights stay identical.",
)
def gradient_allreduce() -> Figure:
    fig, ax = canvas(10.0, 3.6)
    label(ax, 0.15, 3.4, "Each rank: its own rows, its own gradient; after all_reduce, the same "
          "gradient everywhere", ha="left", bold=True)
    _rank_row(ax, 0, 2.2)
    _rank_row(ax, 1, 0.75)
    box(ax, 6.45, 0.75, 1.6, 2.05, "", colour="highlight", strong=True)
    label(ax, 7.25, 2.45, "dist.all_reduce", size=9, mono=True, bold=True)
    label(ax, 7.25, 2.05, "sum: g0 + g1\non every rank", size=9)
    label(ax, 7.25, 1.5, "/ world_size", size=9, mono=True)
    label(ax, 7.25, 1.05, "= the gradient\nof all 8 rows", size=9)
    label(ax, 3.65, 1.77, "same weights", size=8.5, colour="muted")
    label(ax, 9.17, 1.77, "the same step", size=8.5, colour="muted")
    label(ax, 5.0, 0.3, "DDP does this inside loss.backward(); the copies started from rank 0's "
          "weights, take the same step and stay equal", size=8.5, colour="muted")
    return fig
