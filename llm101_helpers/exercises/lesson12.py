"""Lesson 12 exercises: how many numbers ``--train-only`` trains, the bits per character of a
character unigram model (the baseline), learning rates that shrink with depth (ULMFiT)."""

from __future__ import annotations

import math
from collections import Counter

import torch

from llm101_helpers.exercises.checker import Case, Exercise, register
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.training.cli import freeze


def trainable_parameters(config: GPTConfig, train_only: str) -> int:
    """How many numbers train under ``--train-only train_only`` (``all``, ``head``, ``last-N``)."""
    with torch.device("meta"):  # the shapes without the numbers: instant, even for GPT-2
        model = GPT(config)
    return freeze(model, train_only)  # the truth: what the command line trains


_TINY = GPTConfig.preset("tiny")
_SMALL = GPTConfig.preset("small")
_ODD = GPTConfig(vocab_size=1000, context_length=128, d_model=96, num_heads=3, num_layers=5)

register(Exercise(
    "12.trainable_parameters",
    trainable_parameters,
    [
        Case("the small GPT, all", (_SMALL, "all")),
        Case("the small GPT, head", (_SMALL, "head")),
        Case("the small GPT, last-1", (_SMALL, "last-1")),
        Case("the small GPT, last-4: every block", (_SMALL, "last-4")),
        Case("5 blocks of width 96, last-3", (_ODD, "last-3")),
        Case("tiny with qkv biases, last-2", (GPTConfig.preset("tiny", qkv_bias=True), "last-2")),
        Case("tiny with qkv biases, all", (GPTConfig.preset("tiny", qkv_bias=True), "all")),
        Case("tiny, tied weights, all", (GPTConfig.preset("tiny", tie_weights=True), "all")),
        Case("tiny, tied weights, head", (GPTConfig.preset("tiny", tie_weights=True), "head")),
        Case("GPT-2 small (tied, qkv biases), all", (GPTConfig.preset("gpt2-small"), "all")),
        Case("GPT-2 small, last-12", (GPTConfig.preset("gpt2-small"), "last-12")),
        Case("GPT-2 small, head", (GPTConfig.preset("gpt2-small"), "head")),
        Case("tiny, all", (_TINY, "all")),
    ],
    "count one transformer block from its layers: two LayerNorms (a scale and a shift of width "
    "d_model each), the query, key and value maps (with biases only when qkv_bias is set), the "
    "output projection (with a bias), and the feed-forward's two Linear layers through a hidden "
    "width of 4 * d_model (both with biases). The head is the final LayerNorm plus the output "
    "layer (no bias). 'last-N' is N blocks plus the head; 'all' adds the token and position "
    "tables. With tie_weights the output layer and the token table are ONE matrix: it is counted "
    "once, and training the head trains it, so the token table is not frozen by 'head'.",
))  # fmt: skip


def unigram_bits_per_char(train: str, held_out: str) -> float:
    """Bits per character of ``held_out`` under a character unigram model of ``train``
    (add-one smoothing over the characters of both texts)."""
    alphabet = set(train) | set(held_out)
    counts = Counter(train)
    total = len(train) + len(alphabet)  # every count plus one for each character of the alphabet
    bits = 0.0
    for char in held_out:
        bits -= math.log2((counts[char] + 1) / total)
    return bits / len(held_out)


_SONNET_18 = (
    "Shall I compare thee to a summer's day?\n"
    "Thou art more lovely and more temperate:\n"
    "Rough winds do shake the darling buds of May,\n"
    "And summer's lease hath all too short a date;\n"
)

register(Exercise(
    "12.unigram_bits_per_char",
    unigram_bits_per_char,
    [
        Case("every held-out letter seen", ("abracadabra", "cab")),
        Case("a held-out letter never seen", ("to be or not to be", "to see")),
        Case("a sonnet's lines, then its next", (_SONNET_18, "Sometime too hot the eye of heaven shines,\n")),  # noqa: E501
        Case("one letter only: no surprise", ("aaaa", "aa")),
        Case("no training text: every letter equally likely", ("", "abcd")),
        Case("held-out text unlike the training text", ("aaaaaaab", "bbbb")),
        Case("one held-out character", ("hello world", "o")),
    ],
    "count how often each character occurs in the training text. The alphabet is every distinct "
    "character of either text; add one to every character's count (so a character never seen in "
    "training still gets a small probability) and divide by the sum of all those counts, which is "
    "the training length plus the size of the alphabet. Then add up the surprise, minus the "
    "base-2 logarithm of the probability, of each held-out character in turn, and divide by the "
    "number of held-out characters. The model is fitted on the training text only.",
))  # fmt: skip


def layerwise_learning_rates(model: GPT, lr: float, decay: float) -> dict[str, float]:
    """Parameter name -> learning rate: ``lr`` for the head, ``decay`` times less per step down."""
    num_layers = len(model.blocks)
    rates = {}
    for name, _ in model.named_parameters():
        parts = name.split(".")
        if parts[0] == "blocks":
            depth = num_layers - 1 - int(parts[1])  # blocks below the top one
        elif parts[0] == "embedding":
            depth = num_layers
        else:  # final_norm, out_head
            depth = 0
        rates[name] = lr * decay**depth
    return rates


def _gpt(seed: int, **shape) -> GPT:
    """A small seeded GPT in eval mode."""
    torch.manual_seed(seed)
    return GPT(GPTConfig(**shape)).eval()


_SHAPE = {"vocab_size": 40, "context_length": 8, "d_model": 16, "num_heads": 2}

register(Exercise(
    "12.layerwise_learning_rates",
    layerwise_learning_rates,
    [
        Case("2 blocks, decay 1.0: one rate for all", (_gpt(1201, **_SHAPE, num_layers=2), 3e-4, 1.0)),  # noqa: E501
        Case("2 blocks, decay 0.5", (_gpt(1202, **_SHAPE, num_layers=2), 1e-3, 0.5)),
        Case("4 blocks, decay 0.8", (_gpt(1203, **_SHAPE, num_layers=4), 6e-4, 0.8)),
        Case("1 block with qkv biases, decay 0.5",
             (_gpt(1204, **_SHAPE, num_layers=1, qkv_bias=True), 2e-3, 0.5)),
        Case("6 blocks, decay 1 / 2.6 (ULMFiT's)", (_gpt(1205, **_SHAPE, num_layers=6), 1e-2, 1 / 2.6)),  # noqa: E501
    ],
    "go through the names that named_parameters gives and sort each into one of three kinds by "
    "its first part: the embedding tables, a transformer block (the second part is the block's "
    "index), or the top (the final norm and the output layer). The top gets lr; each step down "
    "multiplies by decay once more, so the top block gets lr itself, the block below it "
    "lr times decay, ... , the first block decay to the power num_layers - 1, and the embeddings, "
    "below every block, one more factor. With decay 1 every rate is lr.",
))  # fmt: skip
