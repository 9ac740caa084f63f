"""Attention as pictures (notebooks 04-07): one matrix, the causal mask and dropout.

:func:`attention_figure` draws one ``(T, T)`` attention matrix and highlights
where a chosen query looks. :func:`causal_dropout_weights` turns scaled scores
into weights, optionally with the causal mask and dropout, and
:func:`causal_dropout_figure` draws them with every weight written in its
cell. The widgets that redraw these figures are in :mod:`llm101_helpers.viz.widgets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from llm101_helpers.attention import causal_mask
from llm101_helpers.viz.figures import ArrayLike, show_heatmaps, to_numpy

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["attention_figure", "causal_dropout_figure", "causal_dropout_weights"]


def attention_grid(weights) -> np.ndarray:
    """Attention weights as a ``(layers, heads, T, T)`` array.

    Accepts ``(T, T)``, ``(heads, T, T)``, ``(layers, heads, T, T)`` or a list
    of per-layer ``(heads, T, T)`` / ``(T, T)`` tensors.
    """
    if isinstance(weights, list | tuple):
        weights = np.stack([attention_grid(w)[0] for w in weights])
    data = to_numpy(weights)
    if data.ndim == 2:
        data = data[None, None]
    elif data.ndim == 3:
        data = data[None]
    if data.ndim != 4 or data.shape[-1] != data.shape[-2]:
        raise ValueError(
            "attention weights must have shape (T, T), (heads, T, T) or (layers, heads, T, T), "
            f"got {tuple(data.shape)}"
        )
    return data


def attention_figure(
    weights: ArrayLike,
    tokens: Sequence[str],
    query: int | None = None,
    title: str | None = None,
    top: int = 3,
) -> Figure:
    """Heatmap of one ``(T, T)`` attention matrix (queries down, keys across).

    With ``query`` set, that row is outlined in red, the ``top`` keys it attends
    to most have red tick labels, and the title lists them with their weights.
    Drawn with :func:`show_heatmaps` (colour scale fixed to [0, 1]).
    """
    from matplotlib.patches import Rectangle

    data = to_numpy(weights)
    if data.ndim != 2 or data.shape[0] != data.shape[1] or data.shape[0] != len(tokens):
        raise ValueError(
            f"expected a ({len(tokens)}, {len(tokens)}) matrix for {len(tokens)} tokens, "
            f"got {tuple(data.shape)}"
        )
    if query is not None and not 0 <= query < len(tokens):
        raise ValueError(f"query must be in 0..{len(tokens) - 1}, got {query}")
    panel_title = title
    if query is not None:
        order = np.argsort(-data[query], kind="stable")[:top]
        attended = ", ".join(f"{tokens[j]!r} {data[query, j]:.2f}" for j in order)
        lines = [title] if title else []
        panel_title = "\n".join([*lines, f"{tokens[query]!r} attends to {attended}"])
    fig = show_heatmaps(
        data,
        xlabels=list(tokens),
        ylabels=list(tokens),
        titles=None if panel_title is None else [panel_title],
        xlabel="key",
        ylabel="query",
        vmin=0.0,
        vmax=1.0,
        panel_size=max(3.0, 0.45 * len(tokens)),
    )
    ax = fig.axes[0]
    if query is not None:
        n = len(tokens)
        ax.add_patch(Rectangle((-0.5, query - 0.5), n, 1, fill=False, edgecolor="red", lw=2.5))
        ax.get_yticklabels()[query].set_color("red")
        for j in order:
            ax.get_xticklabels()[j].set_color("red")
    return fig


def causal_dropout_weights(
    scores: ArrayLike, causal: bool = True, dropout: float = 0.0, seed: int = 0
) -> torch.Tensor:
    """Scaled scores -> attention weights, optionally masked and with dropout.

    ``scores``: ``(T, T)`` already divided by ``sqrt(d_k)``. With ``causal``,
    entries above the diagonal (:func:`~llm101_helpers.attention.causal_mask`)
    become ``-inf`` before the softmax. Dropout zeroes each weight with
    probability ``dropout`` (drawn from a generator seeded with ``seed``) and
    scales the kept ones by ``1 / (1 - dropout)``, as ``nn.Dropout`` does in
    training mode.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    s = torch.as_tensor(to_numpy(scores), dtype=torch.float64)  # (T, T)
    if s.dim() != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"scores must be a square (T, T) matrix, got {tuple(s.shape)}")
    if causal:
        s = s.masked_fill(causal_mask(s.shape[-1]), float("-inf"))
    weights = torch.softmax(s, dim=-1)
    if dropout > 0:
        g = torch.Generator().manual_seed(seed)
        keep = torch.rand(weights.shape, generator=g, dtype=torch.float64) >= dropout
        weights = weights * keep / (1.0 - dropout)
    return weights


def causal_dropout_figure(
    scores: ArrayLike,
    tokens: Sequence[str],
    causal: bool = True,
    dropout: float = 0.0,
    seed: int = 0,
) -> Figure:
    """Heatmap of :func:`causal_dropout_weights` with every weight written in its cell."""
    weights = causal_dropout_weights(scores, causal, dropout, seed).numpy()
    title = f"{'causal mask' if causal else 'no mask'}, dropout {dropout:.2f}"
    if dropout > 0:
        title += f" (seed {seed})"
    fig = show_heatmaps(
        weights,
        xlabels=list(tokens),
        ylabels=list(tokens),
        titles=[title],
        xlabel="key",
        ylabel="query",
        vmin=0.0,
        vmax=max(1.0, float(weights.max())),
        panel_size=max(3.5, 0.6 * len(tokens)),
    )
    ax = fig.axes[0]
    for i, j in np.ndindex(weights.shape):
        w = weights[i, j]
        colour = "white" if w < 0.5 else "black"
        ax.text(j, i, f"{w:.2f}", ha="center", va="center", fontsize=8, color=colour)
    return fig
