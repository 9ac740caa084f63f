"""Lesson 05 exercises: predict a score's spread, cross-attention, count attention's work."""

from __future__ import annotations

import math

import torch

from llm101_helpers.exercises.checker import Case, Exercise, randn, register


def score_std(d_k: int, q_std: float, k_std: float, scaled: bool) -> float:
    """Standard deviation of one score q . k (divided by sqrt(d_k) when ``scaled``)."""
    variance = d_k * q_std**2 * k_std**2  # a sum of d_k independent products
    return math.sqrt(variance / d_k) if scaled else math.sqrt(variance)


register(Exercise(
    "05.score_std",
    score_std,
    [
        Case("d_k=16, unit entries, unscaled", (16, 1.0, 1.0, False)),
        Case("d_k=16, unit entries, scaled", (16, 1.0, 1.0, True)),
        Case("d_k=64, queries with std 2", (64, 2.0, 1.0, False)),
        Case("d_k=64, std 2 and 0.5, scaled", (64, 2.0, 0.5, True)),
        Case("d_k=1", (1, 3.0, 0.5, False)),
        Case("d_k=512, std 0.1 each", (512, 0.1, 0.1, False)),
    ],
    "q . k is a sum of d_k products q_i k_i. For independent entries with mean 0, the variance "
    "of a product is the product of the variances, and variances of independent terms add. The "
    "standard deviation is the square root of the variance, and dividing the scores by sqrt(d_k) "
    "divides their standard deviation by sqrt(d_k).",
))  # fmt: skip


def cross_attention(
    x: torch.Tensor, memory: torch.Tensor, W_query: torch.Tensor, W_key: torch.Tensor,
    W_value: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """Each token of x (T_q, d_x) attends over the tokens of memory (T_k, d_m): (T_q, d_out)."""
    queries = x @ W_query  # (T_q, d_out)
    keys, values = memory @ W_key, memory @ W_value  # (T_k, d_out) each
    weights = torch.softmax(queries @ keys.T / math.sqrt(keys.shape[-1]), dim=-1)  # (T_q, T_k)
    return weights @ values


def _cross_case(T_q: int, d_x: int, T_k: int, d_m: int, d_out: int, seed: int) -> tuple:
    return (randn(T_q, d_x, seed=seed), randn(T_k, d_m, seed=seed + 1),
            randn(d_x, d_out, seed=seed + 2), randn(d_m, d_out, seed=seed + 3),
            randn(d_m, d_out, seed=seed + 4))  # fmt: skip


register(Exercise(
    "05.cross_attention",
    cross_attention,
    [
        Case("one query, one memory token", _cross_case(1, 2, 1, 3, 2, seed=501)),
        Case("2 queries, 3 memory tokens", _cross_case(2, 3, 3, 3, 4, seed=511)),
        Case("widths differ: d_x=4, d_m=2", _cross_case(3, 4, 5, 2, 8, seed=521)),
        Case("more queries than memory tokens", _cross_case(6, 5, 2, 3, 16, seed=531)),
    ],
    "queries come from x (the tokens asking), keys AND values from memory (the tokens being "
    "read), so W_query multiplies x and the other two multiply memory. The weights have one row "
    "per query and one column per memory token, each row summing to 1; scale by the square root "
    "of the width of the keys.",
))  # fmt: skip


def attention_multiply_adds(num_tokens: int, d_in: int, d_out: int) -> int:
    """Multiply-adds of the matrix products in one self-attention over num_tokens tokens."""
    T = num_tokens
    projections = 3 * (T * d_in * d_out)  # x @ W for queries, keys, values
    scores = T * d_out * T  # (T, d_out) @ (d_out, T)
    context = T * T * d_out  # (T, T) @ (T, d_out)
    return projections + scores + context


register(Exercise(
    "05.attention_multiply_adds",
    attention_multiply_adds,
    [
        Case("the notebook's sentence: T=4, 3 -> 2", (4, 3, 2)),
        Case("one token", (1, 8, 8)),
        Case("T=128, d_in=d_out=64", (128, 64, 64)),
        Case("long sequence, T=4096, 768 -> 64", (4096, 768, 64)),
        Case("d_in differs from d_out", (10, 3, 7)),
    ],
    "a product of an (m, n) matrix by an (n, p) matrix costs m * n * p multiply-adds. List every "
    "matrix product in self-attention (three projections, the scores, the mix of the values) with "
    "its two shapes. Ignore the scaling and the softmax. Which terms grow like T squared?",
))  # fmt: skip
