"""Activations and gradients layer by layer (notebook 08: why normalization helps).

:func:`plot_layer_stats` draws per-layer statistics of several networks side
by side (one panel per statistic, one line per network), e.g. the spread of
activations and the gradient norms of a deep stack with and without
normalization. :func:`activation_histogram` draws one layer's activations on a
fixed x-axis, so a distribution that collapses to a spike (vanishing) or spills
over both edges (exploding) shows at a glance; its widget is
:func:`llm101_helpers.viz.widgets.activation_histogram_widget`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["activation_histogram", "plot_layer_stats"]


def _values(x: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    """Any tensor, array or list as a flat float64 array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy().ravel()
    return np.asarray(x, dtype=float).ravel()


def plot_layer_stats(
    stats: Mapping[str, Mapping[str, Sequence[float] | torch.Tensor]],
    titles: Mapping[str, str] | None = None,
    *,
    log: Sequence[str] | bool = True,
    xlabel: str = "layer",
    ncols: int | None = None,
    panel_size: tuple[float, float] = (4.0, 3.0),
) -> Figure:
    """One panel per statistic, one line per network; return the figure.

    ``stats`` maps a network's label (the legend entry) to its statistics,
    each a sequence with one value per layer, e.g.
    ``{"plain": {"std": [...], "grad": [...]}, "LayerNorm": {...}}``. Every
    network must have the same statistics; layers are numbered from 1.
    ``titles`` names the panels (default: the statistic's key). ``log`` puts
    every panel (``True``), none (``False``) or the named ones on a log y-axis.
    """
    import matplotlib.pyplot as plt

    if not stats:
        raise ValueError("stats is empty: give at least one network")
    labels = list(stats)
    keys = list(stats[labels[0]])
    for label in labels[1:]:
        if list(stats[label]) != keys:
            raise ValueError(
                f"every network needs the same statistics: {labels[0]!r} has {keys}, "
                f"{label!r} has {list(stats[label])}"
            )
    titles = dict(titles or {})
    log_keys = set(keys) if log is True else set() if log is False else set(log)
    ncols = ncols or len(keys)
    nrows = -(-len(keys) // ncols)
    figsize = (panel_size[0] * ncols, panel_size[1] * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for ax, key in zip(axes.ravel()[: len(keys)], keys, strict=True):
        for label in labels:
            y = _values(stats[label][key])
            ax.plot(np.arange(1, len(y) + 1), y, marker=".", label=label)
        if key in log_keys:
            ax.set_yscale("log")
        ax.set_title(titles.get(key, key))
        ax.set_xlabel(xlabel)
    for ax in axes.ravel()[len(keys) :]:
        ax.axis("off")
    # one legend for all panels, in a strip below them, so it hides no line
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(labels), fontsize="small")
    strip = 0.4 / fig.get_figheight()  # 0.4 inch
    fig.tight_layout(rect=(0, strip, 1, 1))
    return fig


def check_layer(acts_plain: Sequence, acts_norm: Sequence, layer: int) -> None:
    """Raise unless both stacks have the same depth and ``layer`` is in ``1..depth``."""
    if len(acts_plain) != len(acts_norm):
        raise ValueError(
            f"the two stacks must have the same depth: {len(acts_plain)} layers without "
            f"normalization, {len(acts_norm)} with"
        )
    if not 1 <= layer <= len(acts_plain):
        raise ValueError(f"layer must be in 1..{len(acts_plain)}, got {layer}")


def activation_histogram(
    acts_plain: Sequence[torch.Tensor],
    acts_norm: Sequence[torch.Tensor],
    layer: int,
    normalized: bool,
    *,
    xlim: float = 4.0,
    bins: int = 60,
    ax=None,
) -> Figure:
    """Histogram of the activations at ``layer`` (1-based) of one of two stacks.

    ``acts_plain[i]`` and ``acts_norm[i]`` hold layer ``i + 1``'s activations
    in the stack without and with normalization. The x-axis is fixed to
    ``[-xlim, xlim]`` for every layer; values beyond it are counted in the
    outermost bins (so nothing disappears) and the title reports the
    activations' standard deviation and the share that fell outside.
    """
    import matplotlib.pyplot as plt

    check_layer(acts_plain, acts_norm, layer)
    values = _values((acts_norm if normalized else acts_plain)[layer - 1])
    outside = float(np.mean(np.abs(values) > xlim)) if values.size else 0.0
    clipped = np.clip(values, -xlim, xlim)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
    else:
        fig = ax.figure
    color = "tab:green" if normalized else "tab:red"
    ax.hist(clipped, bins=bins, range=(-xlim, xlim), color=color, alpha=0.8)
    ax.set_xlim(-xlim, xlim)
    which = "with LayerNorm" if normalized else "without norm"
    title = f"layer {layer}, {which}: std {values.std():.2g}"
    if outside >= 0.0005:  # shown when it is at least 0.1% once rounded
        title += f", {outside:.1%} beyond ±{xlim:g}"
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("activation value")
    ax.set_ylabel("count")
    fig.tight_layout()
    return fig
