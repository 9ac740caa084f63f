"""Lesson 11's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.attention import KVCache, MultiHeadAttention
from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _step(q, k_cache, v_cache, k_new, v_new, own=True, scale=None, causal=False):
    """One decoding step, with a chosen mistake."""
    keys = torch.cat([k_cache, k_new], dim=2) if own else k_cache
    values = torch.cat([v_cache, v_new], dim=2) if own else v_cache
    if causal:
        out = F.scaled_dot_product_attention(q, keys, values, is_causal=True)
    else:
        scale = q.shape[-1] ** -0.5 if scale is None else scale
        out = torch.softmax(q @ keys.transpose(-2, -1) * scale, dim=-1) @ values
    return out, torch.cat([k_cache, k_new], dim=2), torch.cat([v_cache, v_new], dim=2)


def _bytes(L, H, G, hd, B, T, b, heads=None, tensors=2, layers=True):
    """KV-cache bytes as a product of the shapes KVCache allocates, with a chosen mistake."""
    n = (heads or G) * hd * B * T * tensors * b
    return n * L if layers else n


WRONG = {
    "11.cached_mask": {
        "top-left aligned (is_causal)": lambda c, n: torch.ones(n, c + n, dtype=torch.bool).triu(1),
        "diagonal masked too": lambda c, n: torch.ones(c + n, c + n, dtype=torch.bool).triu(0)[c:],
        "the top rows": lambda c, n: torch.ones(c + n, c + n, dtype=torch.bool).triu(1)[:n],
        "allowed instead of future": lambda c, n: (
            ~torch.ones(c + n, c + n, dtype=torch.bool).triu(1)[c:]
        ),
    },
    "11.decode_step": {
        "new token left out of the keys": lambda q, kc, vc, kn, vn: _step(
            q, kc, vc, kn, vn, own=False
        ),
        "no 1/sqrt(hd)": lambda q, kc, vc, kn, vn: _step(q, kc, vc, kn, vn, scale=1.0),
        "is_causal with one query": lambda q, kc, vc, kn, vn: _step(q, kc, vc, kn, vn, causal=True),
        "cache not returned grown": lambda q, kc, vc, kn, vn: (_step(q, kc, vc, kn, vn)[0], kc, vc),
    },
    "11.kv_cache_bytes": {
        "query heads, not kv heads": lambda L, H, G, hd, B, T, b: _bytes(
            L, H, G, hd, B, T, b, heads=H
        ),
        "keys only": lambda L, H, G, hd, B, T, b: _bytes(L, H, G, hd, B, T, b, tensors=1),
        "layers forgotten": lambda L, H, G, hd, B, T, b: _bytes(L, H, G, hd, B, T, b, layers=False),
        "returns MiB": lambda L, H, G, hd, B, T, b: _bytes(L, H, G, hd, B, T, b) / 2**20,
        "queries cached too": lambda L, H, G, hd, B, T, b: (
            _bytes(L, H, G, hd, B, T, b) + L * H * hd * B * T * b
        ),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes(
        "11.cached_mask", lambda c, n: torch.arange(c + n)[None] > torch.arange(c, c + n)[:, None]
    )
    assert_passes("11.decode_step", lambda q, kc, vc, kn, vn: _step(q, kc, vc, kn, vn))
    assert_passes("11.kv_cache_bytes", _bytes)


def test_decode_step_reference_is_the_package_cache():
    """The reference agrees with MultiHeadAttention fed through a KVCache."""
    torch.manual_seed(11)
    mha = MultiHeadAttention(8, 8, 6, num_heads=2).eval()
    x = torch.randn(1, 4, 8)
    cache = KVCache(1, 2, 6, 4)
    with torch.no_grad():
        mha(x[:, :3], kv_cache=cache)
        k_cache, v_cache = cache.keys[:, :, :3].clone(), cache.values[:, :, :3].clone()
        q, k_new, v_new = mha._project_qkv(x[:, 3:])
        context, keys, values = EXERCISES["11.decode_step"].reference(
            q, k_cache, v_cache, k_new, v_new
        )
        expected = mha(x[:, 3:], kv_cache=cache)
    got = mha.out_proj(context.transpose(1, 2).reshape(1, 1, 8))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(keys, cache.keys[:, :, :4])


def test_kv_cache_bytes_are_what_kvcache_allocates():
    """With as many kv heads as query heads, the package's float32 buffers; in bfloat16, half."""
    ref = EXERCISES["11.kv_cache_bytes"].reference
    L, H, hd, B, T = 3, 4, 8, 2, 16
    caches = [KVCache(B, H, T, hd) for _ in range(L)]
    allocated = sum(c.keys.nbytes + c.values.nbytes for c in caches)
    assert ref(L, H, H, hd, B, T, 4) == allocated
    assert ref(L, H, H, hd, B, T, 2) * 2 == allocated
    assert ref(32, 32, 32, 128, 1, 4096, 2) == 2 * 2**30  # Llama 2 7B at 4096 tokens: 2 GiB
