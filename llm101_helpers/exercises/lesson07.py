"""Lesson 07 exercises: grouped-query attention, one head's weights, counting parameters."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llm101_helpers.attention import MultiHeadAttention
from llm101_helpers.exercises.checker import Case, Exercise, randn, register


def grouped_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention of H query heads over G shared key/value heads: (B, H, T, hd)."""
    group = q.shape[1] // k.shape[1]  # query heads per key/value head
    k = k.repeat_interleave(group, dim=1)  # (B, H, T, hd): kv head g serves query heads g*group..
    v = v.repeat_interleave(group, dim=1)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _gqa_case(B: int, H: int, G: int, T: int, hd: int, seed: int) -> tuple:
    return (
        randn(B, H, T, hd, seed=seed),
        randn(B, G, T, hd, seed=seed + 1),
        randn(B, G, T, hd, seed=seed + 2),
    )


register(Exercise(
    "07.grouped_query_attention",
    grouped_query_attention,
    [
        Case("one query head, one kv head", _gqa_case(1, 1, 1, 3, 2, seed=701)),
        Case("4 query heads, 2 kv heads", _gqa_case(1, 4, 2, 4, 3, seed=704)),
        Case("as many kv heads as query heads", _gqa_case(1, 3, 3, 3, 2, seed=707)),
        Case("multi-query: 4 heads share 1 kv head", _gqa_case(2, 4, 1, 3, 2, seed=710)),
        Case("batch of 2, 6 query heads, 3 kv heads", _gqa_case(2, 6, 3, 5, 4, seed=713)),
        Case("one token", _gqa_case(1, 4, 2, 1, 2, seed=716)),
    ],
    "with H query heads and G key/value heads, consecutive query heads form a group of H // G "
    "that all read the SAME keys and values: heads 0 .. H/G - 1 use kv head 0, the next H/G use "
    "kv head 1, and so on (not round-robin). Once every query head has its keys and values, it is "
    "ordinary causal attention per head, scaled by the square root of head_dim.",
))  # fmt: skip


def head_weights(mha: MultiHeadAttention, x: torch.Tensor, head: int) -> torch.Tensor:
    """Attention weights (B, T, T) of one head, from the module's projection matrices."""
    hd = mha.head_dim
    rows = slice(head * hd, (head + 1) * hd)  # this head's output features of each projection

    def project(linear: torch.nn.Linear) -> torch.Tensor:
        bias = None if linear.bias is None else linear.bias[rows]
        return F.linear(x, linear.weight[rows], bias)  # (B, T, hd)

    with torch.no_grad():
        q, k = project(mha.W_query), project(mha.W_key)
        scores = q @ k.transpose(1, 2) / math.sqrt(hd)  # (B, T, T)
        T = x.shape[1]
        future = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)
        return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def _mha_case(d_in: int, d_out: int, H: int, bias: bool, B: int, T: int, head: int, seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mha = MultiHeadAttention(d_in, d_out, context_length=8, num_heads=H, qkv_bias=bias)
    return mha.eval(), randn(B, T, d_in, seed=seed + 1), head


register(Exercise(
    "07.head_weights",
    head_weights,
    [
        Case("one head", _mha_case(4, 4, 1, False, 1, 3, 0, seed=721)),
        Case("2 heads, head 1", _mha_case(6, 6, 2, False, 1, 4, 1, seed=723)),
        Case("3 heads with biases, head 2", _mha_case(6, 6, 3, True, 1, 4, 2, seed=725)),
        Case("batch of 2, d_in=5, d_out=8, 4 heads, head 0", _mha_case(5, 8, 4, False, 2, 3, 0,
                                                                         seed=727)),
        Case("4 heads, head 3, one token", _mha_case(8, 8, 4, True, 1, 1, 3, seed=729)),
    ],
    "W_query is an nn.Linear: its weight has shape (d_out, d_in), one ROW per output feature, "
    "and the heads own consecutive blocks of head_dim output features. So a head's query (and "
    "key) projection is a block of rows, plus the same block of the bias when there is one. "
    "Then it is causal attention for that head alone, scaled by the square root of head_dim, "
    "not of d_out.",
))  # fmt: skip


def mha_parameters(d_in: int, d_out: int, num_heads: int, qkv_bias: bool) -> int:
    """Trainable numbers of MultiHeadAttention(d_in, d_out, ..., num_heads, qkv_bias)."""
    projections = 3 * (d_in * d_out + (d_out if qkv_bias else 0))  # queries, keys, values
    out_proj = d_out * d_out + d_out  # always with a bias
    return projections + out_proj  # num_heads only splits d_out: it adds nothing


register(Exercise(
    "07.mha_parameters",
    mha_parameters,
    [
        Case("the notebook's module: 14 -> 6, 2 heads", (14, 6, 2, False)),
        Case("12 -> 12, 3 heads, with biases", (12, 12, 3, True)),
        Case("GPT-2 small: 768, 12 heads, biases", (768, 768, 12, True)),
        Case("GPT-2 small's shape with ONE head", (768, 768, 1, True)),
        Case("14 -> 14, 7 heads", (14, 14, 7, False)),
        Case("d_in > d_out", (32, 8, 4, True)),
    ],
    "list the module's layers: three projections d_in -> d_out (with a bias each only when "
    "qkv_bias), and the output projection d_out -> d_out, which always has a bias. An "
    "nn.Linear(a, b) holds a * b weights plus b biases. Then ask what the number of heads "
    "changes: each head gets d_out // num_heads of the same features.",
))  # fmt: skip
