"""Lesson 05's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _cross(x, memory, wq, wk, wv, scale=None, dim=-1, kv_from=None, values_from=None):
    """Cross-attention through PyTorch's scaled_dot_product_attention, with a chosen mistake."""
    q = x @ wq
    k = (kv_from or memory) @ wk
    v = (values_from if values_from is not None else memory) @ wv
    if scale is None and dim == -1:
        return F.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    scale = math.sqrt(k.shape[-1]) if scale is None else scale
    return torch.softmax(q @ k.T / scale, dim=dim) @ v


def _madds(T, d_in, d_out, proj=3, quadratic=2, width=None):
    """Counted as the notebook's shapes give them, with a chosen mistake."""
    return proj * T * d_in * d_out + quadratic * T * T * (width or d_out)


WRONG = {
    "05.score_std": {
        "the variance, not its square root": lambda d, q, k, s: d * q * q * k * k / (d if s else 1),
        "divided by d_k when scaled": lambda d, q, k, s: math.sqrt(d) * q * k / (d if s else 1),
        "stds ignored": lambda d, q, k, s: 1.0 if s else math.sqrt(d),
        "stds added": lambda d, q, k, s: (q + k) * (1 if s else math.sqrt(d)),
    },
    "05.cross_attention": {
        "keys and values from x": lambda x, m, wq, wk, wv: _cross(x, m, wq, wk, wv, kv_from=x),
        "scaled by sqrt(d_in)": lambda x, m, wq, wk, wv: _cross(
            x, m, wq, wk, wv, scale=math.sqrt(m.shape[-1])
        ),
        "softmax over the queries": lambda x, m, wq, wk, wv: _cross(x, m, wq, wk, wv, dim=0),
        "no scaling": lambda x, m, wq, wk, wv: _cross(x, m, wq, wk, wv, scale=1.0),
    },
    "05.attention_multiply_adds": {
        "the mix of the values forgotten": lambda T, a, b: _madds(T, a, b, quadratic=1),
        "quadratic terms with d_in": lambda T, a, b: _madds(T, a, b, width=a),
        "only the projections": lambda T, a, b: _madds(T, a, b, quadratic=0),
        "a float": lambda T, a, b: float(_madds(T, a, b)),
        "two projections": lambda T, a, b: _madds(T, a, b, proj=2),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("05.score_std", lambda d, q, k, s: q * k * (1 if s else math.sqrt(d)))
    assert_passes("05.cross_attention", _cross)
    assert_passes("05.attention_multiply_adds", _madds)


def test_score_std_matches_a_measurement():
    """The predicted spread agrees with 200,000 sampled dot products within 2%."""
    g = torch.Generator().manual_seed(5)
    ref = EXERCISES["05.score_std"].reference
    for d, q_std, k_std in [(16, 1.0, 1.0), (64, 2.0, 0.5)]:
        q = torch.randn(200_000, d, generator=g, dtype=torch.float64) * q_std
        k = torch.randn(200_000, d, generator=g, dtype=torch.float64) * k_std
        scores = (q * k).sum(-1)
        assert math.isclose(scores.std().item(), ref(d, q_std, k_std, False), rel_tol=0.02)
        scaled = scores / math.sqrt(d)
        assert math.isclose(scaled.std().item(), ref(d, q_std, k_std, True), rel_tol=0.02)


def test_multiply_adds_match_the_shapes_of_the_products():
    """Count m * n * p over the products actually computed on a tensor of the case's size."""
    ref = EXERCISES["05.attention_multiply_adds"].reference
    T, d_in, d_out = 5, 3, 7
    x, w = torch.zeros(T, d_in), torch.zeros(d_in, d_out)
    products = [(x, w)] * 3
    q = k = v = x @ w
    products += [(q, k.T), (torch.zeros(T, T), v)]
    assert ref(T, d_in, d_out) == sum(a.shape[0] * a.shape[1] * b.shape[1] for a, b in products)
