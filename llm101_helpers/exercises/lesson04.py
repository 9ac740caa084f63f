"""Lesson 04 exercises: predict a softmax weight, cosine attention, attention without self."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llm101_helpers.exercises.checker import Case, Exercise, randn, register


def max_weight(gap: float, num_tokens: int) -> float:
    """Softmax weight of the one score that is ``gap`` above the ``num_tokens - 1`` others."""
    scores = torch.zeros(num_tokens, dtype=torch.float64)
    scores[0] = gap
    return torch.softmax(scores, dim=0)[0].item()


register(Exercise(
    "04.max_weight",
    max_weight,
    [
        Case("no gap, 4 tokens", (0.0, 4)),
        Case("gap 1, 2 tokens", (1.0, 2)),
        Case("gap 2, 5 tokens", (2.0, 5)),
        Case("one score BELOW the others", (-1.0, 3)),
        Case("a single token", (3.0, 1)),
        Case("gap 800: exp overflows", (800.0, 10)),
        Case("gap 800 below", (-800.0, 10)),
    ],
    "softmax only depends on differences: take the others' score as 0, so the special one is "
    "gap. Its weight is its exponential over the sum of all num_tokens exponentials. For a huge "
    "gap, exp overflows: divide the top and the bottom by the largest exponential first.",
))  # fmt: skip


def cosine_attention(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """Context vectors (T, d) with weights softmax(cosine similarity / temperature)."""
    unit = F.normalize(x, dim=-1)  # (T, d), length 1
    weights = torch.softmax(unit @ unit.T / temperature, dim=-1)  # (T, T)
    return weights @ x  # (T, d): mixes of the original vectors


register(Exercise(
    "04.cosine_attention",
    cosine_attention,
    [
        Case("3 tokens, d=2", (torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), 1.0)),
        Case("same direction, different lengths", (torch.tensor([[1.0, 2.0], [3.0, 6.0]]), 1.0)),
        Case("random 4x3", (randn(4, 3, seed=401), 1.0)),
        Case("temperature 0.1 sharpens", (randn(5, 4, seed=402), 0.1)),
        Case("temperature 10 flattens", (randn(3, 6, seed=403) * 4, 10.0)),
        Case("a single token", (torch.tensor([[0.3, -0.7]]), 0.5)),
    ],
    "the score of token i for token j is the cosine of the angle between them: the dot product "
    "of the two vectors after scaling each to length 1. Divide the scores by the temperature "
    "before the softmax (a small temperature makes the weights sharper). The weights then mix "
    "the ORIGINAL vectors, not the length-1 copies.",
))  # fmt: skip


def attention_without_self(x: torch.Tensor) -> torch.Tensor:
    """Simple attention in which no token may attend to itself: context (T, d)."""
    scores = x @ x.T  # (T, T)
    own = torch.eye(len(x), dtype=torch.bool)
    weights = torch.softmax(scores.masked_fill(own, float("-inf")), dim=-1)
    return weights @ x  # (T, d)


register(Exercise(
    "04.attention_without_self",
    attention_without_self,
    [
        Case("two tokens: each gets the other", (torch.tensor([[1.0, 0.0], [0.0, 2.0]]),)),
        Case("3 tokens, d=2", (torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),)),
        Case("random 4x3", (randn(4, 3, seed=404),)),
        Case("random 6x5, large vectors", (randn(6, 5, seed=405) * 3,)),
        Case("long vectors: huge self-scores", (torch.tensor([[20.0, 0], [0, 1], [15, 0]]),)),
    ],
    "a token's score with itself is usually its largest (x . x = |x|^2), so it must not just be "
    "lowered: it has to get weight exactly 0 while each row's weights still sum to 1. Which score "
    "value does softmax turn into a weight of exactly 0? Change the scores before the softmax.",
))  # fmt: skip
