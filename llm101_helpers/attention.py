"""Attention: how each token gathers information from the others (notebooks 04-07, 11).

From the simplest to the one the GPT uses; notebooks 04-07 derive each step:

- :func:`simple_attention`: every embedding is query, key and value; no parameters.
- :class:`SelfAttention`: trainable ``W_query``, ``W_key``, ``W_value``, and
  scores divided by ``sqrt(d_k)`` before the softmax.
- :class:`CausalAttention`: :func:`causal_mask` hides the future (scores set
  to ``-inf``), then dropout on the weights.
- :class:`MultiHeadAttentionWrapper`: ``num_heads`` causal heads side by side.
- :class:`MultiHeadAttention`: the same in one pass, with an output projection
  ``out_proj``; it calls PyTorch's fused ``scaled_dot_product_attention`` unless
  the weights are requested (``return_weights=True``) or ``use_sdpa=False``.
- :class:`FusedQKVAttention`: one ``d_in -> 3 * d_out`` projection instead of
  three (:func:`stack_qkv`), as in GPT-2's ``c_attn``.
- :class:`KVCache` (notebook 11): the keys and values of the tokens already
  seen, so generation computes only the new token's at each step.

Inputs are ``(B, T, d_in)`` in the modules' weight dtype (or under ``torch.autocast``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CausalAttention",
    "FusedQKVAttention",
    "KVCache",
    "MultiHeadAttention",
    "MultiHeadAttentionWrapper",
    "SelfAttention",
    "causal_mask",
    "simple_attention",
    "stack_qkv",
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


def _check_input(
    x: torch.Tensor,
    module: nn.Module,
    context_length: int | None,
    ranks=(3,),
    cached: int = 0,
) -> None:
    """Raise a clear error unless ``x`` is ``(B, T, d_in)`` of the module's dtype, and
    ``cached + T <= context_length``."""
    d_in = module.d_in
    if x.dim() not in ranks:
        want = " or ".join({2: "(seq_len, d_in)", 3: "(batch, seq_len, d_in)"}[r] for r in ranks)
        raise ValueError(f"expected a {want} tensor, got {x.dim()} dimensions {tuple(x.shape)}")
    if x.shape[-1] != d_in:
        raise ValueError(
            f"expected inputs with d_in={d_in} features in the last dimension, "
            f"got {x.shape[-1]} (input shape {tuple(x.shape)})"
        )
    weight = module.out_proj.weight if hasattr(module, "out_proj") else module.W_query.weight
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        name = type(module).__name__
        raise TypeError(
            f"{name} got {x.dtype} input but its weights are {weight.dtype}; convert one "
            f"to the other (x.to({weight.dtype}) or {name}.to({x.dtype})), or run it under "
            "torch.autocast"
        )
    if context_length is not None and cached + x.shape[-2] > context_length:
        length = (
            f"{cached + x.shape[-2]} ({cached} cached + {x.shape[-2]} new)"
            if cached
            else x.shape[-2]
        )
        raise ValueError(f"sequence length {length} is longer than context_length={context_length}")


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
        _check_input(x, self, None, ranks=(2, 3))
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
        _check_input(x, self, self.context_length)
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


class KVCache:
    """The keys and values one attention layer has seen so far, for generation.

    Buffers of shape ``(B, H, context_length, head_dim)`` are allocated once;
    :meth:`append` writes the new tokens' keys and values after the ``length``
    already stored and returns views of everything stored, ``(B, H, length, head_dim)``.
    """

    def __init__(
        self,
        batch_size: int,
        num_heads: int,
        context_length: int,
        head_dim: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (batch_size, num_heads, context_length, head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # tokens stored

    @property
    def context_length(self) -> int:
        return self.keys.shape[2]

    def reset(self) -> None:
        """Forget every stored token (the buffers are kept and overwritten)."""
        self.length = 0

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``(B, H, T_new, head_dim)`` keys and values; return all stored ones."""
        want = (*self.keys.shape[:2], keys.shape[2], self.keys.shape[3])
        if tuple(keys.shape) != want or values.shape != keys.shape:
            raise ValueError(
                f"KVCache holds (batch, heads, positions, head_dim) = {tuple(self.keys.shape)}; "
                f"got keys {tuple(keys.shape)} and values {tuple(values.shape)}"
            )
        start, end = self.length, self.length + keys.shape[2]
        if end > self.context_length:
            raise ValueError(
                f"KVCache is full: it holds {start} of {self.context_length} positions and "
                f"{keys.shape[2]} more were appended; reset() it or crop the sequence"
            )
        self.keys[:, :, start:end] = keys
        self.values[:, :, start:end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]  # (B, H, end, head_dim)


