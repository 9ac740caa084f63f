"""The KV cache and the fused-QKV attention against the plain full-sequence computation.

The reference for every cached computation is the same module run on the whole
sequence at once without a cache; for generation it is ``generate(...,
use_cache=False)``, which re-runs the model on the full window at every step.
"""

from __future__ import annotations

import pytest
import torch

from llm101_helpers.attention import FusedQKVAttention, KVCache, MultiHeadAttention
from llm101_helpers.generation import generate
from llm101_helpers.model import GPT, GPTConfig

TOL = {"atol": 1e-5, "rtol": 1e-4}
CFG = GPTConfig(vocab_size=50, context_length=16, d_model=32, num_heads=4, num_layers=2)


def _mha(bias: bool, use_sdpa: bool = True, seed: int = 0) -> MultiHeadAttention:
    torch.manual_seed(seed)
    return MultiHeadAttention(12, 12, 10, 0.0, 3, qkv_bias=bias, use_sdpa=use_sdpa).eval()


def _gpt(seed: int = 0, cfg: GPTConfig = CFG) -> GPT:
    torch.manual_seed(seed)
    model = GPT(cfg).eval()
    with torch.no_grad():  # a peakier output than at initialisation: fewer near-ties
        model.out_head.weight.mul_(20)
    return model


# --- KVCache --------------------------------------------------------------------


def test_kv_cache_appends_and_returns_everything_stored():
    cache = KVCache(2, 3, 5, 4)
    k1, v1 = torch.randn(2, 3, 2, 4), torch.randn(2, 3, 2, 4)
    k, v = cache.append(k1, v1)
    assert cache.length == 2 and k.shape == (2, 3, 2, 4)
    k2, v2 = torch.randn(2, 3, 1, 4), torch.randn(2, 3, 1, 4)
    k, v = cache.append(k2, v2)
    assert cache.length == 3
    torch.testing.assert_close(k, torch.cat([k1, k2], dim=2))
    torch.testing.assert_close(v, torch.cat([v1, v2], dim=2))
    cache.reset()
    assert cache.length == 0
    k, _ = cache.append(k2, v2)
    torch.testing.assert_close(k, k2)


def test_kv_cache_errors_name_the_numbers():
    cache = KVCache(1, 2, 3, 4)
    cache.append(torch.zeros(1, 2, 2, 4), torch.zeros(1, 2, 2, 4))
    with pytest.raises(ValueError, match=r"holds 2 of 3 positions and 2 more were appended"):
        cache.append(torch.zeros(1, 2, 2, 4), torch.zeros(1, 2, 2, 4))
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 4\); got keys \(1, 3, 1, 4\)"):
        cache.append(torch.zeros(1, 3, 1, 4), torch.zeros(1, 3, 1, 4))


# --- Attention with a cache equals attention on the whole sequence -----------------


@pytest.mark.parametrize("chunks", [[1] * 7, [7], [3, 1, 1, 2], [1, 4, 2], [2, 5]])
@pytest.mark.parametrize("use_sdpa", [True, False])
@pytest.mark.parametrize("bias", [False, True])
def test_attention_fed_in_chunks_equals_one_pass(chunks, use_sdpa, bias):
    mha = _mha(bias, use_sdpa)
    x = torch.randn(2, sum(chunks), 12)
    full = mha(x)
    cache = KVCache(2, 3, 10, 4)
    outs, start = [], 0
    for n in chunks:
        piece = x[:, start : start + n]
        outs.append(mha(piece, kv_cache=cache))
        start += n
    torch.testing.assert_close(torch.cat(outs, dim=1), full, **TOL)
    assert cache.length == sum(chunks)


def test_cached_weights_are_the_rows_of_the_full_weights():
    mha = _mha(bias=True)
    x = torch.randn(1, 6, 12)
    _, full_w = mha(x, return_weights=True)  # (1, H, 6, 6)
    cache = KVCache(1, 3, 10, 4)
    mha(x[:, :4], kv_cache=cache)
    _, w = mha(x[:, 4:], return_weights=True, kv_cache=cache)  # (1, H, 2, 6)
    assert w.shape == (1, 3, 2, 6)
    torch.testing.assert_close(w, full_w[:, :, 4:], **TOL)
    assert torch.all(w[:, :, 0, 5] == 0)  # query 4 cannot see key 5


def test_attention_with_a_full_cache_names_the_numbers():
    mha = _mha(bias=False)
    cache = KVCache(1, 3, 10, 4)
    mha(torch.randn(1, 8, 12), kv_cache=cache)
    with pytest.raises(ValueError, match=r"11 \(8 cached \+ 3 new\).*context_length=10"):
        mha(torch.randn(1, 3, 12), kv_cache=cache)


# --- The fused-QKV variant ---------------------------------------------------------


