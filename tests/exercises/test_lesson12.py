"""Lesson 12's exercises: plausible mistakes are caught; answers written another way pass.

The references are also checked against what they stand for: the parameter counts against a
closed form and GPT-2 small's published 124,439,808, and what ``freeze`` leaves trainable
against the gradients a backward pass actually gives; the unigram baseline against a
cross-entropy computed by PyTorch; the learning rates against rates built top-down.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.exercises import EXERCISES
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.training.cli import freeze
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases

# --- 12.trainable_parameters ---------------------------------------------------------------


def _count(cfg, train_only, *, biases=True, qkv_bias=True, norm=True, head=True,
           tied_twice=False, tied_frozen=False, positions=True):  # fmt: skip
    """Trainable numbers from the shapes, with a chosen mistake."""
    C, V, T, L = cfg.d_model, cfg.vocab_size, cfg.context_length, cfg.num_layers
    block = 12 * C * C  # W_query, W_key, W_value, out_proj (C x C); fc, proj (C x 4C)
    if norm:
        block += 2 * 2 * C  # two LayerNorms: scale and shift
    if biases:
        block += C + 4 * C + C  # out_proj, fc, proj
    if biases and qkv_bias and cfg.qkv_bias:
        block += 3 * C
    top = (2 * C if norm else 0) + V * C  # final norm, output layer (no bias)
    if cfg.tie_weights and tied_frozen:
        top -= V * C  # as if the head's matrix froze with the token table
    if train_only == "head":
        return top
    if train_only.startswith("last-"):
        return int(train_only[5:]) * block + (top if head else 0)
    tables = V * C + (T * C if positions else 0)
    if cfg.tie_weights and not tied_twice:
        tables -= V * C  # one matrix, counted once
    return tables + L * block + top


def _count_by_layers(cfg, train_only):
    """Trainable numbers counted layer by layer (another way to write the answer)."""
    C, V = cfg.d_model, cfg.vocab_size

    def linear(n_in, n_out, bias=True):
        return n_in * n_out + (n_out if bias else 0)

    block = (2 * C + 3 * linear(C, C, cfg.qkv_bias) + linear(C, C) + 2 * C
             + linear(C, 4 * C) + linear(4 * C, C))  # fmt: skip
    top = 2 * C + linear(C, V, bias=False)
    if train_only == "head":
        return top
    if train_only != "all":
        return int(train_only.split("-")[1]) * block + top
    token_table = 0 if cfg.tie_weights else V * C  # tied: the head's matrix, counted above
    return token_table + cfg.context_length * C + cfg.num_layers * block + top


# --- 12.unigram_bits_per_char --------------------------------------------------------------


def _bits(train, held, *, alphabet="both", base=2.0, per_char=True, fit_on="train", plus=1):
    """Unigram bits per character with a chosen mistake."""
    chars = {"both": set(train) | set(held), "train": set(train)}[alphabet]
    counts = Counter(train if fit_on == "train" else held)
    total = len(train if fit_on == "train" else held) + plus * len(chars)
    surprise = -sum(math.log((counts[c] + plus) / total, base) for c in held)
    return surprise / len(held) if per_char else surprise


def _bits_by_torch(train, held):
    """The same baseline as a cross-entropy: log-probabilities of the smoothed counts."""
    alphabet = sorted(set(train) | set(held))
    index = {c: i for i, c in enumerate(alphabet)}
    counts = torch.ones(len(alphabet), dtype=torch.float64)  # add one to every character
    for c in train:
        counts[index[c]] += 1
    logits = counts.log().expand(len(held), -1)  # (N, alphabet): a softmax gives counts / total
    targets = torch.tensor([index[c] for c in held])
    return F.cross_entropy(logits, targets).item() / math.log(2)


# --- 12.layerwise_learning_rates -----------------------------------------------------------


def _rates(model, lr, decay, *, from_bottom=False, emb_below=True, head_decayed=False,
           embeddings=True, scale=lambda d, k: d**k):  # fmt: skip
    """Learning rates by name with a chosen mistake."""
    L = len(model.blocks)
    out = {}
    for name, _ in model.named_parameters():
        if name.startswith("blocks."):
            i = int(name.split(".")[1])
            depth = i if from_bottom else L - 1 - i
        elif name.startswith("embedding."):
            if not embeddings:
                continue
            depth = L if emb_below else L - 1
        else:
            depth = 0
        out[name] = lr * scale(decay, depth + (1 if head_decayed else 0))
    return out


def _rates_top_down(model, lr, decay):
    """Walk down from the head, multiplying by decay at each step (another way to write it)."""
    rate, out = lr, {}
    for part in ("final_norm", "out_head"):
        for name, _ in getattr(model, part).named_parameters(prefix=part):
            out[name] = rate
    for i in reversed(range(len(model.blocks))):
        for name, _ in model.blocks[i].named_parameters(prefix=f"blocks.{i}"):
            out[name] = rate
        rate *= decay
    for name, _ in model.embedding.named_parameters(prefix="embedding"):
        out[name] = rate
    return out


WRONG = {
    "12.trainable_parameters": {
        "biases forgotten": lambda cfg, t: _count(cfg, t, biases=False),
        "qkv_bias ignored": lambda cfg, t: _count(cfg, t, qkv_bias=False),
        "LayerNorms forgotten": lambda cfg, t: _count(cfg, t, norm=False),
        "last-N without the head": lambda cfg, t: _count(cfg, t, head=False),
        "tied matrix counted twice": lambda cfg, t: _count(cfg, t, tied_twice=True),
        "tied head frozen with the token table": lambda cfg, t: _count(cfg, t, tied_frozen=True),
        "position table forgotten": lambda cfg, t: _count(cfg, t, positions=False),
    },
    "12.unigram_bits_per_char": {
        "natural log (nats)": lambda a, b: _bits(a, b, base=math.e),
        "alphabet of the training text only": lambda a, b: _bits(a, b, alphabet="train"),
        "fitted on the held-out text": lambda a, b: _bits(a, b, fit_on="held"),
        "total bits, not per character": lambda a, b: _bits(a, b, per_char=False),
        "no smoothing": lambda a, b: _bits(a, b, plus=0),
        "entropy of the training text": lambda a, b: _bits(a, a or b),
    },
    "12.layerwise_learning_rates": {
        "decay counted from the first block": lambda m, lr, d: _rates(m, lr, d, from_bottom=True),
        "embeddings at the first block's rate": lambda m, lr, d: _rates(m, lr, d, emb_below=False),
        "the head decayed too": lambda m, lr, d: _rates(m, lr, d, head_decayed=True),
        "embeddings left out": lambda m, lr, d: _rates(m, lr, d, embeddings=False),
        "1 - decay subtracted per step down": lambda m, lr, d: _rates(
            m, lr, d, scale=lambda d, k: 1 - (1 - d) * k
        ),
        "divided by decay per step down": lambda m, lr, d: _rates(
            m, lr, d, scale=lambda d, k: d**-k
        ),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("12.trainable_parameters", _count_by_layers)
    assert_passes("12.unigram_bits_per_char", _bits_by_torch)
    assert_passes("12.layerwise_learning_rates", _rates_top_down)


def test_the_mistake_helpers_without_a_mistake_are_right():
    assert_passes("12.trainable_parameters", _count)
    assert_passes("12.unigram_bits_per_char", _bits)
    assert_passes("12.layerwise_learning_rates", _rates)


def test_gpt2_small_counts_its_published_size():
    reference = EXERCISES["12.trainable_parameters"].reference
    assert reference(GPTConfig.preset("gpt2-small"), "all") == 124_439_808


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("train_only", ["all", "head", "last-1", "last-2"])
def test_what_freeze_trains_is_what_gets_a_gradient(tie, train_only):
    """One backward pass: the numbers with a gradient are the ones counted, tied or not."""
    cfg = GPTConfig(vocab_size=30, context_length=8, d_model=8, num_heads=2, num_layers=2,
                    qkv_bias=True, tie_weights=tie)  # fmt: skip
    torch.manual_seed(12)
    model = GPT(cfg)
    freeze(model, train_only)
    ids = torch.randint(0, 30, (2, 8))
    F.cross_entropy(model(ids).flatten(0, 1), ids.flatten()).backward()
    with_grad = sum(p.numel() for p in model.parameters() if p.grad is not None)
    assert with_grad == EXERCISES["12.trainable_parameters"].reference(cfg, train_only)
    table = model.embedding.token_embedding.weight
    assert (table.grad is not None) == (tie or train_only == "all")  # tied: the head trains it


def test_unigram_baseline_is_the_log_of_the_alphabet_without_training_text():
    reference = EXERCISES["12.unigram_bits_per_char"].reference
    assert reference("", "abcdefgh") == pytest.approx(3.0)
    assert reference("zzzz", "zz") == pytest.approx(0.0)


def test_decay_one_gives_every_parameter_the_same_rate():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=20, context_length=4, d_model=8, num_heads=2, num_layers=3))
    rates = EXERCISES["12.layerwise_learning_rates"].reference(model, 1e-3, 1.0)
    assert list(rates) == [n for n, _ in model.named_parameters()]
    assert set(rates.values()) == {1e-3}
