"""Lesson 11 exercises: the mask after a cache, one decoding step, a grouped KV cache's bytes."""

from __future__ import annotations

import math

import torch

from llm101_helpers.attention import causal_mask
from llm101_helpers.exercises.checker import Case, Exercise, register


def cached_mask(cached: int, new: int) -> torch.Tensor:
    """Bool (new, cached + new): True where new query i must not see the key."""
    return causal_mask(cached + new)[cached:]  # the bottom rows of the full square mask


register(Exercise(
    "11.cached_mask",
    cached_mask,
    [
        Case("no cache: the square mask", (0, 3)),
        Case("4 cached, 2 new", (4, 2)),
        Case("one new token", (5, 1)),
        Case("2 cached, 4 new", (2, 4)),
    ],
    "new query i is not at position i: it sits after the cached tokens. It may see every cached "
    "key and the new keys up to and including its own position. Compare with the square mask of "
    "all cached + new tokens: which of its rows belong to the new queries? (is_causal's top-left "
    "alignment is the classic bug.)",
))  # fmt: skip


def decode_step(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, k_new: torch.Tensor,
    v_new: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Append the new key and value, attend with one query: (context, keys, values)."""
    keys = torch.cat([k_cache, k_new], dim=2)  # (B, H, S + 1, hd)
    values = torch.cat([v_cache, v_new], dim=2)
    weights = torch.softmax(q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ values, keys, values  # (B, H, 1, hd), the grown cache


def _step_inputs(B: int, H: int, S: int, hd: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    q, k_new, v_new = (torch.randn(B, H, 1, hd, generator=g) for _ in range(3))
    k_cache, v_cache = (torch.randn(B, H, S, hd, generator=g) for _ in range(2))
    return q, k_cache, v_cache, k_new, v_new


register(Exercise(
    "11.decode_step",
    decode_step,
    [
        Case("empty cache", _step_inputs(1, 1, 0, 2, seed=1101)),
        Case("3 cached tokens, 2 heads", _step_inputs(1, 2, 3, 4, seed=1102)),
        Case("batch of 2, 3 heads, 5 cached", _step_inputs(2, 3, 5, 8, seed=1103)),
    ],
    "the newest token must be able to see itself, so its key and value join the cache (along "
    "the positions) BEFORE it attends. One query attends over every stored key: it is the last "
    "token, so no key is in its future and no mask is needed. Scale as in any attention, and "
    "return the grown caches too.",
))  # fmt: skip


def kv_cache_bytes(
    num_layers: int, num_heads: int, num_kv_heads: int, head_dim: int, batch_size: int,
    context_length: int, bytes_per_number: int,
) -> int:  # fmt: skip
    """Bytes of a full KV cache when num_kv_heads key/value heads serve num_heads query heads."""
    per_token = 2 * num_kv_heads * head_dim  # a key and a value per kv head; queries are not kept
    return num_layers * batch_size * context_length * per_token * bytes_per_number


register(Exercise(
    "11.kv_cache_bytes",
    kv_cache_bytes,
    [
        Case("the course's GPT base, float32", (6, 6, 6, 64, 1, 256, 4)),
        Case("Llama 2 7B, bfloat16, 4096 tokens", (32, 32, 32, 128, 1, 4096, 2)),
        Case("Llama 2 70B: 8 kv heads for 64 query heads, bfloat16", (80, 64, 8, 128, 1, 4096, 2)),
        Case("multi-query (1 kv head), batch 8, bfloat16", (24, 16, 1, 64, 8, 2048, 2)),
        Case("8-bit numbers", (2, 4, 2, 16, 3, 10, 1)),
        Case("the smallest", (1, 1, 1, 1, 1, 1, 1)),
    ],
    "what does the cache keep, per layer, per sequence and per position? Keys and values, one of "
    "each per KEY/VALUE head, each head_dim numbers; the query heads share them and their queries "
    "are never stored. Multiply by how many layers, sequences and positions there are, and by the "
    "bytes of one number (2 for bfloat16). Return an int of bytes.",
))  # fmt: skip
