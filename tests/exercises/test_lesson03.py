"""Lesson 03's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.embeddings import sinusoidal_positions
from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _targets(n, L, s, inputs=False, partial=False, shift=1):
    """Counts from the window rule written as a loop, with a chosen mistake."""
    counts = [0] * n
    start = 0
    while start + (L if partial else L + 1) <= n:
        first = start if inputs else start + shift
        for p in range(first, min(first + L, n)):
            counts[p] += 1
        start += s
    return counts


def _rotate(pe, k, sign=1.0, swap=False, two=2):
    """Each (sin, cos) pair turned by k * frequency with the angle-sum formulas, with mistakes."""
    d = pe.shape[-1]
    w = torch.tensor([1 / 10_000 ** (two * i / d) for i in range(d // 2)], dtype=torch.float64)
    sin_b, cos_b = torch.sin(sign * k * w), torch.cos(sign * k * w)
    s, c = pe[..., 0::2].double(), pe[..., 1::2].double()
    out = torch.empty(pe.shape, dtype=torch.float64)
    if swap:
        out[..., 0::2], out[..., 1::2] = s * cos_b - c * sin_b, c * cos_b + s * sin_b
    else:
        out[..., 0::2], out[..., 1::2] = s * cos_b + c * sin_b, c * cos_b - s * sin_b
    return out.float()


def _analogy(weight, a, b, c, unit=True, exclude=True, sign=1):
    """3CosAdd written with a loop over candidates, with a chosen mistake."""
    vectors = F.normalize(weight, dim=-1) if unit else weight
    target = vectors[b] - sign * vectors[a] + sign * vectors[c]
    best, best_score = None, -math.inf
    for d in range(len(weight)):
        if exclude and d in (a, b, c):
            continue
        score = (
            F.cosine_similarity(weight[d], target, dim=0).item()
            if unit
            else (weight[d] @ target).item()
        )
        if score > best_score:
            best, best_score = d, score
    return best


WRONG = {
    "03.target_counts": {
        "counts inputs, not targets": lambda n, L, s: _targets(n, L, s, inputs=True),
        "keeps a window without its last target": lambda n, L, s: _targets(n, L, s, partial=True),
        "targets not shifted": lambda n, L, s: _targets(n, L, s, shift=0),
        "every position once": lambda n, L, s: [0] + [1] * (n - 1),
    },
    "03.shift_positions": {
        "turned the wrong way (-k)": lambda pe, k: _rotate(pe, k, sign=-1.0),
        "sin and cos roles swapped": lambda pe, k: _rotate(pe, k, swap=True),
        "frequencies with i, not 2i": lambda pe, k: _rotate(pe, k, two=1),
        "adds PE[k]": lambda pe, k: pe + sinusoidal_positions(k + 1, pe.shape[-1])[k],
    },
    "03.analogy": {
        "the question words allowed": lambda w, a, b, c: _analogy(w, a, b, c, exclude=False),
        "dot products of raw vectors": lambda w, a, b, c: _analogy(w, a, b, c, unit=False),
        "a - b + c": lambda w, a, b, c: _analogy(w, b, a, c),
        "a tensor, not an int": lambda w, a, b, c: torch.tensor(_analogy(w, a, b, c)),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("03.target_counts", _targets)
    assert_passes("03.shift_positions", _rotate)
    assert_passes("03.analogy", _analogy)
    assert_passes("03.analogy", lambda w, a, b, c: np.int64(_analogy(w, a, b, c)).item())


def test_shifted_position_rows_are_the_later_rows():
    """The rotation of PE[p] by k is PE[p + k], for every row of a long table."""
    pe = sinusoidal_positions(64, 16)
    shift = EXERCISES["03.shift_positions"].reference
    torch.testing.assert_close(shift(pe[:-7], 7), pe[7:], atol=1e-4, rtol=0)


def test_target_counts_add_up():
    """Every window holds context_length targets."""
    ex = EXERCISES["03.target_counts"]
    for case in ex.cases:
        n, L, s = case.args
        assert sum(ex.reference(*case.args)) == ((n - L - 1) // s + 1) * L
