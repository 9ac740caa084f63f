"""Step diagrams of lessons 06-11: causal attention, multi-head attention, layer normalization,
the transformer block and GPT, training, and attention performance.

Each function draws one figure and is registered under the attachment name its notebook uses
(``NN_what.png``); ``tools/diagrams.py`` embeds them. The numbers in the figures are small
illustrative values computed here (softmax, normalization), not copied from a notebook run.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from llm101_helpers.diagrams.registry import register
from llm101_helpers.diagrams.style import PALETTE, arrow, box, canvas, grid, label

__all__: list[str] = []

TOKENS = ["Hi", "I", "Am", "Good"]
#: Illustrative attention scores of "Hi I Am Good" (already scaled), rows = queries.
SCORES = np.array(
    [[0.6, 0.2, -0.3, 0.4], [0.1, 0.9, 0.3, -0.2], [-0.4, 0.5, 0.8, 0.2], [0.3, -0.1, 0.6, 0.7]]
)
FUTURE = np.triu(np.ones((4, 4), dtype=bool), k=1)  # True above the diagonal
HEAD_COLOURS = ["attention", "token"]  # head 0, head 1 in the multi-head figures


def _softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _matrix(
    ax: Axes,
    x: float,
    y: float,
    values: np.ndarray,
    *,
    fmt: str = "{:.2f}",
    cell: float = 0.36,
    colour: str = "attention",
    masked: np.ndarray | None = None,
    size: float = 8,
    marked: np.ndarray | None = None,
) -> None:
    """``values`` as a grid, lower left corner at ``(x, y)``: ``masked`` cells grey, ``marked``
    cells in the output colour, -inf written as text."""
    none = np.zeros(values.shape, dtype=bool)
    masked = none if masked is None else masked
    marked = none if marked is None else marked
    texts = [["-inf" if np.isneginf(v) else fmt.format(v) for v in row] for row in values]
    colours = [
        ["output" if k else ("muted" if m else None) for m, k in zip(mr, kr, strict=True)]
        for mr, kr in zip(masked, marked, strict=True)
    ]
    grid(ax, x, y, texts, cell=cell, colour=colour, colours=colours, size=size)


def _token_labels(ax: Axes, x: float, y: float, n: int, cell: float, *, top: bool) -> None:
    """Query names left of a matrix (rows) and, with ``top``, key names above it (columns)."""
    for i, token in enumerate(TOKENS[:n]):
        label(ax, x - 0.06, y + (n - 0.5 - i) * cell, token, size=8, ha="right")
        if top:
            label(ax, x + (i + 0.5) * cell, y + n * cell + 0.1, token, size=8)


# ---------------------------------------------------------------- 06 causal attention


@register(
    "06_causal_mask.png",
    alt="Two ways to the causal weights of 'Hi I Am Good'. Top: the softmax weights times the "
    "lower-triangular mask (torch.tril) leave rows that sum to less than 1, so each row is "
    "divided by its sum. Bottom: the scores above the diagonal are set to -inf and one "
    "softmax makes them 0. Both give the same matrix: zeros above the diagonal, every row "
    "summing to 1.",
)
def causal_mask() -> Figure:
    fig, ax = canvas(9.6, 4.5)
    c, top, bottom = 0.36, 2.6, 0.3
    weights = _softmax(SCORES)
    causal = _softmax(np.where(FUTURE, -np.inf, SCORES))
    label(ax, 0.1, 4.38, "Step 2: mask after the softmax, then renormalise", ha="left", bold=True)
    _matrix(ax, 0.75, top, weights)
    _token_labels(ax, 0.75, top, 4, c, top=True)
    label(ax, 1.47, top - 0.2, "weights", size=8, mono=True)
    arrow(ax, (2.3, top + 0.72), (3.2, top + 0.72), "* allowed (tril)", size=8)
    kept = weights * ~FUTURE
    _matrix(ax, 3.35, top, kept, masked=FUTURE)
    for i, s in enumerate(kept.sum(axis=-1)):
        label(ax, 4.85, top + (3.5 - i) * c, f"sum {s:.2f}", size=8, ha="left", colour="output")
    label(ax, 4.07, top - 0.2, "masked", size=8, mono=True)
    arrow(ax, (5.6, top + 0.72), (6.75, 2.25), "/ row sum", size=8, offset=(0.45, -0.05))
    label(ax, 0.1, 2.12, "Step 3: mask before the softmax with -inf", ha="left", bold=True)
    _matrix(ax, 0.75, bottom, np.where(FUTURE, -np.inf, SCORES), fmt="{:.1f}", masked=FUTURE)
    _token_labels(ax, 0.75, bottom, 4, c, top=False)
    label(ax, 1.47, bottom - 0.2, "masked_scores", size=8, mono=True)
    arrow(
        ax,
        (2.3, bottom + 0.72),
        (6.75, 1.4),
        "softmax(dim=-1): exp(-inf) = 0",
        size=8,
        offset=(0.3, -0.34),
    )
    _matrix(ax, 6.9, 1.1, causal, masked=FUTURE)
    _token_labels(ax, 6.9, 1.1, 4, c, top=True)
    label(ax, 7.62, 0.9, "weights_causal", size=8, mono=True)
    label(ax, 7.62, 0.65, "== weights_renorm", size=8, mono=True)
    for i, s in enumerate(causal.sum(axis=-1)):
        label(ax, 8.4, 1.1 + (3.5 - i) * c, f"sum {s:.2f}", size=8, ha="left")
    return fig


@register(
    "06_dropout.png",
    alt="Dropout on the causal weights with p = 0.4 in training mode: a random keep-or-drop "
    "pattern zeroes some weights, possibly a token's weight on itself, and the surviving "
    "weights are multiplied by 1/(1-p) = 1/0.6, so the rows no longer sum to exactly 1.",
)
def dropout() -> Figure:
    fig, ax = canvas(9.6, 2.6)
    c, y = 0.42, 0.45
    weights = _softmax(np.where(FUTURE, -np.inf, SCORES))
    keep = np.array([[1, 1, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 0]], dtype=bool)
    dropped = ~keep & ~FUTURE
    _matrix(ax, 0.6, y, weights, cell=c, masked=FUTURE)
    _token_labels(ax, 0.6, y, 4, c, top=True)
    label(ax, 0.6 + 2 * c, 0.2, "weights (causal)", size=9)
    arrow(ax, (2.4, y + 2 * c), (3.5, y + 2 * c), "nn.Dropout(p=0.4)", size=8)
    texts = [
        ["" if f else ("keep" if k else "drop") for k, f in zip(r, fr, strict=True)]
        for r, fr in zip(keep, FUTURE, strict=True)
    ]
    colours = [
        ["muted" if f else ("output" if d else "paper") for d, f in zip(r, fr, strict=True)]
        for r, fr in zip(dropped, FUTURE, strict=True)
    ]
    grid(ax, 3.65, y, texts, cell=c, colours=colours, size=8)
    label(ax, 3.65 + 2 * c, 0.2, "random, new at every call", size=9)
    arrow(ax, (5.45, y + 2 * c), (6.55, y + 2 * c), "survivors / (1 - p)", size=8)
    out = np.where(keep & ~FUTURE, weights / 0.6, 0.0)
    _matrix(ax, 6.7, y, out, cell=c, masked=FUTURE, marked=dropped)
    for i, s in enumerate(out.sum(axis=-1)):
        label(ax, 8.45, y + (3.5 - i) * c, f"sum {s:.2f}", size=8, ha="left", colour="output")
    label(ax, 6.7 + 2 * c, 0.2, "dropout(weights), train mode", size=9)
    label(
        ax,
        4.8,
        2.45,
        "model.eval(): dropout is the identity, the weights pass unchanged",
        size=9,
        colour="muted",
    )
    return fig


@register(
    "06_mask_buffer.png",
    alt="The mask buffer of CausalAttention: a context_length x context_length boolean matrix, "
    "True above the diagonal, built once with register_buffer; a sequence of T tokens uses "
    "its top-left T x T corner.",
)
def mask_buffer() -> Figure:
    fig, ax = canvas(6.4, 3.3)
    L, T, c = 8, 5, 0.32
    x, y = 0.4, 0.35
    mask = np.triu(np.ones((L, L), dtype=bool), k=1)
    texts = [["T" if m else "F" for m in row] for row in mask]
    colours = [
        [
            ("output" if m else "attention") if (i < T and j < T) else "muted"
            for j, m in enumerate(row)
        ]
        for i, row in enumerate(mask)
    ]
    grid(ax, x, y, texts, cell=c, colours=colours, size=7)
    box(ax, x, y + (L - T) * c, T * c, T * c, colour="ink", rounded=False).set_facecolor("none")
    label(
        ax,
        x + L * c / 2,
        y + L * c + 0.15,
        "self.mask  (context_length, context_length)",
        size=8,
        mono=True,
    )
    label(
        ax,
        x + L * c + 0.25,
        y + (L - T / 2) * c,
        "self.mask[:T, :T]\nfor T = 5 tokens",
        size=9,
        ha="left",
        mono=True,
    )
    label(
        ax,
        x + L * c + 0.25,
        y + 1.1,
        "T (True): the future,\nfilled with -inf\nF (False): kept",
        size=9,
        ha="left",
    )
    label(
        ax,
        x + L * c + 0.25,
        y + 0.25,
        "register_buffer: moves with .to(device),\nnot trained",
        size=8,
        ha="left",
        colour="muted",
    )
    return fig


# ---------------------------------------------------------------- 07 multi-head attention


def _head_matrix(ax: Axes, x: float, y: float, rows: int, heads: list[int], c: float = 0.2) -> None:
    """A (rows, len(heads)) block whose column j belongs to head ``heads[j]`` (colour and digit)."""
    texts = [[str(h) for h in heads] for _ in range(rows)]
    colours = [[HEAD_COLOURS[h] for h in heads] for _ in range(rows)]
    grid(ax, x, y, texts, cell=c, colours=colours, size=7)


@register(
    "07_wrapper.png",
    alt="MultiHeadAttentionWrapper: the input x of shape (B, T, d_in) goes to num_heads = 2 "
    "independent CausalAttention heads, run one after another; each returns (B, T, "
    "head_dim) and torch.cat along the last dimension puts them side by side: (B, T, "
    "num_heads * head_dim).",
)
def wrapper() -> Figure:
    fig, ax = canvas(8.6, 2.6)
    box(ax, 0.05, 0.55, 1.0, 1.5, colour="embedding")
    label(ax, 0.55, 1.3, "x\n(B, T, d_in)", size=9, mono=True)
    for h, yc in enumerate([1.85, 0.75]):
        arrow(ax, (1.05, 1.3), (1.9, yc), "")
        box(
            ax,
            1.95,
            yc - 0.3,
            2.2,
            0.6,
            f"heads[{h}]: CausalAttention\nW_query, W_key, W_value",
            colour=HEAD_COLOURS[h],
            size=8,
        )
        arrow(ax, (4.15, yc), (5.0, yc), "(B, T, head_dim)", size=8, offset=(0.0, 0.05))
        _head_matrix(ax, 5.05, yc - 0.3, 3, [h] * 3)
    arrow(ax, (5.75, 1.3), (6.35, 1.3), "torch.cat\n(dim=-1)", size=8, offset=(0.0, 0.08))
    _head_matrix(ax, 6.45, 1.0, 3, [0, 0, 0, 1, 1, 1])
    label(ax, 7.05, 0.75, "(B, T, num_heads * head_dim)", size=8, mono=True)
    label(
        ax,
        4.3,
        2.45,
        "one head after another: three small products and a softmax each",
        size=9,
        colour="muted",
    )
    return fig


def _per_head(ax: Axes, x: float, y: float, T: int, cols: int, *, scores: bool = False) -> None:
    """Two (T, cols) slabs, head 1 below head 0, lower left corner at ``(x, y)``; ``scores``:
    causal (T, T) grids, grey above the diagonal."""
    for h in (0, 1):
        yh = y + (1 - h) * (T * 0.18 + 0.12)
        if scores:
            colours = [[HEAD_COLOURS[h] if j <= i else "muted" for j in range(T)] for i in range(T)]
            grid(ax, x, yh, [[""] * T] * T, cell=0.18, colours=colours)
        else:
            _head_matrix(ax, x, yh, T, [h] * cols, 0.18)


@register(
    "07_head_split.png",
    alt="All heads at once, with the shape after every step: W_query(x) gives (B, T, d_out); "
    ".view splits d_out into (num_heads, head_dim); .transpose(1, 2) moves the heads next "
    "to the batch, (B, H, T, head_dim); q @ k.transpose(2, 3) gives scores (B, H, T, T); "
    "mask, softmax and @ v give (B, H, T, head_dim); .transpose(1, 2).contiguous().view "
    "puts the heads side by side again, (B, T, H * head_dim), and out_proj mixes them into "
    "(B, T, d_out).",
)
def head_split() -> Figure:
    fig, ax = canvas(10.0, 4.2)
    T, c, top, bottom = 3, 0.18, 2.7, 0.55  # lower edge of the tensors in each row
    box(ax, 0.1, top, 0.7, 0.54, "x", colour="embedding")
    label(ax, 0.45, top - 0.22, "(B, T, d_in)", size=8, mono=True)
    arrow(ax, (0.85, top + 0.27), (1.55, top + 0.27), "W_query", size=8)
    _head_matrix(ax, 1.6, top, T, [0, 0, 0, 1, 1, 1], c)
    label(ax, 2.14, top - 0.22, "(B, T, d_out)", size=8, mono=True)
    arrow(ax, (2.75, top + 0.27), (3.35, top + 0.27), ".view", size=8)
    _head_matrix(ax, 3.4, top, T, [0, 0, 0], c)
    _head_matrix(ax, 4.06, top, T, [1, 1, 1], c)
    label(ax, 4.0, top - 0.22, "(B, T, H, head_dim)", size=8, mono=True)
    arrow(ax, (4.7, top + 0.27), (5.8, top + 0.27), ".transpose(1, 2)", size=8)
    _per_head(ax, 5.9, top, T, 3)
    label(ax, 6.17, top - 0.22, "(B, H, T, head_dim)", size=8, mono=True)
    arrow(ax, (6.55, top + 0.27), (8.05, top + 0.27), "q @ k.transpose(2, 3)", size=8)
    _per_head(ax, 8.15, top, T, 3, scores=True)
    label(ax, 8.42, top - 0.22, "scores (B, H, T, T)", size=8, mono=True)
    arrow(
        ax,
        (8.42, top - 0.38),
        (8.42, bottom + 1.32),
        "mask, softmax, @ v",
        size=8,
        offset=(-0.72, -0.05),
    )
    _per_head(ax, 8.15, bottom, T, 3)
    label(ax, 8.42, bottom - 0.22, "(B, H, T, head_dim)", size=8, mono=True)
    arrow(
        ax,
        (8.05, bottom + 0.27),
        (6.2, bottom + 0.27),
        ".transpose(1, 2).contiguous().view",
        size=8,
    )
    _head_matrix(ax, 5.0, bottom, T, [0, 0, 0, 1, 1, 1], c)
    label(ax, 5.54, bottom - 0.22, "(B, T, H * head_dim)", size=8, mono=True)
    arrow(ax, (4.9, bottom + 0.27), (3.9, bottom + 0.27), "out_proj", size=8)
    box(ax, 2.7, bottom, 1.1, 0.54, "output", colour="ffn")
    label(ax, 3.25, bottom - 0.22, "(B, T, d_out)", size=8, mono=True)
    label(
        ax,
        0.1,
        4.0,
        "digit and colour: the head a column belongs to (num_heads = H = 2, "
        "head_dim = 3, T = 3); the batch dimension B is not drawn",
        size=8,
        colour="muted",
        ha="left",
    )
    return fig


# ---------------------------------------------------------------- 08 layer normalization

VECTOR = np.array([2.0, -1.0, 0.5, 4.0, 3.5, -3.0])  # the vector of the notebook's Step 1


def _bars(ax: Axes, x: float, values: np.ndarray, title: str, colour: str) -> None:
    """A small bar chart of ``values`` (0 at y = 1.9, 0.22 inch per unit) with its title below."""
    zero, scale, w = 1.9, 0.22, 0.2
    ax.plot([x - 0.05, x + len(values) * w + 0.05], [zero, zero], color=PALETTE["ink"], lw=0.8)
    for i, v in enumerate(values):
        box(
            ax,
            x + i * w + 0.02,
            min(zero, zero + v * scale),
            w - 0.04,
            abs(v) * scale,
            colour=colour,
            rounded=False,
        )
    label(ax, x + len(values) * w / 2, 0.75, title, size=8, va="top")
    mean, var = round(values.mean(), 2) + 0.0, values.var()  # + 0.0: no "-0.00"
    label(
        ax, x + len(values) * w / 2, 0.4, f"mean {mean:.2f}, var {var:.2f}", size=8, colour="muted"
    )


@register(
    "08_one_vector.png",
    alt="One token's vector of 6 features, x = (2, -1, 0.5, 4, 3.5, -3), as bars: subtracting "
    "its mean (1.0) centres it at 0, dividing by the square root of its variance (6.08, "
    "plus eps) gives mean 0 and variance 1, and the learned per-feature weight and bias "
    "then scale and shift it.",
)
def one_vector() -> Figure:
    fig, ax = canvas(9.6, 3.1)
    centred = VECTOR - VECTOR.mean()
    x_hat = centred / np.sqrt(centred.var() + 1e-5)
    weight = np.array([1.5, 1.0, 0.5, 1.0, 2.0, 1.0])
    bias = np.array([0.5, 0.0, 0.0, -1.0, 0.0, 0.5])
    steps = [
        (VECTOR, "x", "data"),
        (centred, "x - mean", "data"),
        (x_hat, "x_hat = (x - mean) / sqrt(var + eps)", "norm"),
        (weight * x_hat + bias, "weight * x_hat + bias", "norm"),
    ]
    for k, (values, title, colour) in enumerate(steps):
        _bars(ax, 0.3 + k * 2.45, values, title, colour)
        if k:
            arrow(ax, (k * 2.45 - 0.75, 1.9), (k * 2.45 + 0.15, 1.9))
    label(
        ax,
        7.65,
        3.0,
        "learned, one per feature: weight starts at 1, bias at 0",
        size=8,
        colour="muted",
    )
    return fig


def _sublayer_path(ax: Axes, x: float, pre_ln: bool) -> None:
    """One residual sublayer drawn bottom to top at ``x``: pre-LN or post-LN."""
    ink = PALETTE["ink"]
    ax.plot([x, x], [0.35, 3.55], color=ink, lw=1.3, zorder=0.5)  # the main path
    arrow(ax, (x, 3.55), (x, 3.9))
    names = ["norm", "f (attention or MLP)"] if pre_ln else ["f (attention or MLP)"]
    ax.plot([x, x + 1.05, x + 1.05], [0.75, 0.75, 0.95], color=ink, lw=1.3, zorder=0.5)
    for k, name in enumerate(names):
        box(
            ax,
            x + 0.35,
            0.95 + 0.6 * k,
            1.4,
            0.4,
            name,
            size=8,
            colour="norm" if name == "norm" else "attention",
        )
        if k:
            arrow(ax, (x + 1.05, 0.95 + 0.6 * k - 0.2), (x + 1.05, 0.95 + 0.6 * k))
    top, plus_y = 0.95 + 0.6 * len(names) - 0.2, 0.95 + 0.6 * len(names) + 0.2
    ax.plot([x + 1.05, x + 1.05], [top, plus_y], color=ink, lw=1.3, zorder=0.5)
    arrow(ax, (x + 1.05, plus_y), (x + 0.13, plus_y))
    box(ax, x - 0.13, plus_y - 0.13, 0.26, 0.26, "+", colour="ink", size=10)
    if not pre_ln:
        box(ax, x - 0.45, 2.35, 0.9, 0.4, "norm", colour="norm", size=8)
    label(ax, x - 0.15, 0.45, "x", size=9, ha="right", mono=True)


@register(
    "08_pre_post_ln.png",
    alt="Where LayerNorm sits around a sublayer f with a residual connection. Post-LN, x = "
    "norm(x + f(x)): the sum passes through norm, so the residual path is normalized after "
    "every sublayer. Pre-LN, x = x + f(norm(x)): only the branch into f is normalized and "
    "the residual path from input to output is a plain sum.",
)
def pre_post_ln() -> Figure:
    fig, ax = canvas(7.0, 4.4)
    _sublayer_path(ax, 1.0, pre_ln=False)
    _sublayer_path(ax, 4.6, pre_ln=True)
    label(ax, 1.6, 4.2, "post-LN (2017):  x = norm(x + f(x))", size=9, mono=True)
    label(ax, 5.0, 4.2, "pre-LN (GPT-2):  x = x + f(norm(x))", size=9, mono=True)
    label(ax, 4.45, 2.9, "residual path:\na plain sum", size=8, ha="right", colour="muted")
    label(ax, 0.85, 2.9, "every sum\nis normalized", size=8, ha="right", colour="muted")
    return fig


# ---------------------------------------------------------------- 09 block and GPT


def _branch(ax: Axes, x0: float, x1: float, names: list[tuple[str, str]]) -> None:
    """A residual branch: leaves the stream (y = 0.8) at ``x0``, boxes, back in at ``x1``."""
    ink, y = PALETTE["ink"], 2.0
    ax.plot([x0, x0], [0.8, y], color=ink, lw=1.3, zorder=0.5)
    x = x0 + 0.25
    arrow(ax, (x0, y), (x, y))
    for k, (name, colour) in enumerate(names):
        w = 0.3 + 0.075 * max(len(line) for line in name.split("\n"))
        box(ax, x, y - 0.3, w, 0.6, name, colour=colour, size=8)
        x += w
        arrow(ax, (x, y), (x + 0.25 if k < len(names) - 1 else x1, y))
        x += 0.25
    arrow(ax, (x1, y), (x1, 0.93))
    box(ax, x1 - 0.13, 0.67, 0.26, 0.26, "+", colour="ink", size=10)


@register(
    "09_block.png",
    alt="The pre-LN TransformerBlock: the residual stream x of shape (B, T, C) runs straight "
    "through; a first branch computes drop_shortcut(attn(norm1(x))) and adds it back, a "
    "second branch computes ff(norm2(x)) and adds it back. The output has the same shape "
    "(B, T, C).",
)
def block() -> Figure:
    fig, ax = canvas(10.0, 3.0)
    ax.plot([0.15, 9.6], [0.8, 0.8], color=PALETTE["ink"], lw=1.3, zorder=0.3)
    arrow(ax, (9.4, 0.8), (9.85, 0.8))
    label(ax, 0.15, 0.55, "x  (B, T, C)", size=9, ha="left", mono=True)
    label(ax, 9.85, 0.55, "(B, T, C)", size=9, ha="right", mono=True)
    _branch(
        ax,
        0.5,
        5.5,
        [
            ("norm1\nLayerNorm", "norm"),
            ("attn\nMultiHeadAttention", "attention"),
            ("drop_shortcut\nDropout", "data"),
        ],
    )
    _branch(ax, 5.9, 9.3, [("norm2\nLayerNorm", "norm"), ("ff\nFeedForward", "ffn")])
    label(ax, 2.75, 2.8, "x = x + drop_shortcut(attn(norm1(x)))", size=9, mono=True)
    label(ax, 7.6, 2.8, "x = x + ff(norm2(x))", size=9, mono=True)
    label(ax, 2.75, 0.25, "tokens exchange information", size=8, colour="muted")
    label(ax, 7.6, 0.25, "each position computes on its own", size=8, colour="muted")
    return fig


def _embeddings(ax: Axes, y: float) -> None:
    """ids and positions 0..T-1 through the two embedding tables into a sum at (2.9, y)."""
    box(ax, 0.1, 2.2, 0.7, 0.5, "ids", colour="token")
    label(ax, 0.45, 2.05, "(B, T)", size=8, mono=True)
    label(ax, 0.85, 0.83, "0, 1, ..., T-1", size=8, ha="right")
    arrow(ax, (0.8, 2.45), (1.05, 2.45))
    arrow(ax, (0.88, 0.83), (1.05, 0.83))
    for name, bottom in (("token_embedding\n(vocab_size, C)", 2.2),
                         ("position_embedding\n(context_length, C)", 0.58)):  # fmt: skip
        box(ax, 1.05, bottom, 1.6, 0.5, name, colour="embedding", size=8)
    arrow(ax, (2.65, 2.45), (2.9, y + 0.13))
    arrow(ax, (2.65, 0.83), (2.9, y - 0.13))
    box(ax, 2.77, y - 0.13, 0.26, 0.26, "+", colour="ink", size=10)


@register(
    "09_gpt.png",
    alt="The GPTModel with its shapes: ids (B, T) look up token_embedding (vocab_size, C); "
    "position_embedding (context_length, C) adds one vector per position 0..T-1; after "
    "drop_emb, num_layers TransformerBlocks keep the shape (B, T, C); final_norm and "
    "out_head, a linear layer from C to vocab_size, give logits (B, T, V). With "
    "tie_weights, out_head reuses the token embedding matrix.",
)
def gpt() -> Figure:
    fig, ax = canvas(10.0, 3.6)
    y, h = 1.45, 0.6  # centre line and height of the main boxes
    _embeddings(ax, y)
    chain = [
        ("drop_emb", 0.85, "data"),
        ("blocks\nnum_layers x\nTransformerBlock", 1.35, "attention"),
        ("final_norm", 0.95, "norm"),
        ("out_head\nLinear(C, V)", 1.05, "ffn"),
        ("logits", 0.8, "output"),
    ]
    x = 3.03
    for k, (name, w, colour) in enumerate(chain):
        arrow(ax, (x, y), (x + 0.3, y))
        x += 0.3
        tall = 0.3 if k == 1 else 0.0  # the stack of blocks is drawn taller, with two behind it
        for d in (0.12, 0.06) if k == 1 else ():
            box(ax, x + d, y - h / 2 + d, w, h + tall, colour=colour)
        box(ax, x, y - h / 2 - tall / 2, w, h + tall, name, colour=colour, size=8)
        shape = "(B, T, V)" if k >= 3 else "(B, T, C)"
        label(ax, x + w / 2, y - h / 2 - 0.35, shape, size=8, mono=True)
        x += w
    ax.plot([1.85, 1.85, 8.17, 8.17], [2.7, 3.3, 3.3, y + h / 2], color=PALETTE["muted"], ls="--")
    tied = "tie_weights=True: out_head.weight is token_embedding.weight"
    label(ax, 5.0, 3.45, tied, size=8, colour="muted")
    return fig


# ---------------------------------------------------------------- 10 training

WINDOW = ["the", "tide", "went", "out", "and", "the", "town", "slept"]  # T + 1 = 8 tokens


@register(
    "10_shifted_targets.png",
    alt="A window of T + 1 = 8 consecutive tokens from the training text: the inputs x are its "
    "first T = 7 tokens, the targets y the same window shifted by one. Each input position, "
    "having seen the tokens up to it, must predict the target below it, the token that "
    "comes next: one window gives T training examples.",
)
def shifted_targets() -> Figure:
    fig, ax = canvas(8.6, 2.6)
    w, x0 = 0.85, 1.1
    for i, word in enumerate(WINDOW):
        box(ax, x0 + i * w, 1.9, w - 0.06, 0.4, word, colour="token", size=9)
        if i < len(WINDOW) - 1:
            box(ax, x0 + i * w, 1.05, w - 0.06, 0.4, word, colour="token", size=9)
            box(ax, x0 + (i + 1) * w, 0.2, w - 0.06, 0.4, WINDOW[i + 1], colour="output", size=9)
            arrow(ax, (x0 + i * w + w / 2, 1.05), (x0 + (i + 1) * w + w / 2 - 0.03, 0.6))
    label(ax, 1.0, 2.1, "window", size=9, ha="right")
    label(ax, 1.0, 1.25, "x (inputs)", size=9, ha="right", mono=True)
    label(ax, 1.0, 0.4, "y (targets)", size=9, ha="right", mono=True)
    label(
        ax,
        4.3,
        2.47,
        "get_batch: B windows of T + 1 tokens;  x = window[:-1],  y = window[1:]",
        size=8,
        colour="muted",
    )
    label(
        ax,
        4.3,
        1.6,
        "each arrow: position t, after seeing x[0..t], predicts y[t]",
        size=8,
        colour="muted",
    )
    return fig


@register(
    "10_training_step.png",
    alt="One training step as a loop: get_batch gives x and y of shape (B, T); model(x) gives "
    "logits (B, T, V); F.cross_entropy compares them with y and gives the loss; "
    "loss.backward() fills the gradients; clip_grad_norm_ scales them to norm at most 1; "
    "optimizer.step(), AdamW with the learning rate of this step from learning_rate(step), "
    "warmup then cosine decay, updates the weights; then the next batch.",
)
def training_step() -> Figure:
    fig, ax = canvas(10.0, 3.0)
    top = [
        ("get_batch", "data", "x, y: (B, T)"),
        ("model(x)", "attention", "logits: (B, T, V)"),
        ("F.cross_entropy\n(logits, y)", "output", "loss: one number"),
    ]
    bottom = [
        ("loss.backward()", "output", "the gradients"),
        ("clip_grad_norm_\n(max_norm=1.0)", "norm", "norm at most 1"),
        ("optimizer.step()\nAdamW", "ffn", "new weights"),
    ]
    w, gap = 2.0, 1.3
    for row, y in ((top, 1.9), (bottom, 0.35)):
        xs = (
            [0.3 + k * (w + gap) for k in range(3)]
            if row is top
            else [0.3 + (2 - k) * (w + gap) for k in range(3)]
        )
        for k, ((name, colour, shape), x) in enumerate(zip(row, xs, strict=True)):
            box(ax, x, y, w, 0.6, name, colour=colour, size=9)
            if k < 2:
                nxt = xs[k + 1]
                start, end = (x + w, nxt) if row is top else (x, nxt + w)
                arrow(ax, (start, y + 0.3), (end, y + 0.3), shape, size=8)
    arrow(ax, (7.6 + 1.0, 1.9), (7.6 + 1.0, 0.95), "loss", size=8, offset=(0.25, -0.05))
    arrow(ax, (1.3, 0.95), (1.3, 1.9), "next step", size=8, offset=(-0.45, -0.05))
    label(
        ax,
        1.3,
        0.15,
        "lr = learning_rate(step): warmup, then cosine decay",
        size=8,
        ha="left",
        colour="muted",
    )
    label(
        ax,
        5.0,
        2.8,
        "optimizer.zero_grad() clears the old gradients before backward()",
        size=8,
        colour="muted",
    )
    return fig


# ---------------------------------------------------------------- 11 attention performance


def _cache_panel(ax: Axes, x: float, length: int, new: int, title: str) -> None:
    """cache.keys of one head as ``context_length`` = 8 slots: ``length`` filled, the last ``new``
    of them written by this call; the new queries' weights over the stored keys above."""
    slots, c = 8, 0.3
    keys = [
        [
            "muted" if k >= length else "output" if k >= length - new else "attention"
            for k in range(slots)
        ]
    ]
    grid(
        ax,
        x,
        0.55,
        [[f"k{k}" if k < length else "" for k in range(slots)]],
        cell=c,
        colours=keys,
        size=7,
    )
    rows = [
        [
            ("attention" if k <= length - new + i else "muted") if k < length else "paper"
            for k in range(slots)
        ]
        for i in range(new)
    ]
    grid(ax, x, 1.2, [[""] * slots for _ in range(new)], cell=c, colours=rows)
    label(ax, x - 0.05, 1.2 + new * c / 2, "new\nqueries", size=7, ha="right")
    label(ax, x + slots * c / 2, 0.35, f"cache.length = {length}", size=8, mono=True)
    label(ax, x + slots * c / 2, 2.6, title, size=9, bold=True)


