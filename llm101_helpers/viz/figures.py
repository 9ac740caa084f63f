"""Heatmaps and labelled scatter plots: the static figures every lesson uses.

:func:`show_heatmaps` is the one heatmap function of the course (its tensor
contract is in its docstring); :func:`similarity_heatmap` is its special case
for cosine similarities. :func:`scatter_with_labels` draws 2-D points with a
text label next to each (e.g. word vectors projected by
:func:`llm101_helpers.embeddings.pca`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["scatter_with_labels", "show_heatmaps", "similarity_heatmap"]

ArrayLike = torch.Tensor | np.ndarray

#: The colour of cells that hold -inf, +inf or NaN (e.g. masked attention scores).
MASKED_COLOUR = "lightgrey"


def to_numpy(x: ArrayLike | Sequence) -> np.ndarray:
    """A tensor (any device, with or without grad), array or list as a float NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=float)


def show_heatmaps(
    weights: ArrayLike,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    panel_size: float = 3.0,
    xlabels: Sequence[str] | None = None,
    ylabels: Sequence[str] | None = None,
) -> Figure:
    """Draw one heatmap per ``(q, k)`` matrix of ``weights``; return the figure (not shown).

    ``weights`` (tensor or array) is ``(q, k)``: one heatmap (for attention:
    queries down, keys across); ``(heads, q, k)``: one per head, in one row;
    or ``(layers, heads, q, k)``: a grid, one row per layer. ``row_labels``
    (``q`` strings) and ``col_labels`` (``k`` strings) label every panel's
    ticks (``ylabels``/``xlabels`` are other names for them); ``titles`` names
    the panels, row-major; ``xlabel``/``ylabel`` name the axes. A label list of
    the wrong length raises ``ValueError``. All panels share one colour scale
    (``vmin``/``vmax``, by default the smallest and largest finite value) and
    one colour bar. Cells holding -inf, +inf or NaN (masked scores) are drawn
    in grey, and a legend says which values they hold.
    """
    import matplotlib.pyplot as plt

    row_labels = _one_of(row_labels, ylabels, "row_labels", "ylabels")
    col_labels = _one_of(col_labels, xlabels, "col_labels", "xlabels")
    data = _panel_grid(weights)  # (layers, heads, q, k)
    rows, cols, m, n = data.shape
    _check_count(row_labels, m, "row_labels", "matrices with {} rows")
    _check_count(col_labels, n, "col_labels", "matrices with {} columns")
    _check_count(titles, rows * cols, "titles", f"{{}} panels ({rows} x {cols})")
    vmin, vmax = _finite_limits(data, vmin, vmax)
    colours = plt.get_cmap(cmap).with_extremes(bad=MASKED_COLOUR)

    height = max(panel_size * m / n, 1.5)
    figsize = (panel_size * cols + (0.8 if colorbar else 0), height * rows + 0.4)
    fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False, sharex=True, sharey=True)
    for r, c in np.ndindex(rows, cols):
        ax = axes[r, c]
        image = ax.imshow(data[r, c], cmap=colours, vmin=vmin, vmax=vmax, aspect="auto")
        if col_labels is not None:
            ax.set_xticks(range(n), list(col_labels), rotation=90)
        if row_labels is not None:
            ax.set_yticks(range(m), list(row_labels))
        if titles is not None:
            ax.set_title(titles[r * cols + c])
        if xlabel and r == rows - 1:
            ax.set_xlabel(xlabel)
        if ylabel and c == 0:
            ax.set_ylabel(ylabel)
    bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8) if colorbar else None
    _legend_for_masked_cells(fig, data, bar)
    return fig


def _panel_grid(weights: ArrayLike) -> np.ndarray:
    """``(q, k)``, ``(heads, q, k)`` or ``(layers, heads, q, k)`` as ``(layers, heads, q, k)``."""
    data = to_numpy(weights)
    if data.ndim not in (2, 3, 4):
        raise ValueError(
            "weights must have shape (q, k), (heads, q, k) or (layers, heads, q, k), "
            f"got {data.ndim} dimensions {tuple(data.shape)}"
        )
    data = data.reshape((1,) * (4 - data.ndim) + data.shape)
    if data.shape[2] == 0 or data.shape[3] == 0:
        raise ValueError(f"weights must have at least one row and column, got {data.shape}")
    return data


