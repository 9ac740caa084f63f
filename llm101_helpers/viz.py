"""Plotting helpers shared by the notebooks.

Every function takes tensors (any device, with or without ``requires_grad``)
or NumPy arrays, draws with matplotlib, and returns the ``Figure`` (or the
``Axes`` it drew on) without showing it: end the notebook cell with
``plt.show()``. Nothing here changes global matplotlib settings
(``setup_notebook`` fixes those).

Heatmaps: the tensor contract
-----------------------------
:func:`show_heatmaps` is the one heatmap function of the course (in the style
of d2l's ``show_heatmaps``). Its ``weights`` (a tensor or array) may be

- ``(q, k)``: one heatmap (for attention: queries down, keys across);
- ``(heads, q, k)``: one heatmap per head, side by side in one row (also
  used for "random vs trained");
- ``(layers, heads, q, k)``: a grid, one row per layer, one column per head.

Every panel has ``q`` rows and ``k`` columns. ``row_labels`` (``q`` strings)
names the rows and ``col_labels`` (``k`` strings) the columns; ``titles``
names the panels (``heads`` or ``layers * heads`` strings, row-major). A
label list of the wrong length raises ``ValueError`` naming both numbers. All
panels share one colour scale and one colour bar, so their colours can be
compared. :func:`similarity_heatmap` is the special case of a
cosine-similarity matrix (a diverging scale fixed to [-1, 1]).

Points: :func:`scatter_with_labels` draws 2-D points ``(N, 2)`` with a text
label next to each, optionally coloured by group (e.g. a PCA projection of word
vectors, from :func:`llm101_helpers.embeddings.pca`).

Attention (notebooks 04-07): :func:`attention_figure` draws one attention
matrix and highlights where a chosen query looks; :func:`attention_explorer`
lets the learner pick layer, head and query. :func:`causal_dropout_figure` and
:func:`causal_dropout_explorer` show the causal mask and dropout on the weights.

Generation (notebook 10): :func:`write_text` samples from a trained model and
:func:`poet_widget` puts its prompt, temperature, top-k, length and seed on
controls.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from llm101_helpers.tokenizers import BPETokenizer

__all__ = [
    "activation_histogram",
    "activation_histogram_widget",
    "plot_layer_stats",
    "attention_explorer",
    "attention_figure",
    "bpe_merge_stepper",
    "causal_dropout_explorer",
    "causal_dropout_figure",
    "causal_dropout_weights",
    "bpe_pieces_at",
    "format_pieces",
    "pieces_html",
    "poet_widget",
    "scatter_with_labels",
    "show_heatmaps",
    "similarity_heatmap",
    "write_text",
]

ArrayLike = torch.Tensor | np.ndarray


def _to_numpy(x: ArrayLike | Sequence) -> np.ndarray:
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
    """Draw one heatmap per ``(q, k)`` matrix of ``weights``; return the figure.

    ``weights``: ``(q, k)``, ``(heads, q, k)`` or ``(layers, heads, q, k)``
    (see the module docstring). ``row_labels`` (``q`` strings) and
    ``col_labels`` (``k`` strings) become tick labels on every panel; without
    them, ticks are plain indices. ``xlabels``/``ylabels`` are other names for
    ``col_labels``/``row_labels`` (labels by axis). ``xlabel``/``ylabel`` name
    the axes. ``vmin``/``vmax`` default to the minimum and maximum over all
    panels, so colours mean the same everywhere. Each panel is about
    ``panel_size`` inches wide.
    """
    import matplotlib.pyplot as plt

    row_labels = _one_of(row_labels, ylabels, "row_labels", "ylabels")
    col_labels = _one_of(col_labels, xlabels, "col_labels", "xlabels")
    data = _to_numpy(weights)
    if data.ndim == 2:
        data = data[None, None]  # (1, 1, q, k)
    elif data.ndim == 3:
        data = data[None]  # (1, heads, q, k)
    elif data.ndim != 4:
        raise ValueError(
            "weights must have shape (q, k), (heads, q, k) or (layers, heads, q, k), "
            f"got {data.ndim} dimensions {tuple(data.shape)}"
        )
    rows, cols, m, n = data.shape
    if m == 0 or n == 0:
        raise ValueError(f"weights must have at least one row and column, got {tuple(data.shape)}")
    if row_labels is not None and len(row_labels) != m:
        raise ValueError(f"got {len(row_labels)} row_labels for matrices with {m} rows")
    if col_labels is not None and len(col_labels) != n:
        raise ValueError(f"got {len(col_labels)} col_labels for matrices with {n} columns")
    if titles is not None and len(titles) != rows * cols:
        raise ValueError(f"got {len(titles)} titles for {rows * cols} panels ({rows} x {cols})")
    vmin = float(np.nanmin(data)) if vmin is None else vmin
    vmax = float(np.nanmax(data)) if vmax is None else vmax

    height = panel_size * m / n
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(panel_size * cols + (0.8 if colorbar else 0), max(height, 1.5) * rows + 0.4),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    image = None
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            image = ax.imshow(data[r, c], cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
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
    if colorbar and image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    return fig


def _one_of(value, alias, name: str, alias_name: str):
    """``value`` or its ``alias``; giving both is an error."""
    if value is not None and alias is not None:
        raise ValueError(f"give {name} or {alias_name}, not both (they are the same thing)")
    return alias if value is None else value


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

    xy = _to_numpy(points)
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


# ---------------------------------------------------------------------------
# Byte-pair encoding: watching the merges (notebook 02)
# ---------------------------------------------------------------------------

#: Background colours that alternate between neighbouring tokens.
_PIECE_COLOURS = ("#cfe8fc", "#fde2c4", "#d7f5d3", "#f3d4f5")


def bpe_pieces_at(tokenizer: BPETokenizer, text: str, num_merges: int) -> list[bytes]:
    """The pieces ``text`` splits into when only the first ``num_merges`` merges are known.

    ``num_merges=0`` gives single bytes; ``len(tokenizer.merges)`` gives what
    ``tokenizer.encode_ordinary`` gives. Needs a tokenizer whose byte ``b`` is
    id ``b`` (any tokenizer the course trains).
    """
    from llm101_helpers.tokenizers import BPETokenizer

    total = len(tokenizer.merges)
    if not 0 <= num_merges <= total:
        raise ValueError(
            f"num_merges must be in 0..{total} (the tokenizer's merges), got {num_merges}"
        )
    if any(tokenizer.ranks.get(bytes([b])) != b for b in range(256)):
        raise ValueError(
            "bpe_pieces_at needs byte b to be token b (a tokenizer the course trained)"
        )
    first = dict(list(tokenizer.merges.items())[:num_merges])
    partial = BPETokenizer.from_merges(first, tokenizer.pattern)
    return [partial.vocab[i] for i in partial.encode_ordinary(text)]


def format_pieces(pieces: Sequence[bytes], sep: str = "|") -> str:
    """Pieces joined by ``sep``; bytes that are not whole characters show as U+FFFD."""
    return sep.join(p.decode("utf-8", errors="replace") for p in pieces)


def pieces_html(pieces: Sequence[bytes]) -> str:
    """Pieces as HTML: each token on its own alternating background, spaces shown as ``·``."""
    spans = []
    for k, piece in enumerate(pieces):
        text = html.escape(piece.decode("utf-8", errors="replace"))
        text = text.replace(" ", "·").replace("\n", "↵<br>")
        colour = _PIECE_COLOURS[k % len(_PIECE_COLOURS)]
        spans.append(f'<span style="background:{colour};padding:0 1px">{text}</span>')
    return '<div style="font-family:monospace;line-height:1.9">' + "".join(spans) + "</div>"


def describe_merge(tokenizer: BPETokenizer, step: int) -> str:
    """One line about merge number ``step`` (1-based), or about the bytes when ``step`` is 0."""
    if step == 0:
        return "0 merges: every byte is its own token"
    (a, b), new_id = list(tokenizer.merges.items())[step - 1]

    def show(i: int) -> str:
        return repr(tokenizer.vocab[i].decode("utf-8", errors="replace"))

    return f"merge {step}: {show(a)} + {show(b)} -> {show(new_id)} (id {new_id})"


def bpe_merge_stepper(tokenizer: BPETokenizer, text: str, step: int = 0):
    """A slider over the merge number that shows how ``text`` splits after that many merges.

    Returns an ipywidgets ``VBox`` (slider, a line describing the latest merge
    and the token count, and the coloured pieces). Uses only ``IntSlider``,
    ``HTML``, ``VBox`` and ``observe``, which behave the same in ipywidgets 7.7
    and 8.x. For a static picture, print ``format_pieces(bpe_pieces_at(...))``.
    """
    import ipywidgets as widgets

    n_bytes = len(text.encode("utf-8"))
    slider = widgets.IntSlider(
        value=step,
        min=0,
        max=len(tokenizer.merges),
        description="merges",
        continuous_update=True,
        layout=widgets.Layout(width="95%"),
    )
    info = widgets.HTML()
    view = widgets.HTML()
    cache: dict[int, list[bytes]] = {}

    def update(change=None) -> None:
        k = slider.value
        if k not in cache:
            cache[k] = bpe_pieces_at(tokenizer, text, k)
        pieces = cache[k]
        info.value = (
            f"<b>{html.escape(describe_merge(tokenizer, k))}</b><br>"
            f"{len(pieces)} tokens for {n_bytes} bytes "
            f"({n_bytes / max(len(pieces), 1):.2f} bytes per token)"
        )
        view.value = pieces_html(pieces)

    slider.observe(update, names="value")
    update()
    box = widgets.VBox([slider, info, view])
    box.slider, box.info, box.view = slider, info, view  # handles for tests and curious learners
    return box


# --- Attention (notebooks 04-07) ---------------------------------------------
#
# Drawing functions first (they return a Figure and can be called on their
# own: the static rendering that nbval compares), then the ipywidgets
# explorers that redraw them. The explorers use ``interactive_output`` with the
# inline backend and only ``IntSlider``, ``FloatSlider``, ``Dropdown``,
# ``Checkbox``, ``Button``, ``HBox``, ``VBox`` and ``Output``, whose behaviour is
# the same in ipywidgets 7.7 and 8.x (JupyterLab 4, classic Notebook, Colab).
# Each explorer keeps the figure it drew last in ``box.state["figure"]`` so that
# tests (and curious learners) can check what was drawn.


def _attention_grid(weights) -> np.ndarray:
    """Attention weights as a ``(layers, heads, T, T)`` array.

    Accepts ``(T, T)``, ``(heads, T, T)``, ``(layers, heads, T, T)`` or a list
    of per-layer ``(heads, T, T)`` / ``(T, T)`` tensors.
    """
    if isinstance(weights, list | tuple):
        weights = np.stack([_attention_grid(w)[0] for w in weights])
    data = _to_numpy(weights)
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

    data = _to_numpy(weights)
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


def attention_explorer(
    weights,
    tokens: Sequence[str],
    inputs: torch.Tensor | None = None,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
):
    """Pick a layer, a head and a query token; see where that query looks.

    ``weights``: attention weights (see :func:`_attention_grid` for the shapes)
    or an attention module; a module is called as
    ``module(inputs, return_weights=True)`` on a batch of one sequence.
    Returns an ipywidgets ``VBox`` of controls and the plot; the drawing is
    :func:`attention_figure`, which you can call directly for a static picture.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if isinstance(weights, torch.nn.Module):
        if inputs is None or inputs.dim() != 3 or inputs.shape[0] != 1:
            shape = None if inputs is None else tuple(inputs.shape)
            raise ValueError(f"a module needs inputs of shape (1, T, d_in), got {shape}")
        with torch.no_grad():
            _, weights = weights(inputs, return_weights=True)
        weights = weights[0]  # (heads, T, T) or (T, T)
    grid = _attention_grid(weights)  # (L, H, T, T)
    num_layers, num_heads, T, _ = grid.shape
    if T != len(tokens):
        raise ValueError(f"weights are for {T} tokens but {len(tokens)} tokens were given")

    layer_w = widgets.IntSlider(value=layer, min=0, max=num_layers - 1, description="layer")
    head_w = widgets.IntSlider(value=head, min=0, max=num_heads - 1, description="head")
    query_w = widgets.Dropdown(
        options=[("(none)", -1)] + [(f"{i}: {t}", i) for i, t in enumerate(tokens)],
        value=-1 if query is None else query,
        description="query",
    )
    layer_w.disabled = num_layers == 1
    head_w.disabled = num_heads == 1
    state: dict = {"figure": None}

    def redraw(layer: int, head: int, query: int) -> None:
        if state["figure"] is not None:
            plt.close(state["figure"])
        title = f"layer {layer}, head {head}" if num_layers > 1 or num_heads > 1 else None
        state["figure"] = attention_figure(
            grid[layer, head], tokens, None if query < 0 else query, title=title
        )
        state["drawn"] = (layer, head, query)

    out = widgets.interactive_output(redraw, {"layer": layer_w, "head": head_w, "query": query_w})
    box = widgets.VBox([widgets.HBox([layer_w, head_w, query_w]), out])
    box.controls = {"layer": layer_w, "head": head_w, "query": query_w}
    box.state = state
    return box


