"""Lesson 06 exercises: a sliding-window mask, causal weights with padding, measuring causality."""

from __future__ import annotations

import torch
from torch import nn

from llm101_helpers.attention import CausalAttention, SelfAttention
from llm101_helpers.exercises.checker import Case, Exercise, randn, register


def local_causal_mask(num_tokens: int, window: int) -> torch.Tensor:
    """Bool (T, T): True where query i must not see key j (the future, or window or more back)."""
    query = torch.arange(num_tokens).unsqueeze(1)  # (T, 1)
    key = torch.arange(num_tokens).unsqueeze(0)  # (1, T)
    distance = query - key  # (T, T): how far back key j is from query i
    return (distance < 0) | (distance >= window)


register(Exercise(
    "06.local_causal_mask",
    local_causal_mask,
    [
        Case("one token", (1, 1)),
        Case("5 tokens, window 2", (5, 2)),
        Case("6 tokens, window 3", (6, 3)),
        Case("window 1: only itself", (4, 1)),
        Case("window = num_tokens: plain causal", (4, 4)),
        Case("window longer than the sequence", (3, 10)),
    ],
    "a window of w means a token sees itself and the w - 1 tokens before it, nothing else. Work "
    "with the distance i - j between query i and key j: which distances are allowed? Both "
    "conditions, 'in the future' and 'too far back', hide a key, and True means hidden. Check "
    "your answer on a 4 x 4 drawing first.",
))  # fmt: skip


def padded_causal_weights(scores: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Causal softmax of (B, T, T) scores that also hides the padding keys of each sequence."""
    B, T, _ = scores.shape
    positions = torch.arange(T)
    padding = positions.unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T): True for padding tokens
    future = positions.unsqueeze(0) > positions.unsqueeze(1)  # (T, T): key after query
    hidden = future.unsqueeze(0) | padding.unsqueeze(1)  # (B, T, T): per query row, per key
    return torch.softmax(scores.masked_fill(hidden, float("-inf")), dim=-1)


def _lengths(*values: int) -> torch.Tensor:
    return torch.tensor(values)


register(Exercise(
    "06.padded_causal_weights",
    padded_causal_weights,
    [
        Case("no padding: plain causal", (randn(1, 3, 3, seed=601), _lengths(3))),
        Case("one sequence, the last 2 tokens padding", (randn(1, 5, 5, seed=602), _lengths(3))),
        Case("a batch: lengths 4 and 2", (randn(2, 4, 4, seed=603) * 2, _lengths(4, 2))),
        Case("a sequence of one real token", (randn(2, 3, 3, seed=604), _lengths(1, 3))),
        Case("3 sequences, 6 positions", (randn(3, 6, 6, seed=605), _lengths(6, 5, 2))),
    ],
    "two reasons hide a key from a query: it comes after the query, or it is padding (its "
    "position is at or past its sequence's length). Padding is a property of the KEY: it hides a "
    "column, for every query of that sequence, and a hidden key must get exactly zero weight "
    "while every row still sums to 1. Combine the two masks so that either reason hides the key, "
    "with shapes that broadcast to (B, T, T).",
))  # fmt: skip


def dependencies(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Bool (T, T): True at (i, j) when changing input token j changes output token i."""
    T = x.shape[1]
    with torch.no_grad():
        before = attn(x)  # (1, T, d_out)
        changed = torch.zeros(T, T, dtype=torch.bool)
        for j in range(T):
            nudged = x.clone()
            nudged[:, j] += 1.0  # change token j only
            after = attn(nudged)
            changed[:, j] = ~torch.isclose(after, before, rtol=1e-4, atol=1e-6).all(-1)[0]
    return changed


def _layer(kind: str, d: int, T: int, seed: int) -> nn.Module:
    """An attention layer (or a position-wise one) with random weights, in eval mode."""
    torch.manual_seed(seed)
    if kind == "linear":
        return nn.Linear(d, d).eval()
    if kind == "full":
        return SelfAttention(d, d).eval()
    attn = CausalAttention(d, d, context_length=T).eval()
    if kind == "peek":  # a wrong mask: each token also sees the next one
        attn.mask = torch.ones(T, T, dtype=torch.bool).triu(diagonal=2)
    if kind == "window":  # a sliding window of 2: itself and the token before
        attn.mask = local_causal_mask(T, 2)
    return attn


def _dep_case(kind: str, T: int, d: int, seed: int) -> tuple:
    with torch.random.fork_rng(devices=[]):
        return _layer(kind, d, T, seed), randn(1, T, d, seed=seed + 1)


register(Exercise(
    "06.dependencies",
    dependencies,
    [
        Case("causal attention, 4 tokens", _dep_case("causal", 4, 3, seed=611)),
        Case("a position-wise linear layer", _dep_case("linear", 3, 4, seed=613)),
        Case("attention without a mask", _dep_case("full", 3, 2, seed=615)),
        Case("a mask that peeks one token ahead", _dep_case("peek", 5, 4, seed=617)),
        Case("a sliding window of 2", _dep_case("window", 5, 3, seed=619)),
        Case("one token", _dep_case("causal", 1, 2, seed=621)),
    ],
    "you cannot read a mask out of an arbitrary layer, but you can experiment on it: run it once "
    "as a baseline, then change ONE input token at a time (starting from the original input "
    "every time) and see which output tokens moved. Row i of the answer is about output i, "
    "column j about input j. Use a change big enough to show, and a comparison with a little "
    "tolerance for float rounding.",
))  # fmt: skip
