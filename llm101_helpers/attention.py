"""Attention: how each token gathers information from the others.

Notebooks 04-07 derive these step by step; this module is where they end up.

Simple attention (:func:`simple_attention`)
--------------------------------------------
Each token's embedding is a *query*. Its dot product with every token's
embedding (the *keys*) says how aligned the two are: a higher dot product is a
higher attention score. ``softmax`` turns a row of scores into weights that
are positive and sum to one, and the *context vector* of the query is the
weighted sum of the embeddings. No parameters: nothing to learn yet.

Self-attention (:class:`SelfAttention`)
---------------------------------------
Three trainable matrices ``W_q``, ``W_k``, ``W_v`` (each ``d_in -> d_out``)
give every token a query, a key and a value: ``Q = x W_q``, ``K = x W_k``,
``V = x W_v``. Scores are ``Q K^T``, divided by ``sqrt(d_k)`` before the
softmax: a dot product of ``d_k`` roughly independent unit-variance terms has
variance ``d_k``, so without the factor the scores grow with ``d_k``, softmax
saturates to nearly one-hot weights (an over-confident model with vanishing
gradients). Scaling keeps the score variance near one. Context is ``weights V``.

Causal attention (:class:`CausalAttention`)
-------------------------------------------
A language model predicts the next token, so token ``t`` may only look at
tokens ``0..t``. Scores above the diagonal are set to ``-inf`` before the
softmax; ``exp(-inf) = 0``, so those weights are exactly zero and the remaining
ones are what a softmax over the allowed positions alone would give (no
leakage from the future). Dropout on the weights then regularises training
(the course's notes use ``p = 0.4``; GPT-2 uses 0.1); in ``eval()`` mode it is off.

Multi-head attention
--------------------
:class:`MultiHeadAttentionWrapper` runs ``num_heads`` independent causal heads
and concatenates their outputs: easy to read, slow. :class:`MultiHeadAttention`
computes the same thing at once: one projection per role for all heads, a
reshape ``(B, T, d_out) -> (B, num_heads, T, head_dim)``, one batched matrix
product, and an output projection that mixes the heads. When the weights are
not requested it calls PyTorch's fused
:func:`torch.nn.functional.scaled_dot_product_attention` (the *SDPA fast
path*); with ``return_weights=True`` it takes the explicit path (mask, softmax,
dropout) so the weights can be drawn. In ``eval()`` mode both give the same
output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CausalAttention",
    "MultiHeadAttention",
    "MultiHeadAttentionWrapper",
    "SelfAttention",
    "causal_mask",
    "simple_attention",
]


def simple_attention(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention without parameters: every embedding is query, key and value.

    ``x``: ``(T, d)`` or ``(B, T, d)``. Returns ``(context, weights)`` with
    shapes ``(..., T, d)`` and ``(..., T, T)``; row ``i`` of ``weights`` is
    ``softmax`` of the dot products of token ``i`` with every token.
    """
    if x.dim() not in (2, 3):
        raise ValueError(
            f"expected a (seq_len, d) or (batch, seq_len, d) tensor, "
            f"got {x.dim()} dimensions {tuple(x.shape)}"
        )
    scores = x @ x.transpose(-2, -1)  # (..., T, T)
    weights = torch.softmax(scores, dim=-1)  # each row sums to 1
    return weights @ x, weights  # (..., T, d), (..., T, T)