def causal_dropout_weights(
    scores: ArrayLike, causal: bool = True, dropout: float = 0.0, seed: int = 0
) -> torch.Tensor:
    """Scaled scores -> attention weights, optionally masked and with dropout.

    ``scores``: ``(T, T)`` already divided by ``sqrt(d_k)``. With ``causal``,
    entries above the diagonal become ``-inf`` before the softmax. Dropout
    zeroes each weight with probability ``dropout`` (drawn from a generator
    seeded with ``seed``) and scales the kept ones by ``1 / (1 - dropout)``,
    as ``nn.Dropout`` does in training mode.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    s = torch.as_tensor(_to_numpy(scores), dtype=torch.float64)
    T = s.shape[-1]
    if causal:
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        s = s.masked_fill(future, float("-inf"))
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
    for i in range(weights.shape[0]):
        for j in range(weights.shape[1]):
            w = weights[i, j]
            ax.text(
                j,
                i,
                f"{w:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if w < 0.5 else "black",
            )
    return fig


def causal_dropout_explorer(
    scores: ArrayLike,
    tokens: Sequence[str],
    causal: bool = True,
    dropout: float = 0.4,
    seed: int = 0,
):
    """Toggle the causal mask, move the dropout rate, resample the dropout mask.

    Returns an ipywidgets ``VBox``; the drawing is :func:`causal_dropout_figure`.
    "resample" increases the seed by one, so every picture can be reproduced.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    mask_w = widgets.Checkbox(value=causal, description="causal mask")
    drop_w = widgets.FloatSlider(value=dropout, min=0.0, max=0.9, step=0.05, description="dropout")
    seed_w = widgets.IntSlider(value=seed, min=0, max=1000, description="seed")
    resample = widgets.Button(description="resample")
    resample.on_click(lambda _: setattr(seed_w, "value", (seed_w.value + 1) % 1001))
    state: dict = {"figure": None}

    def redraw(causal: bool, dropout: float, seed: int) -> None:
        if state["figure"] is not None:
            plt.close(state["figure"])
        state["figure"] = causal_dropout_figure(scores, tokens, causal, dropout, seed)
        state["drawn"] = (causal, dropout, seed)

    out = widgets.interactive_output(redraw, {"causal": mask_w, "dropout": drop_w, "seed": seed_w})
    box = widgets.VBox([widgets.HBox([mask_w, drop_w]), widgets.HBox([seed_w, resample]), out])
    box.controls = {"causal": mask_w, "dropout": drop_w, "seed": seed_w, "resample": resample}
    box.state = state
    return box


