"""Step diagrams of lesson 12, pretraining and fine-tuning: the three poets and how each is
trained, and which layers ``--train-only`` lets a fine-tuning run change.

Each function draws one figure, registered under the attachment name its notebook uses
(``12_what.png``); ``tools/diagrams.py`` embeds them. The labels are the names of the
package's command line (``python -m llm101_helpers.training``: ``--corpus``,
``--init-from``, ``--train-only``, ``--keep-best``) and of ``GPT``'s submodules; the
parameter counts are those of the shipped configuration (``SHIPPED``), which
``tests/test_lesson12_diagrams.py`` checks against ``training.cli.freeze``.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from llm101_helpers.diagrams.registry import register
from llm101_helpers.diagrams.style import PALETTE, arrow, box, canvas, label

__all__: list[str] = []

#: the shipped poets' GPTConfig (the parameter counts below are for it)
SHIPPED = {"vocab_size": 1024, "context_length": 64, "d_model": 128, "num_heads": 4,
           "num_layers": 4, "qkv_bias": False, "tie_weights": False}
#: the GPT's parts, bottom to top: (name drawn, colour, parameters)
STACK: list[tuple[str, str, int]] = [
    ("embedding", "embedding", 139_264),  # tok_emb 1024 x 128 + pos_emb 64 x 128
    *[(f"block {i}", "attention", 197_888) for i in range(4)],
    ("final_norm", "norm", 256),
    ("out_head", "ffn", 131_072),  # 128 x 1024, no bias
]
#: --train-only mode -> the parts it trains (the others get requires_grad=False)
TRAINED: dict[str, tuple[str, ...]] = {
    "all": tuple(name for name, _, _ in STACK),
    "last-1": ("block 3", "final_norm", "out_head"),
    "head": ("final_norm", "out_head"),
}
TOTAL = sum(n for _, _, n in STACK)  # 1,062,144


def trained_count(mode: str) -> int:
    """How many of the ``TOTAL`` parameters ``--train-only mode`` trains, by the figure."""
    return sum(n for name, _, n in STACK if name in TRAINED[mode])


def _pretrain_lane(ax) -> None:
    """The top line: both corpora -> one tokenizer -> pretraining -> fine-tuning."""
    y, h = 3.2, 0.62
    box(ax, 0.15, y, 1.75, h, "tinyshakespeare  1.1 M\nsonnets  0.1 M characters", size=8)
    arrow(ax, (1.9, y + h / 2), (2.2, y + h / 2))
    box(ax, 2.2, y, 2.0, h, "BPETokenizer.train(...,\nvocab_size=1024)", colour="token", size=8)
    arrow(ax, (4.2, y + h / 2), (4.5, y + h / 2))
    box(ax, 4.5, y, 2.2, h, "pretraining\n10,000 steps, lr 1e-3",
        colour="ffn", size=8)
    arrow(ax, (6.7, y + h / 2), (7.0, y + h / 2))
    box(ax, 7.0, y, 1.45, h, "poet_pretrained.pt", colour="output", size=8)
    label(ax, 4.5, y + h + 0.13, "python -m llm101_helpers.training --corpus tinyshakespeare "
          "sonnets", size=7.5, mono=True, ha="left", colour="muted")
    y2 = 2.15
    box(ax, 2.2, y2, 2.0, h, "the same BPETokenizer", colour="token", size=8)
    arrow(ax, (4.2, y2 + h / 2), (4.5, y2 + h / 2))
    box(ax, 4.5, y2, 2.2, h, "fine-tuning: lower lr,\nfew steps, --keep-best", colour="ffn",
        size=8)
    arrow(ax, (7.5, y), (6.5, y2 + h), bend=-0.25)
    label(ax, 6.9, y - 0.1, "--init-from", size=8, mono=True, ha="right")
    arrow(ax, (6.7, y2 + h / 2), (7.0, y2 + h / 2))
    box(ax, 7.0, y2, 1.45, h, "poet_finetuned.pt", colour="output", strong=True, size=8)


def _baseline_lane(ax) -> None:
    """The baseline: poems only, its own tokenizer, random weights, the same budget."""
    y, h = 1.1, 0.62
    box(ax, 2.2, y, 2.0, h, "its own BPETokenizer,\ntrained on poems", colour="token", size=8)
    arrow(ax, (4.2, y + h / 2), (4.5, y + h / 2))
    box(ax, 4.5, y, 2.2, h, "from random weights,\nthe same steps in total",
        colour="ffn", size=8)
    arrow(ax, (6.7, y + h / 2), (7.0, y + h / 2))
    box(ax, 7.0, y, 1.45, h, "poet_poems_only.pt", colour="output", size=8)
    label(ax, 2.2, y - 0.14, "baseline: the same GPT, 1.06 M parameters",
          size=8, ha="left", colour="muted")


@register(
    "12_pretrain_then_fine_tune.png",
    alt="How the three poets are trained, in three rows. Pretraining: the corpora "
    "tinyshakespeare (1.1 M characters) and sonnets (0.1 M) train one BPETokenizer "
    "(BPETokenizer.train(..., vocab_size=1024)); python -m llm101_helpers.training --corpus "
    "tinyshakespeare sonnets then trains the GPT for 10,000 steps at lr 1e-3 into "
    "poet_pretrained.pt. Fine-tuning: --init-from poet_pretrained.pt starts from its weights "
    "and trains on the poems (0.1 M characters) with the same BPETokenizer, a lower lr, few "
    "steps and --keep-best, into poet_finetuned.pt. Baseline: the poems alone, with their own "
    "BPETokenizer, train the same GPT (1.06 M parameters) from random weights for the same "
    "number of steps in total, into poet_poems_only.pt. Only the first 90% of the poems is "
    "trained on; the last 10% of the characters is held out, never trained on, and all three "
    "checkpoints are compared in bits per character on it (lower is better).",
)
def pretrain_then_fine_tune() -> Figure:
    fig, ax = canvas(10.0, 4.5)
    label(ax, 0.15, 4.28, "Pretrain, then fine-tune on the poems; or train on them alone",
          ha="left", bold=True)
    _pretrain_lane(ax)
    _baseline_lane(ax)
    box(ax, 0.15, 1.1, 1.75, 1.67, "poems\n0.1 M characters\n\ntrain: first 90%",
        colour="data", size=8)
    arrow(ax, (1.9, 2.46), (2.2, 2.46))
    arrow(ax, (1.9, 1.41), (2.2, 1.41))
    arrow(ax, (1.02, 1.1), (1.02, 0.66), "last 10%", size=8, offset=(0.42, -0.12))
    box(ax, 0.15, 0.15, 8.3, 0.5, "held-out poems: the last 10% of the characters, never "
        "trained on", colour="highlight", size=8)
    box(ax, 8.8, 0.15, 1.05, 3.67, "", colour="output")
    label(ax, 9.325, 2.0, "bits per\ncharacter\n\n(lower is\nbetter)",
          size=8)
    for y in (3.51, 2.46, 1.41):
        arrow(ax, (8.45, y), (8.8, y))
    arrow(ax, (8.45, 0.4), (8.8, 0.4))
    return fig


def _stack(ax, x: float, mode: str) -> None:
    """One GPT, bottom (embedding) to top (out_head); the parts ``mode`` freezes in grey."""
    w, h, gap, y0 = 2.0, 0.34, 0.07, 0.95
    label(ax, x + w / 2, 3.98, f"--train-only {mode}", size=10, bold=True, mono=True)
    for i, (name, colour, n) in enumerate(STACK):
        y = y0 + i * (h + gap)
        trained = name in TRAINED[mode]
        text = f"{name}  {n:,}" if mode == "all" else name  # counts once, in the first GPT
        box(ax, x, y, w, h, text, colour=colour, faded=not trained,
            strong=trained, size=8.5)
        if i:
            ax.plot([x + w / 2] * 2, [y - gap, y], color=PALETTE["ink"], lw=1)
    frozen = sum(name not in TRAINED[mode] for name, _, _ in STACK)  # the bottom parts
    if frozen:
        top, right = y0 + frozen * (h + gap) - gap, x + w + 0.1
        ax.plot([right, right + 0.08, right + 0.08, right], [y0, y0, top, top],
                color=PALETTE["muted"], lw=1.2)
        label(ax, right + 0.15, (y0 + top) / 2, "frozen", size=9, colour="muted", ha="left")
    count = trained_count(mode)
    label(ax, x + w / 2, 0.55, f"trains {count:,} of {TOTAL:,}\n({count / TOTAL:.1%})",
          size=9, bold=True)


@register(
    "12_which_layers_train.png",
    alt="The shipped poets' GPT (vocab_size=1024, d_model=128, num_layers=4) drawn three "
    "times as a stack, bottom to top: embedding, block 0 to block 3 (model.blocks), "
    "final_norm, out_head; the first stack labels each part with its parameters: embedding "
    "139,264, each block 197,888, final_norm 256, out_head 131,072. --train-only all trains "
    "every part: 1,062,144 of 1,062,144 parameters (100.0%). --train-only last-1 trains "
    "block 3, final_norm and out_head: 329,216 (31.0%). --train-only head trains final_norm "
    "and out_head: 131,328 (12.4%). The other parts are grey and marked frozen: "
    "requires_grad=False, so they get no gradient and AdamW never changes them.",
)
def which_layers_train() -> Figure:
    fig, ax = canvas(10.0, 4.5)
    label(ax, 0.15, 4.3, "Fine-tuning all of the GPT, or only its top: which parameters train",
          ha="left", bold=True)
    for k, mode in enumerate(TRAINED):
        _stack(ax, 0.35 + k * 3.3, mode)
    label(ax, 5.0, 0.15, "frozen = requires_grad=False: no gradient, AdamW never changes it  "
          "·  the shipped poets' GPT: vocab_size=1024, d_model=128, num_layers=4", size=8,
          colour="muted")
    return fig