def causal_mask(context_length: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(context_length, context_length)`` bool mask, True above the diagonal (the future)."""
    ones = torch.ones(context_length, context_length, dtype=torch.bool, device=device)
    return torch.triu(ones, diagonal=1)


def _check_input(x: torch.Tensor, d_in: int, context_length: int | None, ranks=(3,)) -> None:
    """Raise a clear error if ``x`` is not ``(B, T, d_in)`` with ``T <= context_length``."""
    if x.dim() not in ranks:
        want = " or ".join({2: "(seq_len, d_in)", 3: "(batch, seq_len, d_in)"}[r] for r in ranks)
        raise ValueError(f"expected a {want} tensor, got {x.dim()} dimensions {tuple(x.shape)}")
    if x.shape[-1] != d_in:
        raise ValueError(
            f"expected inputs with d_in={d_in} features in the last dimension, "
            f"got {x.shape[-1]} (input shape {tuple(x.shape)})"
        )
    if context_length is not None and x.shape[-2] > context_length:
        raise ValueError(
            f"sequence length {x.shape[-2]} is longer than context_length={context_length}"
        )


class SelfAttention(nn.Module):
    """Scaled dot-product self-attention with trainable ``W_q``, ``W_k``, ``W_v``.

    ``x``: ``(T, d_in)`` or ``(B, T, d_in)`` -> context ``(..., T, d_out)``.
    Every token attends to every token (no mask): the step before causal attention.
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        _check_input(x, self.d_in, None, ranks=(2, 3))
        queries = self.W_query(x)  # (..., T, d_out)
        keys = self.W_key(x)  # (..., T, d_out)
        values = self.W_value(x)  # (..., T, d_out)
        scores = queries @ keys.transpose(-2, -1)  # (..., T, T)
        weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
        context = weights @ values  # (..., T, d_out)
        return (context, weights) if return_weights else context


class CausalAttention(nn.Module):
    """Self-attention that cannot see the future, with dropout on the weights.

    ``x``: ``(B, T, d_in)`` with ``T <= context_length`` -> ``(B, T, d_out)``.
    With ``return_weights=True`` also returns the ``(B, T, T)`` weights that
    were applied (after dropout, so in training mode the kept ones are scaled
    by ``1 / (1 - dropout)``).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        self.d_in, self.d_out, self.context_length = d_in, d_out, context_length
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        # A buffer moves with .to(device) but is not a trainable parameter.
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        _check_input(x, self.d_in, self.context_length)
        T = x.shape[1]
        queries = self.W_query(x)  # (B, T, d_out)
        keys = self.W_key(x)  # (B, T, d_out)
        values = self.W_value(x)  # (B, T, d_out)
        scores = queries @ keys.transpose(1, 2)  # (B, T, T)
        scores = scores.masked_fill(self.mask[:T, :T], float("-inf"))
        weights = torch.softmax(scores / math.sqrt(keys.shape[-1]), dim=-1)
        weights = self.dropout(weights)
        context = weights @ values  # (B, T, d_out)
        return (context, weights) if return_weights else context


class MultiHeadAttentionWrapper(nn.Module):
    """``num_heads`` independent :class:`CausalAttention` heads, outputs concatenated.

    ``x``: ``(B, T, d_in)`` -> ``(B, T, num_heads * d_out)`` (here ``d_out`` is
    the size of *one* head). With ``return_weights=True`` also returns the
    ``(B, num_heads, T, T)`` weights.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float,
        num_heads: int,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)
            for _ in range(num_heads)
        )

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        outputs = [head(x, return_weights=True) for head in self.heads]
        context = torch.cat([c for c, _ in outputs], dim=-1)  # (B, T, num_heads * d_out)
        if not return_weights:
            return context
        return context, torch.stack([w for _, w in outputs], dim=1)  # (B, H, T, T)


class MultiHeadAttention(nn.Module):
    """Causal multi-head attention in one pass, as in GPT-2.

    ``x``: ``(B, T, d_in)`` with ``T <= context_length`` -> ``(B, T, d_out)``.
    ``d_out`` is split into ``num_heads`` heads of ``head_dim = d_out // num_heads``.
    ``forward(x)`` uses the fused SDPA kernel; ``forward(x, return_weights=True)``
    computes the weights explicitly and returns ``(context, weights)`` with
    weights ``(B, num_heads, T, T)`` as applied (after dropout).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        if num_heads < 1 or d_out % num_heads != 0:
            raise ValueError(
                f"d_out ({d_out}) must be divisible by num_heads ({num_heads}): "
                f"each head gets d_out // num_heads features"
            )
        self.d_in, self.d_out, self.context_length = d_in, d_out, context_length
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # mixes what the heads found
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, _ = t.shape
        # (B, T, d_out) -> (B, T, H, head_dim) -> (B, H, T, head_dim)
        return t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        _check_input(x, self.d_in, self.context_length)
        B, T, _ = x.shape
        queries = self._split_heads(self.W_query(x))  # (B, H, T, head_dim)
        keys = self._split_heads(self.W_key(x))  # (B, H, T, head_dim)
        values = self._split_heads(self.W_value(x))  # (B, H, T, head_dim)

        if return_weights:
            scores = queries @ keys.transpose(2, 3)  # (B, H, T, T)
            scores = scores.masked_fill(self.mask[:T, :T], float("-inf"))
            weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
            weights = self.dropout(weights)
            context = weights @ values  # (B, H, T, head_dim)
        else:
            p = self.dropout.p if self.training else 0.0
            context = F.scaled_dot_product_attention(
                queries, keys, values, dropout_p=p, is_causal=True
            )  # (B, H, T, head_dim)

        # (B, H, T, head_dim) -> (B, T, H, head_dim) -> (B, T, d_out): heads side by side
        context = context.transpose(1, 2).contiguous().view(B, T, self.d_out)
        context = self.out_proj(context)  # (B, T, d_out)
        return (context, weights) if return_weights else context