# --- Layer normalization (notebook 08) -----------------------------------------
#
# plot_layer_stats draws per-layer statistics of several networks side by side
# (one panel per statistic, one line per network): the spread of activations in
# the forward pass and gradient norms in the backward pass of a deep stack with
# and without normalization. activation_histogram draws one layer's activations
# on a fixed x-axis, so a distribution that collapses to a spike (vanishing) or
# spills over both edges (exploding) shows at a glance; activation_histogram_widget
# wraps it in a layer slider and a normalization checkbox. That widget renders the
# figure to PNG in an ``Image`` widget (``IntSlider``, ``Checkbox``, ``Image``,
# ``observe``: the same in ipywidgets 7.7 and 8.x).


def _norm_values(x: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
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
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        squeeze=False,
    )
    for ax, key in zip(axes.ravel()[: len(keys)], keys, strict=True):
        for label in labels:
            y = _norm_values(stats[label][key])
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


def _check_layer(acts_plain: Sequence, acts_norm: Sequence, layer: int) -> None:
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

    _check_layer(acts_plain, acts_norm, layer)
    values = _norm_values((acts_norm if normalized else acts_plain)[layer - 1])
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


def activation_histogram_widget(
    acts_plain: Sequence[torch.Tensor],
    acts_norm: Sequence[torch.Tensor],
    layer: int = 1,
    normalized: bool = False,
    **hist_kwargs,
):
    """A layer slider and a normalization checkbox over :func:`activation_histogram`.

    Returns an ipywidgets ``VBox``: ``children[0]`` is an ``HBox`` holding the
    ``IntSlider`` and the ``Checkbox``, ``children[1]`` an ``Image`` showing the
    histogram (PNG) for the current values, redrawn whenever either changes.
    """
    import io

    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    _check_layer(acts_plain, acts_norm, layer)
    slider = widgets.IntSlider(
        value=layer,
        min=1,
        max=len(acts_plain),
        description="layer",
        continuous_update=False,
    )
    checkbox = widgets.Checkbox(value=normalized, description="LayerNorm")
    image = widgets.Image(format="png")

    def update(change=None) -> None:
        fig = activation_histogram(
            acts_plain, acts_norm, slider.value, checkbox.value, **hist_kwargs
        )
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)  # shown through the Image widget, not by the inline backend
        image.value = buffer.getvalue()

    slider.observe(update, names="value")
    checkbox.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([slider, checkbox]), image])


