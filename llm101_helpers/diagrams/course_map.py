"""The course map: the whole GPT on one page, with the part a lesson builds highlighted.

It reads like three lines of text: the input (text -> tokens -> ids -> embeddings), the
``TransformerBlock`` repeated ``num_layers`` times (pre-LN: LayerNorm -> causal multi-head
attention -> + -> LayerNorm -> FeedForward -> +), and the output (LayerNorm -> Linear ->
logits -> next token). Box labels are the attribute names of ``llm101_helpers.model.GPT``;
the small numbers under a box are the lessons that build it. ``NN_course_map.png`` is the
map of lesson ``NN``: its parts drawn strong, on a yellow "you are here" halo.
"""

from __future__ import annotations

from functools import partial

from matplotlib import patches
from matplotlib.figure import Figure

from llm101_helpers.diagrams.registry import register
from llm101_helpers.diagrams.style import PALETTE, arrow, box, canvas, label

__all__ = ["LESSONS", "course_map"]

#: lesson -> (title, the map parts it builds)
LESSONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "00": ("Welcome", ()),
    "01": ("Word tokenizer", ("text", "tokens", "ids")),
    "02": ("Byte-pair encoding", ("tokens", "ids")),
    "03": ("Embeddings", ("tok_emb", "pos_emb", "add_emb")),
    "04": ("Simple attention", ("attn",)),
    "05": ("Self-attention", ("attn",)),
    "06": ("Causal attention", ("attn",)),
    "07": ("Multi-head attention", ("attn",)),
    "08": ("Layer normalization", ("norm1", "norm2", "final_norm")),
    "09": ("Transformer block and GPT",
           ("block", "norm1", "attn", "add1", "norm2", "ff", "add2", "final_norm", "out_head",
            "logits", "next")),
    "10": ("Training a tiny poet", ("logits", "next", "loss")),
    "11": ("Making attention fast", ("attn",)),
    "12": ("Pretraining and fine-tuning",
           ("tok_emb", "pos_emb", "block", "final_norm", "out_head", "loss")),
    "13": ("Data-parallel training", ("ids", "loss")),
}

# part -> (x, y, w, h, label, colour, lessons that build it); inches on a 10 x 4.5 canvas
ROW1, ROW2, ROW3 = 3.4, 1.9, 0.35
PARTS: dict[str, tuple[float, float, float, float, str, str, str]] = {
    "text": (0.2, ROW1, 1.3, 0.5, '"The tide\nwent out"', "data", "00 01"),
    "tokens": (1.9, ROW1, 2.25, 0.5, '"The" " tide" " went" " out"\ntokens', "token", "01 02"),
    "ids": (4.4, ROW1, 1.55, 0.5, "464 20013 1816 503\nids  (B, T)", "token", "01 02"),
    "tok_emb": (6.5, ROW1 + 0.3, 1.9, 0.38, "token embedding", "embedding", ""),
    "pos_emb": (6.5, ROW1 - 0.18, 1.9, 0.38, "position embedding", "embedding", "03"),
    "add_emb": (8.75, ROW1 + 0.07, 0.36, 0.36, "+", "embedding", ""),
    "norm1": (0.75, ROW2, 1.1, 0.5, "LayerNorm\nnorm1", "norm", "08"),
    "attn": (2.2, ROW2, 1.9, 0.5, "causal multi-head\nattention  attn", "attention", "04-07 11"),
    "add1": (4.45, ROW2 + 0.07, 0.36, 0.36, "+", "data", ""),
    "norm2": (5.15, ROW2, 1.1, 0.5, "LayerNorm\nnorm2", "norm", "08"),
    "ff": (6.6, ROW2, 1.45, 0.5, "FeedForward\nff", "ffn", "09"),
    "add2": (8.4, ROW2 + 0.07, 0.36, 0.36, "+", "data", "09"),
    "final_norm": (0.75, ROW3, 1.35, 0.5, "LayerNorm\nfinal_norm", "norm", "08"),
    "out_head": (2.55, ROW3, 1.45, 0.5, "Linear\nout_head", "ffn", "09"),
    "logits": (4.5, ROW3, 2.1, 0.5, "logits\n(B, T, vocab_size)", "output", "09"),
    "next": (7.1, ROW3, 1.4, 0.5, 'next token\n" before"', "output", "09 10"),
}
FLOW = [("text", "tokens"), ("tokens", "ids"), ("norm1", "attn"), ("attn", "add1"),
        ("add1", "norm2"), ("norm2", "ff"), ("ff", "add2"), ("final_norm", "out_head"),
        ("out_head", "logits"), ("logits", "next")]


def _edge(part: str, side: str) -> tuple[float, float]:
    x, y, w, h = PARTS[part][:4]
    return {"l": (x, y + h / 2), "r": (x + w, y + h / 2), "t": (x + w / 2, y + h),
            "b": (x + w / 2, y)}[side]


def _line_break(ax, start: tuple[float, float], end: tuple[float, float], via: float) -> None:
    """The "carriage return" from the end of one line of the map to the start of the next,
    right of ``start``, along ``y = via`` back to the left margin, down to ``end``."""
    (x0, y0), (x1, y1) = start, end
    xr = max(x0, 9.3)
    ax.plot([x0, xr, xr, 0.3, 0.3], [y0, y0, via, via, y1], color=PALETTE["ink"], lw=1.3)
    arrow(ax, (0.3, y1), (x1, y1))
    label(ax, 5.0, via + 0.02, "x  (B, T, d_model)", size=8, mono=True, va="bottom")