def _check_count(items: Sequence | None, want: int, name: str, what: str) -> None:
    if items is not None and len(items) != want:
        raise ValueError(f"got {len(items)} {name} for {what.format(want)}")


def _one_of(value, alias, name: str, alias_name: str):
    """``value`` or its ``alias``; giving both is an error."""
    if value is not None and alias is not None:
        raise ValueError(f"give {name} or {alias_name}, not both (they are the same thing)")
    return alias if value is None else value


def _finite_limits(data: np.ndarray, vmin: float | None, vmax: float | None):
    """``vmin``/``vmax``, defaulting to the finite data's range (0 and 1 if nothing is finite)."""
    finite = data[np.isfinite(data)]
    if vmin is None:
        vmin = float(finite.min()) if finite.size else 0.0
    if vmax is None:
        vmax = float(finite.max()) if finite.size else 1.0
    return vmin, vmax


def _legend_for_masked_cells(fig: Figure, data: np.ndarray, bar) -> None:
    """A legend entry in :data:`MASKED_COLOUR` naming the non-finite values drawn, if any.

    It goes under the colour bar ``bar``, or without one in the figure's lower right corner.
    """
    from matplotlib.patches import Patch

    found = [
        name
        for name, test in (("-inf", np.isneginf), ("+inf", np.isposinf), ("nan", np.isnan))
        if test(data).any()
    ]
    if not found:
        return
    patch = Patch(facecolor=MASKED_COLOUR, edgecolor="grey", label=" / ".join(found))
    style = {"handles": [patch], "fontsize": "small", "frameon": False, "handlelength": 1.0}
    if bar is not None:
        bar.ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), **style)
    else:
        fig.legend(loc="lower right", **style)


def similarity_heatmap(
    similarities: ArrayLike,
    labels: Sequence[str],
    titles: Sequence[str] | None = None,
    panel_size: float = 4.0,
) -> Figure:
    """Cosine similarities ``(N, N)`` (or ``(k, N, N)``, side by side) as heatmaps.

    ``labels`` names the ``N`` rows and columns. The colour scale is diverging
    and fixed to [-1, 1] (red: similar, white: unrelated, blue: opposite), so
    panels from different models can be compared by eye.
    """
    return show_heatmaps(
        similarities,
        row_labels=labels,
        col_labels=labels,
        titles=titles,
        cmap="RdBu_r",
        vmin=-1.0,
        vmax=1.0,
        panel_size=panel_size,
    )


def scatter_with_labels(
    points: ArrayLike,
    labels: Sequence[str],
    groups: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Scatter ``points`` ``(N, 2)`` with ``labels[i]`` written next to point ``i``.

    ``groups`` (``N`` strings) colours the points by group, with a legend;
    points of one group share a colour. Draws on ``ax`` (default: a new figure)
    and returns it.
    """
    import matplotlib.pyplot as plt

    xy = to_numpy(points)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {tuple(xy.shape)}")
    if len(labels) != len(xy):
        raise ValueError(f"got {len(labels)} labels for {len(xy)} points")
    if groups is not None and len(groups) != len(xy):
        raise ValueError(f"got {len(groups)} groups for {len(xy)} points")
    if ax is None:
        _, ax = plt.subplots()
    names = list(dict.fromkeys(groups)) if groups is not None else [None]
    colors = plt.get_cmap("tab10")
    for g, name in enumerate(names):
        idx = [i for i in range(len(xy)) if groups is None or groups[i] == name]
        ax.scatter(xy[idx, 0], xy[idx, 1], s=18, color=colors(g % 10), label=name)
        for i in idx:
            ax.annotate(
                labels[i],
                xy[i],
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=9,
                color=colors(g % 10),
            )
    if groups is not None:
        ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax
