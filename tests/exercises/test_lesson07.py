"""Lesson 07's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import math

import pytest
import torch

from llm101_helpers.attention import MultiHeadAttention
from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _gqa(q, k, v, round_robin=False, causal=True, scale=None, mean_groups=False):
    """Grouped-query attention head by head with a loop, with a chosen mistake."""
    B, H, T, hd = q.shape
    G = k.shape[1]
    out = torch.empty_like(q)
    for h in range(H):
        g = h % G if round_robin else h // (H // G)
        scores = q[:, h] @ k[:, g].transpose(1, 2) / (scale or math.sqrt(hd))  # (B, T, T)
        if causal:
            scores = scores.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf"))
        out[:, h] = torch.softmax(scores, dim=-1) @ v[:, g]
    if mean_groups:  # one output per kv head
        return out.view(B, G, H // G, T, hd).mean(2)
    return out


def _head(mha, x, head, columns=False, scale=None, causal=True, bias=True):
    """One head's weights from the stacked matrices, with a chosen mistake."""
    hd = mha.head_dim
    idx = slice(head * hd, (head + 1) * hd)

    def proj(linear):
        w = linear.weight[:, idx].T if columns else linear.weight[idx]
        out = x @ w.T
        if bias and linear.bias is not None:
            out = out + linear.bias[idx]
        return out

    with torch.no_grad():
        scores = proj(mha.W_query) @ proj(mha.W_key).transpose(1, 2) / (scale or math.sqrt(hd))
        T = x.shape[1]
        if causal:
            scores = scores + torch.full((T, T), float("-inf")).triu(1)
        return torch.softmax(scores, dim=-1)


def _count(d_in, d_out, H, bias, per_head=False, out_bias=True, out=True, always_bias=False):
    """The parameter count, layer by layer, with a chosen mistake."""
    qkv = 3 * d_in * d_out + (3 * d_out if bias or always_bias else 0)
    if per_head:
        qkv *= H
    return qkv + (d_out * d_out + (d_out if out_bias else 0) if out else 0)


WRONG = {
    "07.grouped_query_attention": {
        "kv heads assigned round-robin": lambda q, k, v: _gqa(q, k, v, round_robin=True),
        "no causal mask": lambda q, k, v: _gqa(q, k, v, causal=False),
        "scaled by sqrt(H * head_dim)": lambda q, k, v: _gqa(
            q, k, v, scale=math.sqrt(q.shape[1] * q.shape[-1])
        ),
        "query heads of a group averaged": lambda q, k, v: _gqa(q, k, v, mean_groups=True),
    },
    "07.head_weights": {
        "columns instead of rows": lambda m, x, h: _head(m, x, h, columns=True),
        "scaled by sqrt(d_out)": lambda m, x, h: _head(m, x, h, scale=math.sqrt(m.d_out)),
        "no causal mask": lambda m, x, h: _head(m, x, h, causal=False),
        "biases left out": lambda m, x, h: _head(m, x, h, bias=False),
    },
    "07.mha_parameters": {
        "every head has its own d_out matrices": lambda a, b, H, s: _count(
            a, b, H, s, per_head=True
        ),
        "output projection without a bias": lambda a, b, H, s: _count(a, b, H, s, out_bias=False),
        "output projection forgotten": lambda a, b, H, s: _count(a, b, H, s, out=False),
        "query/key/value biases always counted": lambda a, b, H, s: _count(
            a, b, H, s, always_bias=True
        ),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("07.grouped_query_attention", lambda q, k, v: _gqa(q, k, v))
    assert_passes("07.head_weights", lambda m, x, h: _head(m, x, h))
    assert_passes("07.mha_parameters", lambda a, b, H, s: _count(a, b, H, s))


def test_head_weights_are_the_modules_own():
    """The reference equals the weights the package's module returns for that head."""
    ref = EXERCISES["07.head_weights"].reference
    for case in EXERCISES["07.head_weights"].cases:
        mha, x, head = case.args
        with torch.no_grad():
            _, weights = mha(x, return_weights=True)  # (B, H, T, T)
        torch.testing.assert_close(ref(mha, x, head), weights[:, head])


def test_gqa_with_one_kv_head_per_query_head_is_the_modules_attention():
    """G = H is ordinary multi-head attention: the package module's per-head context."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 8, context_length=8, num_heads=2).eval()
    x = torch.randn(1, 5, 8)
    with torch.no_grad():
        q, k, v = mha._project_qkv(x)  # (B, H, T, hd) each
        context = EXERCISES["07.grouped_query_attention"].reference(q, k, v)
        want = mha.out_proj(context.transpose(1, 2).reshape(1, 5, 8))
        torch.testing.assert_close(want, mha(x))


def test_parameter_counts_are_the_modules():
    ref = EXERCISES["07.mha_parameters"].reference
    for case in EXERCISES["07.mha_parameters"].cases:
        d_in, d_out, H, bias = case.args
        with torch.device("meta"):
            module = MultiHeadAttention(d_in, d_out, 8, num_heads=H, qkv_bias=bias)
        assert ref(*case.args) == sum(p.numel() for p in module.parameters())