@register(
    "11_kv_cache.png",
    alt="The KV cache during generation: cache.keys holds context_length slots per head. The "
    "prefill writes the keys of the 4 prompt tokens; each later step projects only the "
    "newest token, appends its key (and value) as one more slot, cache.length 5 then 6, and "
    "its one query attends over every stored key.",
)
def kv_cache() -> Figure:
    fig, ax = canvas(9.8, 2.9)
    _cache_panel(ax, 0.6, 4, 4, "prefill: the prompt, 4 tokens")
    _cache_panel(ax, 3.85, 5, 1, "step 1: one new token")
    _cache_panel(ax, 7.1, 6, 1, "step 2: one new token")
    arrow(ax, (3.05, 0.7), (3.6, 0.7))
    arrow(ax, (6.3, 0.7), (6.85, 0.7))
    label(
        ax,
        4.9,
        0.08,
        "red: written by this call;  orange: already stored;  grey: empty "
        "(B, num_heads, context_length, head_dim) buffer",
        size=8,
        colour="muted",
    )
    return fig


@register(
    "11_explicit_vs_sdpa.png",
    alt="Memory of the two attention paths for T = 8. The explicit path writes the whole T x T "
    "matrix of scores, masked scores and weights per head to memory, so it grows with T "
    "squared. SDPA's flash and memory-efficient kernels go through the keys one block at a "
    "time with a running softmax and never store the T x T matrix.",
)
def explicit_vs_sdpa() -> Figure:
    fig, ax = canvas(9.0, 3.6)
    T, c = 8, 0.3
    causal = [["attention" if j <= i else "muted" for j in range(T)] for i in range(T)]
    grid(ax, 0.5, 0.5, [[""] * T] * T, cell=c, colours=causal)
    label(ax, 0.5 + T * c / 2, 3.15, "explicit: (B, H, T, T) in memory", size=9, bold=True)
    label(ax, 3.05, 1.7, "scores,\nmasked scores,\nweights:\nT x T each", size=8, ha="left")
    block = [
        ["attention" if (2 <= j < 4 and j <= i) else "paper" if j > i else "data" for j in range(T)]
        for i in range(T)
    ]
    grid(ax, 5.2, 0.5, [[""] * T] * T, cell=c, colours=block)
    for b in range(4):
        box(
            ax, 5.2 + 2 * b * c, 0.5, 2 * c, T * c, colour="ink", rounded=False, dashed=b != 1
        ).set_facecolor("none")
    label(ax, 5.2 + T * c / 2, 3.15, "SDPA (flash): one block of keys at a time", size=9, bold=True)
    label(ax, 5.2 + T * c / 2, 0.25, "running max and sum per query row", size=8)
    label(ax, 7.75, 1.7, "memory\ngrows with T,\nnot T x T", size=8, ha="left")
    return fig
