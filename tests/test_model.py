"""Tests for llm101_helpers.model.

References are independent of the code under test: ``torch.nn.GELU``, a
functional re-implementation of the pre-LN block with ``torch.nn.functional``
(``layer_norm``, ``scaled_dot_product_attention``), GPT-2 small's published
parameter count, and properties that any correct GPT has (causality, greedy
equals argmax, top-k never leaves the k most likely tokens).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.model import (
    GELU,
    GPT,
    PRESETS,
    FeedForward,
    GPTConfig,
    TransformerBlock,
    generate,
)

TINY = GPTConfig(vocab_size=50, context_length=16, d_model=32, num_heads=4, num_layers=2)


def _model(cfg: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(cfg).eval()


# --- GELU and FeedForward -------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch_forward_and_backward(approximate):
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64, requires_grad=True)
    ours = GELU(approximate)(x)
    ours.sum().backward()
    grad_ours = x.grad.clone()
    x.grad = None
    ref = nn.GELU(approximate=approximate)(x)
    ref.sum().backward()
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(grad_ours, x.grad)


def test_gelu_forms_differ_a_little_and_unknown_form_raises():
    x = torch.linspace(-4, 4, 401)
    diff = (GELU("none")(x) - GELU("tanh")(x)).abs().max().item()
    assert 0 < diff < 1e-3
    with pytest.raises(ValueError, match="approximate"):
        GELU("sigmoid")


def test_feedforward_is_linear_gelu_linear():
    torch.manual_seed(0)
    ff = FeedForward(8, dropout=0.0)
    assert ff.fc.out_features == 32 and ff.proj.in_features == 32
    x = torch.randn(2, 3, 8)
    h = F.gelu(x @ ff.fc.weight.T + ff.fc.bias, approximate="tanh")
    torch.testing.assert_close(ff(x), h @ ff.proj.weight.T + ff.proj.bias)


# --- The transformer block ------------------------------------------------------


def _reference_block(block: TransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """Pre-LN block written with torch.nn.functional only, reading the block's weights."""
    a = block.attn
    B, T, C = x.shape
    H = a.num_heads
    h = F.layer_norm(x, (C,), block.norm1.weight, block.norm1.bias, eps=block.norm1.eps)

    def heads(w: nn.Linear) -> torch.Tensor:
        return F.linear(h, w.weight, w.bias).view(B, T, H, C // H).transpose(1, 2)

    ctx = F.scaled_dot_product_attention(
        heads(a.W_query), heads(a.W_key), heads(a.W_value), is_causal=True
    )
    ctx = F.linear(ctx.transpose(1, 2).reshape(B, T, C), a.out_proj.weight, a.out_proj.bias)
    x = x + ctx
    h = F.layer_norm(x, (C,), block.norm2.weight, block.norm2.bias, eps=block.norm2.eps)
    ff = block.ff
    h = F.linear(F.gelu(F.linear(h, ff.fc.weight, ff.fc.bias), approximate="tanh"), ff.proj.weight)
    return x + h + ff.proj.bias


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_block_matches_functional_reference(qkv_bias):
    cfg = GPTConfig(vocab_size=10, context_length=8, d_model=16, num_heads=4, qkv_bias=qkv_bias)
    torch.manual_seed(1)
    block = TransformerBlock(cfg).eval()
    with torch.no_grad():  # non-trivial norm parameters so a mix-up would show
        for norm in (block.norm1, block.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(3, 7, 16)
    torch.testing.assert_close(block(x), _reference_block(block, x))
    out, w = block(x, return_weights=True)
    torch.testing.assert_close(out, block(x))
    assert w.shape == (3, 4, 7, 7)


# --- The GPT --------------------------------------------------------------------


def test_gpt_shapes_and_weights_per_layer():
    model = _model()
    ids = torch.randint(0, 50, (2, 11))
    logits = model(ids)
    assert logits.shape == (2, 11, 50)
    logits2, weights = model(ids, return_weights=True)
    torch.testing.assert_close(logits2, logits)
    assert len(weights) == TINY.num_layers
    for w in weights:
        assert w.shape == (2, 4, 11, 11)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 11))
        assert torch.all(w.triu(1) == 0)  # no weight on the future


def test_gpt_is_causal():
    model = _model()
    ids = torch.randint(0, 50, (1, 12))
    changed = ids.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 50
    torch.testing.assert_close(model(ids)[:, :8], model(changed)[:, :8])
    assert not torch.allclose(model(ids)[:, 8:], model(changed)[:, 8:])