class MultiHeadAttention(nn.Module):
    """Causal multi-head attention in one pass, as in GPT-2.

    ``x``: ``(B, T, d_in)`` with ``T <= context_length`` -> ``(B, T, d_out)``.
    ``d_out`` is split into ``num_heads`` heads of ``head_dim = d_out // num_heads``.
    ``forward(x)`` uses the fused SDPA kernel (unless ``use_sdpa=False``);
    ``forward(x, return_weights=True)`` computes the weights explicitly and
    returns ``(context, weights)`` with weights ``(B, num_heads, T, S)`` as
    applied (after dropout). ``S = T`` without a cache.

    With ``kv_cache`` (a :class:`KVCache`), ``x`` holds only the tokens after
    the ``kv_cache.length`` already seen: their keys and values are appended
    and their queries attend over all ``S = kv_cache.length + T`` stored
    positions, each one up to its own position.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        qkv_bias: bool = False,
        use_sdpa: bool = True,
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
        self.use_sdpa = use_sdpa
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

    def _project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values, each ``(B, H, T, head_dim)``."""
        queries = self._split_heads(self.W_query(x))
        keys = self._split_heads(self.W_key(x))
        values = self._split_heads(self.W_value(x))
        return queries, keys, values

    def forward(
        self,
        x: torch.Tensor,
        return_weights: bool = False,
        kv_cache: KVCache | None = None,
    ):
        start = 0 if kv_cache is None else kv_cache.length  # tokens already seen
        _check_input(x, self, self.context_length, cached=start)
        B, T, _ = x.shape
        queries, keys, values = self._project_qkv(x)  # (B, H, T, head_dim) each
        if kv_cache is not None:
            keys, values = kv_cache.append(keys, values)  # (B, H, S, head_dim), S = start + T
        S = keys.shape[2]
        # Query i sits at position start + i and may see keys 0..start + i.
        future = self.mask[start : start + T, :S]  # (T, S), True where the key is in the future

        if return_weights or not self.use_sdpa:
            scores = queries @ keys.transpose(2, 3)  # (B, H, T, S)
            scores = scores.masked_fill(future, float("-inf"))
            weights = torch.softmax(scores / math.sqrt(self.head_dim), dim=-1)
            weights = self.dropout(weights)
            context = weights @ values  # (B, H, T, head_dim)
        else:
            p = self.dropout.p if self.training else 0.0
            if start == 0:  # the usual square causal mask
                context = F.scaled_dot_product_attention(
                    queries, keys, values, dropout_p=p, is_causal=True
                )
            elif T == 1:  # one new token after the cache: it may see every stored key
                context = F.scaled_dot_product_attention(queries, keys, values, dropout_p=p)
            else:  # is_causal aligns the mask top-left, which is wrong when T < S
                context = F.scaled_dot_product_attention(
                    queries, keys, values, attn_mask=~future, dropout_p=p
                )  # (B, H, T, head_dim)
            weights = None

        # (B, H, T, head_dim) -> (B, T, H, head_dim) -> (B, T, d_out): heads side by side
        context = context.transpose(1, 2).contiguous().view(B, T, self.d_out)
        context = self.out_proj(context)  # (B, T, d_out)
        return (context, weights) if return_weights else context


class FusedQKVAttention(MultiHeadAttention):
    """:class:`MultiHeadAttention` with one ``d_in -> 3 * d_out`` projection for Q, K and V.

    One large matrix product instead of three smaller ones (GPT-2's ``c_attn``).
    Same arguments and outputs; :meth:`from_separate` copies the weights of a
    :class:`MultiHeadAttention`, after which the two compute the same function.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        qkv_bias: bool = False,
        use_sdpa: bool = True,
    ) -> None:
        super().__init__(d_in, d_out, context_length, dropout, num_heads, qkv_bias, use_sdpa)
        del self.W_query, self.W_key, self.W_value
        self.W_qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)  # rows: [W_q; W_k; W_v]

    def _project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.W_qkv(x).split(self.d_out, dim=-1)  # 3 x (B, T, d_out)
        return self._split_heads(q), self._split_heads(k), self._split_heads(v)

    @classmethod
    def from_separate(cls, mha: MultiHeadAttention) -> FusedQKVAttention:
        """A fused copy of ``mha``: its three projections stacked into one."""
        has_bias = mha.W_query.bias is not None
        fused = cls(
            mha.d_in, mha.d_out, mha.context_length, mha.dropout.p, mha.num_heads,
            has_bias, mha.use_sdpa,
        )  # fmt: skip
        with torch.no_grad():
            weight, bias = stack_qkv(mha)
            fused.W_qkv.weight.copy_(weight)
            if has_bias:
                fused.W_qkv.bias.copy_(bias)
            fused.out_proj.load_state_dict(mha.out_proj.state_dict())
        return fused.to(mha.out_proj.weight.device).train(mha.training)


def stack_qkv(attn: MultiHeadAttention) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``attn``'s query, key and value projections as one: weight ``(3 * d_out, d_in)``
    with rows ``[W_query; W_key; W_value]``, and the bias stacked the same way
    (``None`` without ``qkv_bias``). The layout of GPT-2's ``c_attn`` and of
    ``nn.MultiheadAttention.in_proj_weight``.
    """
    projections = (attn.W_query, attn.W_key, attn.W_value)
    weight = torch.cat([p.weight for p in projections])  # (3 * d_out, d_in)
    if attn.W_query.bias is None:
        return weight, None
    return weight, torch.cat([p.bias for p in projections])  # (3 * d_out,)
