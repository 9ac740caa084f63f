"""Lesson 04's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _stable(gap, n):
    """The closed form, divided by the largest exponential."""
    return (
        1 / (1 + (n - 1) * math.exp(-gap)) if gap >= 0 else math.exp(gap) / (math.exp(gap) + n - 1)
    )


def _cosine(x, temperature, mix=None, dim=-1, queries_only=False, times=False):
    """Cosine-similarity attention with F.cosine_similarity, with a chosen mistake."""
    sims = F.cosine_similarity(x[:, None, :], x[None, :, :], dim=-1)  # (T, T)
    if queries_only:
        sims = F.normalize(x, dim=-1) @ x.T
    scores = sims * temperature if times else sims / temperature
    weights = torch.softmax(scores, dim=dim)
    return weights @ (x if mix is None else mix(x))


def _without_self(x, fill=float("-inf"), after=False, renormalise=True):
    """Attention with the diagonal taken out, with a chosen mistake."""
    scores = x @ x.T
    eye = torch.eye(len(x), dtype=torch.bool)
    if after:
        weights = torch.softmax(scores, dim=-1).masked_fill(eye, 0.0)
        if renormalise:
            weights = weights / weights.sum(-1, keepdim=True)
    else:
        weights = torch.softmax(scores.masked_fill(eye, fill), dim=-1)
    return weights @ x


WRONG = {
    "04.max_weight": {
        "n in the sum, not n - 1": lambda g, n: math.exp(g) / (math.exp(g) + n),
        "a sigmoid (ignores n)": lambda g, n: 1 / (1 + math.exp(-g)),
        "exp without the max trick": lambda g, n: math.exp(g) / (math.exp(g) + n - 1),
        "the gap over the sum": lambda g, n: g / (g + n - 1) if g + n - 1 else 1.0,
    },
    "04.cosine_attention": {
        "dot products (no normalising)": lambda x, t: torch.softmax(x @ x.T / t, -1) @ x,
        "mixes the length-1 vectors": lambda x, t: _cosine(
            x, t, mix=lambda v: F.normalize(v, dim=-1)
        ),
        "temperature multiplies": lambda x, t: _cosine(x, t, times=True),
        "softmax over each column": lambda x, t: _cosine(x, t, dim=0),
        "only the queries normalised": lambda x, t: _cosine(x, t, queries_only=True),
    },
    "04.attention_without_self": {
        "own score set to 0": lambda x: _without_self(x, fill=0.0),
        "own weight zeroed, not renormalised": lambda x: _without_self(
            x, after=True, renormalise=False
        ),
        "own score lowered by 100": lambda x: (
            torch.softmax(x @ x.T - 100 * torch.eye(len(x)), -1) @ x
        ),
        "returns the weights": lambda x: torch.softmax(
            (x @ x.T).masked_fill(torch.eye(len(x), dtype=torch.bool), float("-inf")), -1
        ),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("04.max_weight", _stable)
    assert_passes("04.cosine_attention", _cosine)
    assert_passes("04.attention_without_self", lambda x: _without_self(x, after=True))
    assert_passes("04.attention_without_self", _without_self)