def test_gpt_rejects_too_long_input_and_wrong_rank():
    model = _model()
    with pytest.raises(ValueError, match=r"17 tokens.*context_length is 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(5, dtype=torch.long))


def test_gpt2_small_parameter_count_is_the_published_one():
    cfg = GPTConfig.preset("gpt2-small")
    with torch.device("meta"):  # count without allocating 0.5 GB
        tied = GPT(cfg)
        untied = GPT(GPTConfig.preset("gpt2-small", tie_weights=False))
    assert tied.num_parameters() == 124_439_808  # GPT-2 small ("124M")
    assert untied.num_parameters() == 124_439_808 + 50257 * 768
    assert tied.out_head.weight is tied.tok_emb.weight
    # without embeddings: the 85M of the transformer blocks plus the final norm
    assert tied.num_parameters(exclude_embeddings=True) == 124_439_808 - 1024 * 768


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match=r"d_model \(30\).*num_heads \(4\)"):
        GPTConfig(d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="vocab_size"):
        GPTConfig(vocab_size=0)
    with pytest.raises(ValueError, match="unknown GPTConfig preset 'huge'"):
        GPTConfig.preset("huge")
    assert set(PRESETS) >= {"tiny", "small", "base", "gpt2-small"}
    cfg = GPTConfig.preset("tiny", vocab_size=65)
    assert cfg.vocab_size == 65 and GPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="no field"):
        GPTConfig.from_dict({**cfg.to_dict(), "n_embd": 3})


# --- Generation -----------------------------------------------------------------


def test_generate_length_and_seeded_determinism():
    model = _model()
    prompt = torch.tensor([1, 2, 3])
    a = generate(model, prompt, 10, seed=7, top_k=20)
    b = generate(model, prompt, 10, seed=7, top_k=20)
    c = generate(model, prompt, 10, seed=8, top_k=20)
    assert a.shape == (13,) and torch.equal(a[:3], prompt)
    assert torch.equal(a, b) and not torch.equal(a, c)
    batch = generate(model, torch.tensor([[1, 2], [3, 4]]), 5, seed=0)
    assert batch.shape == (2, 7)
    assert generate(model, prompt, 0).tolist() == [1, 2, 3]


def test_greedy_is_argmax_step_by_step():
    model = _model()
    ids = [4, 5]
    for _ in range(6):
        logits = model(torch.tensor([ids]))[0, -1]
        ids.append(int(logits.argmax()))
    assert generate(model, torch.tensor([4, 5]), 6, greedy=True).tolist() == ids
    assert generate(model, torch.tensor([4, 5]), 6, top_k=1, seed=3).tolist() == ids
    assert generate(model, torch.tensor([4, 5]), 6, top_p=1e-6, seed=3).tolist() == ids


def test_top_k_and_top_p_stay_inside_their_sets():
    cfg = GPTConfig(vocab_size=50, context_length=16, d_model=32, num_heads=4, num_layers=2)
    model = _model(cfg, seed=3)
    with torch.no_grad():  # sharpen the output so the nucleus is small
        model.out_head.weight.mul_(40)
    prompt = torch.tensor([[7, 8, 9]]).repeat(400, 1)
    probs = torch.softmax(model(prompt[:1])[0, -1], -1)
    top5 = set(torch.topk(probs, 5).indices.tolist())
    nxt = generate(model, prompt, 1, top_k=5, seed=0)[:, -1]
    assert set(nxt.tolist()) <= top5 and len(set(nxt.tolist())) > 1

    p_sorted, order = torch.sort(probs, descending=True)
    n_keep = int((p_sorted.cumsum(0) < 0.8).sum()) + 1  # smallest set reaching 0.8
    nucleus = set(order[:n_keep].tolist())
    nxt = generate(model, prompt, 1, top_p=0.8, seed=0)[:, -1]
    assert set(nxt.tolist()) <= nucleus


def test_generate_crops_to_the_context_or_raises():
    model = _model()
    long_prompt = torch.arange(40) % 50  # longer than context_length=16
    out = generate(model, long_prompt, 5, greedy=True)
    assert out.shape == (45,)
    # with cropping the first new token only depends on the last 16 tokens
    tail = generate(model, long_prompt[-16:], 1, greedy=True)
    assert out[40] == tail[16]
    with pytest.raises(ValueError, match=r"40 tokens.*context_length 16.*crop=False"):
        generate(model, long_prompt, 1, crop=False)
    with pytest.raises(ValueError, match=r"10 tokens and 7 new.*17 in all"):
        generate(model, torch.arange(10), 7, crop=False)
    assert generate(model, torch.arange(10), 6, crop=False).shape == (16,)


def test_generate_errors_and_mode_restored():
    model = _model().train()
    p = torch.tensor([1])
    with pytest.raises(ValueError, match="temperature must be a positive"):
        generate(model, p, 3, temperature=0)
    with pytest.raises(ValueError, match="temperature must be a positive"):
        generate(model, p, 3, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_k=51 is larger than the vocabulary \(50 tokens\)"):
        generate(model, p, 3, top_k=51)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, p, 3, top_p=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, p, -1)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, torch.tensor([], dtype=torch.long), 3)
    generate(model, p, 3, seed=0)
    assert model.training


def test_generate_stops_at_eos():
    model = _model()
    greedy = generate(model, torch.tensor([1, 2]), 8, greedy=True)
    eos = int(greedy[3])  # the second generated token
    out = generate(model, torch.tensor([1, 2]), 8, greedy=True, eos_id=eos)
    assert out.tolist() == greedy[: 2 + greedy[2:].tolist().index(eos) + 1].tolist()