# ---------------------------------------------------------------------------
# Generation (notebook 10): a trained model writes, the learner turns the knobs.
# ---------------------------------------------------------------------------


def write_text(
    model,
    tokenizer,
    prompt: str,
    temperature: float = 0.8,
    top_k: int = 40,
    length: int = 80,
    seed: int = 0,
) -> str:
    """Sample ``length`` tokens after ``prompt`` and return the whole text, decoded.

    ``top_k=0`` means no limit; an empty prompt starts from a newline. ``seed``
    makes the sample reproducible (see :func:`llm101_helpers.model.generate`).
    """
    from llm101_helpers.model import generate

    ids = torch.tensor(tokenizer.encode(prompt or "\n"))
    out = generate(model, ids, length, temperature=temperature, top_k=top_k or None, seed=seed)
    return tokenizer.decode(out.tolist())


def poet_widget(model, tokenizer, prompt: str = "The tide", **defaults):
    """Controls for :func:`write_text` and the text they produce, redrawn on every change.

    Returns an ipywidgets ``VBox``: a ``Text`` prompt, ``FloatSlider``
    temperature, ``IntSlider`` top-k (0 = no limit) and length, an ``IntText``
    seed, then an ``HTML`` holding the sample in a ``<pre>`` block (escaped).
    ``defaults`` sets the starting temperature, top_k, length or seed.
    """
    import ipywidgets as widgets

    start = {"temperature": 0.8, "top_k": 40, "length": 80, "seed": 0, **defaults}
    vocab_size = model.config.vocab_size
    controls = {
        "prompt": widgets.Text(value=prompt, description="prompt"),
        "temperature": widgets.FloatSlider(
            value=start["temperature"], min=0.1, max=2.0, step=0.1, description="temperature"
        ),
        "top_k": widgets.IntSlider(
            value=min(start["top_k"], vocab_size), min=0, max=vocab_size, description="top-k"
        ),
        "length": widgets.IntSlider(
            value=start["length"], min=10, max=300, step=10, description="tokens"
        ),
        "seed": widgets.IntText(value=start["seed"], description="seed"),
    }
    poem = widgets.HTML()

    def update(change=None) -> None:
        text = write_text(model, tokenizer, **{name: w.value for name, w in controls.items()})
        poem.value = f"<pre style='font-size: 12px'>{html.escape(text)}</pre>"

    for w in controls.values():
        w.observe(update, names="value")
    update()
    return widgets.VBox([*controls.values(), poem])