def _block_frame(ax, here: set[str]) -> None:
    """The dashed TransformerBlock frame and its two residual paths."""
    strong = "block" in here
    if strong:
        ax.add_patch(patches.FancyBboxPatch(
            (0.55, ROW2 - 0.3), 8.55, 1.3, boxstyle="round,pad=0,rounding_size=0.1",
            facecolor=PALETTE["highlight"], edgecolor="none", alpha=0.35))
    box(ax, 0.55, ROW2 - 0.3, 8.55, 1.3, colour="ink" if strong else "muted", dashed=True)
    ax.patches[-1].set_facecolor("none")
    label(ax, 9.0, ROW2 + 0.88, "TransformerBlock × num_layers", size=9, ha="right",
          bold=strong)
    for start, add in (((0.6, ROW2 + 0.25), "add1"), ((_edge("add1", "r")[0] + 0.12,
                                                        ROW2 + 0.25), "add2")):
        top = ROW2 + 0.78
        ax.plot([start[0], start[0], _edge(add, "t")[0]], [start[1], top, top],
                color=PALETTE["ink"], lw=1.1)
        arrow(ax, (_edge(add, "t")[0], top), _edge(add, "t"))
    label(ax, 4.85, ROW2 + 0.86, "residual (shortcut) paths", size=8, colour="muted", ha="left")


def _parts(ax, here: set[str], badges: bool) -> None:
    for part, (x, y, w, h, text, colour, lessons) in PARTS.items():
        strong = part in here
        if strong:
            ax.add_patch(patches.FancyBboxPatch(
                (x - 0.08, y - 0.08), w + 0.16, h + 0.16, boxstyle="round,pad=0,rounding_size=0.1",
                facecolor=PALETTE["highlight"], edgecolor="none"))
        box(ax, x, y, w, h, text, colour=colour, strong=strong, size=9 if w > 0.5 else 12)
        if badges and lessons:
            label(ax, x + w / 2, y - 0.13 if part != "tok_emb" else y + h + 0.1, lessons, size=7.5,
                  colour="muted")


def course_map(lesson: str | None = None) -> Figure:
    """The whole GPT; ``lesson`` (e.g. ``"03"``) highlights what that lesson builds, None
    labels every part with the lessons that build it (the map of the whole course)."""
    if lesson is not None and lesson not in LESSONS:
        raise ValueError(f"no lesson {lesson!r}: choose one of {sorted(LESSONS)}")
    fig, ax = canvas(10, 4.5)
    here = set(LESSONS[lesson][1]) if lesson else set()
    title = (f"You are here: {lesson} · {LESSONS[lesson][0]}  (highlighted)" if lesson
             else "The course map: the GPT you build, part by part (small numbers: the lessons)")
    label(ax, 0.2, 4.28, title, size=11, ha="left", bold=True)
    _block_frame(ax, here)
    _parts(ax, here, badges=lesson is None)
    for a, b in FLOW:
        arrow(ax, _edge(a, "r"), _edge(b, "l"))
    arrow(ax, _edge("ids", "r"), (6.5, ROW1 + 0.49), bend=-0.2)
    arrow(ax, _edge("ids", "r"), (6.5, ROW1 + 0.01), bend=0.2)
    arrow(ax, _edge("tok_emb", "r"), (8.75, ROW1 + 0.3), bend=-0.2)
    arrow(ax, _edge("pos_emb", "r"), (8.75, ROW1 + 0.16), bend=0.2)
    _line_break(ax, _edge("add_emb", "r"), _edge("norm1", "l"), ROW2 + 1.08)
    _line_break(ax, _edge("add2", "r"), _edge("final_norm", "l"), ROW3 + 0.78)
    if "loss" in here:
        box(ax, 8.85, ROW3, 1.0, 0.5, "loss", colour="output", strong=True)
        arrow(ax, _edge("next", "r"), (8.85, ROW3 + 0.25))
    return fig


def _alt(lesson: str) -> str:
    flow = ("text, tokens, ids, token embedding plus position embedding, then num_layers "
            "TransformerBlocks (LayerNorm, causal multi-head attention, add, LayerNorm, "
            "FeedForward, add), then LayerNorm, Linear, logits and the next token")
    if lesson == "00":
        return f"The course map of the whole GPT: {flow}; each part is labelled with its lessons."
    title, parts = LESSONS[lesson]
    names = {"add_emb": "the sum of the two embeddings", "add1": "the first residual add",
             "add2": "the second residual add", "block": "the whole TransformerBlock"}
    here = ", ".join(names.get(p, PARTS[p][4].split("\n")[-1] if p in PARTS else p) for p in parts)
    return f"The course map ({flow}) with lesson {lesson}, {title}, highlighted: {here}."


for _lesson in LESSONS:
    register(f"{_lesson}_course_map.png", alt=_alt(_lesson))(
        partial(course_map, None if _lesson == "00" else _lesson))