@pytest.mark.parametrize("use_sdpa", [True, False])
@pytest.mark.parametrize("bias", [False, True])
def test_fused_qkv_equals_separate_projections_forward_and_backward(bias, use_sdpa):
    mha = _mha(bias, use_sdpa)
    fused = FusedQKVAttention.from_separate(mha)
    assert fused.use_sdpa == use_sdpa and not fused.training
    assert not hasattr(fused, "W_query")
    x1 = torch.randn(2, 9, 12, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = mha(x1), fused(x2)
    torch.testing.assert_close(y2, y1, **TOL)
    y1.square().sum().backward()
    y2.square().sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, **TOL)
    stacked = torch.cat([mha.W_query.weight.grad, mha.W_key.weight.grad, mha.W_value.weight.grad])
    torch.testing.assert_close(fused.W_qkv.weight.grad, stacked, **TOL)


def test_fused_qkv_works_with_a_cache():
    fused = FusedQKVAttention.from_separate(_mha(bias=True))
    x = torch.randn(1, 5, 12)
    cache = KVCache(1, 3, 10, 4)
    pieces = [fused(x[:, :3], kv_cache=cache), fused(x[:, 3:4], kv_cache=cache)]
    pieces.append(fused(x[:, 4:], kv_cache=cache))
    torch.testing.assert_close(torch.cat(pieces, dim=1), fused(x), **TOL)


# --- The GPT with a cache -----------------------------------------------------------


def test_gpt_with_a_cache_gives_the_logits_of_the_full_sequence():
    model = _gpt()
    ids = torch.randint(0, 50, (3, 12), generator=torch.Generator().manual_seed(1))
    full = model(ids)
    cache = model.new_kv_cache(3)
    assert len(cache) == 2 and cache[0].keys.shape == (3, 4, 16, 8)
    parts = [model(ids[:, :5], kv_cache=cache)]
    parts += [model(ids[:, t : t + 1], kv_cache=cache) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, **TOL)


def test_gpt_cache_errors():
    model = _gpt()
    cache = model.new_kv_cache(1)
    model(torch.zeros(1, 14, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match=r"14 tokens are cached and 3 more.*17 in all.*16"):
        model(torch.zeros(1, 3, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match=r"kv_cache has 1 layers but the model has 2"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_cache=cache[:1])


# --- Generation: cached equals uncached, token for token -------------------------------

PROMPTS = [[3], [1, 2, 3, 4, 5], list(range(15)), list(range(16)), [7] * 30]


@pytest.mark.parametrize("prompt", PROMPTS, ids=lambda p: f"prompt{len(p)}")
@pytest.mark.parametrize("n_new", [1, 5, 20])
def test_cached_generation_equals_uncached_greedy(prompt, n_new):
    model = _gpt(seed=len(prompt) + n_new)
    ids = torch.tensor(prompt)
    cached = generate(model, ids, n_new, greedy=True, use_cache=True)
    uncached = generate(model, ids, n_new, greedy=True, use_cache=False)
    assert cached.tolist() == uncached.tolist()


@pytest.mark.parametrize("seed", range(4))
def test_cached_generation_equals_uncached_when_sampling_in_a_batch(seed):
    model = _gpt(seed=seed)
    prompt = torch.randint(0, 50, (4, 3), generator=torch.Generator().manual_seed(seed))
    kwargs = {"temperature": 0.9, "top_k": 20, "top_p": 0.95, "seed": seed}
    cached = generate(model, prompt, 24, use_cache=True, **kwargs)  # runs past the context (16)
    uncached = generate(model, prompt, 24, use_cache=False, **kwargs)
    assert cached.tolist() == uncached.tolist()


def test_cached_generation_reaches_the_context_limit_exactly():
    model = _gpt(seed=9)
    prompt = torch.tensor([5, 6])
    out = generate(model, prompt, 14, greedy=True, crop=False)  # 16 tokens: the whole context
    assert out.shape == (16,)
    assert out.tolist() == generate(model, prompt, 14, greedy=True, use_cache=False).tolist()


def test_cached_generation_stops_at_eos_like_uncached():
    model = _gpt(seed=4)
    greedy = generate(model, torch.tensor([[1, 2], [3, 4]]), 8, greedy=True, use_cache=False)
    eos = int(greedy[0, 4])
    a = generate(model, torch.tensor([[1, 2], [3, 4]]), 8, greedy=True, eos_id=eos)
    b = generate(model, torch.tensor([[1, 2], [3, 4]]), 8, greedy=True, eos_id=eos, use_cache=False)
    assert a.tolist() == b.tolist()


def test_the_cache_feeds_one_token_per_step_inside_the_context():
    """The point of the cache: after the prompt, each step runs the model on one position."""
    model = _gpt()
    seen: list[int] = []
    handle = model.embedding.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[1]))
    try:
        generate(model, torch.tensor([1, 2, 3]), 6, greedy=True)
        assert seen == [3, 1, 1, 1, 1, 1]
        seen.clear()
        generate(model, torch.tensor([1, 2, 3]), 6, greedy=True, use_cache=False)
        assert seen == [3, 4, 5, 6, 7, 8]
        seen.clear()
        generate(model, torch.arange(15), 3, greedy=True)  # 15, then 16 = the context, then slide
        assert seen == [15, 1, 16]
    finally:
        handle.remove()
