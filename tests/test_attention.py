"""llm101_helpers.attention against independent references.

References: loops written from the definitions, PyTorch's
``scaled_dot_product_attention`` with an explicit float mask, and
``torch.nn.MultiheadAttention`` with the same weights copied in.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.attention import (
    CausalAttention,
    FusedQKVAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SelfAttention,
    causal_mask,
    simple_attention,
    stack_qkv,
)

# (batch, seq_len, d_model, num_heads, qkv_bias, dtype): edge cases, then random shapes.
EDGE = [
    (1, 1, 4, 1, False, torch.float32),
    (1, 7, 21, 7, True, torch.float64),
    (3, 1, 6, 3, True, torch.float32),
    (2, 5, 15, 5, False, torch.float64),
    (1, 9, 8, 8, False, torch.float32),
]
_rng = random.Random(2024)
RANDOM = []
for _ in range(20):
    heads = _rng.choice([1, 2, 3, 4, 5, 7])
    RANDOM.append(
        (
            _rng.randint(1, 4),
            _rng.randint(1, 12),
            heads * _rng.randint(1, 6),
            heads,
            _rng.random() < 0.5,
            _rng.choice([torch.float32, torch.float64]),
        )
    )
CASES = EDGE + RANDOM


def _tol(dtype):
    return {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-9}


def _mha_pair(batch, seq, d, heads, bias, dtype, context_length=None, seed=0):
    """A course MultiHeadAttention and a torch.nn.MultiheadAttention with the same weights."""
    torch.manual_seed(seed)
    ours = MultiHeadAttention(d, d, context_length or max(seq, 1), 0.0, heads, qkv_bias=bias)
    ours = ours.to(dtype).eval()
    theirs = nn.MultiheadAttention(d, heads, bias=True, batch_first=True, dtype=dtype).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(
            torch.cat([ours.W_query.weight, ours.W_key.weight, ours.W_value.weight])
        )
        if bias:
            theirs.in_proj_bias.copy_(
                torch.cat([ours.W_query.bias, ours.W_key.bias, ours.W_value.bias])
            )
        else:
            theirs.in_proj_bias.zero_()
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)
    x = torch.randn(batch, seq, d, dtype=dtype)
    return ours, theirs, x


# --- simple attention -------------------------------------------------------


def test_simple_attention_matches_loops_from_the_definition():
    torch.manual_seed(0)
    x = torch.randn(4, 3, dtype=torch.float64)
    context, weights = simple_attention(x)
    for i in range(4):
        scores = torch.stack([torch.dot(x[i], x[j]) for j in range(4)])
        w = torch.exp(scores) / torch.exp(scores).sum()
        torch.testing.assert_close(weights[i], w)
        torch.testing.assert_close(context[i], sum(w[j] * x[j] for j in range(4)))
    batched_context, batched_weights = simple_attention(torch.stack([x, 2 * x]))
    torch.testing.assert_close(batched_context[0], context)
    torch.testing.assert_close(batched_weights[1], simple_attention(2 * x)[1])


def test_simple_attention_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"got 1 dimensions \(5,\)"):
        simple_attention(torch.randn(5))


# --- self-attention and causal attention ------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(6, 5), (3, 6, 5), (1, 1, 5)])
def test_self_attention_matches_sdpa_without_mask(shape, dtype):
    torch.manual_seed(1)
    sa = SelfAttention(5, 4, qkv_bias=True).to(dtype)
    x = torch.randn(*shape, dtype=dtype)
    context, weights = sa(x, return_weights=True)
    q, k, v = sa.W_query(x), sa.W_key(x), sa.W_value(x)
    torch.testing.assert_close(context, F.scaled_dot_product_attention(q, k, v), **_tol(dtype))
    torch.testing.assert_close(weights.sum(-1), torch.ones(shape[:-1], dtype=dtype))
    torch.testing.assert_close(sa(x), context)


def test_self_attention_scales_by_sqrt_dk():
    torch.manual_seed(2)
    sa = SelfAttention(3, 16).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    _, weights = sa(x, return_weights=True)
    raw = sa.W_query(x) @ sa.W_key(x).T
    torch.testing.assert_close(weights, torch.softmax(raw / 4.0, dim=-1))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_causal_attention_matches_sdpa_with_an_explicit_float_mask(bias, dtype):
    torch.manual_seed(3)
    ca = CausalAttention(6, 4, context_length=8, dropout=0.4, qkv_bias=bias).to(dtype).eval()
    x = torch.randn(2, 7, 6, dtype=dtype)
    context, weights = ca(x, return_weights=True)
    mask = torch.zeros(7, 7, dtype=dtype).masked_fill(
        torch.ones(7, 7).triu(1).bool(), float("-inf")
    )
    q, k, v = ca.W_query(x), ca.W_key(x), ca.W_value(x)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(context, want, **_tol(dtype))
    assert (weights.triu(1) == 0).all()
    # Row t equals softmax over the allowed keys 0..t alone: masking takes nothing from them.
    scores = q @ k.transpose(1, 2) / 2.0
    for t in range(7):
        torch.testing.assert_close(weights[:, t, : t + 1], torch.softmax(scores[:, t, : t + 1], -1))


def test_causal_mask_is_true_strictly_above_the_diagonal():
    m = causal_mask(4)
    assert m.dtype == torch.bool
    assert m.tolist() == [[j > i for j in range(4)] for i in range(4)]


def test_causal_attention_dropout_zeroes_and_rescales_weights_in_training():
    torch.manual_seed(4)
    ca = CausalAttention(4, 4, context_length=6, dropout=0.4)
    x = torch.randn(1, 6, 4)
    ca.eval()
    _, clean = ca(x, return_weights=True)
    ca.train()
    _, dropped = ca(x, return_weights=True)
    kept = dropped != 0
    torch.testing.assert_close(dropped[kept], clean[kept] / 0.6)
    assert (~kept & (clean != 0)).any(), "dropout with p=0.4 should drop something here"


# --- multi-head attention ---------------------------------------------------


@pytest.mark.parametrize("batch,seq,d,heads,bias,dtype", CASES)
def test_multi_head_matches_torch_multihead_attention(batch, seq, d, heads, bias, dtype):
    ours, theirs, x = _mha_pair(batch, seq, d, heads, bias, dtype)
    mask = causal_mask(seq)
    want, want_weights = theirs(
        x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=False
    )
    tol = _tol(dtype)
    torch.testing.assert_close(ours(x), want, **tol)  # the SDPA fast path
    context, weights = ours(x, return_weights=True)  # the explicit path
    torch.testing.assert_close(context, want, **tol)
    torch.testing.assert_close(weights, want_weights, **tol)
    assert weights.shape == (batch, heads, seq, seq)


@pytest.mark.parametrize("batch,seq,d,heads,bias,dtype", CASES[:12])
def test_multi_head_matches_sdpa_per_head(batch, seq, d, heads, bias, dtype):
    ours, _, x = _mha_pair(batch, seq, d, heads, bias, dtype, context_length=seq + 3)
    hd = d // heads
    outs = []
    for h in range(heads):
        cols = slice(h * hd, (h + 1) * hd)
        q, k, v = (lin(x)[..., cols] for lin in (ours.W_query, ours.W_key, ours.W_value))
        scores = q @ k.transpose(1, 2) / math.sqrt(hd)
        scores = scores.masked_fill(torch.ones(seq, seq).triu(1).bool(), float("-inf"))
        outs.append(torch.softmax(scores, -1) @ v)
    want = ours.out_proj(torch.cat(outs, dim=-1))
    torch.testing.assert_close(ours(x), want, **_tol(dtype))


@pytest.mark.parametrize("heads,bias", [(1, False), (3, True), (7, False)])
def test_wrapper_equals_multi_head_with_concatenated_weights(heads, bias):
    torch.manual_seed(5)
    head_dim, d_in, T = 2, 5, 6
    wrapper = MultiHeadAttentionWrapper(d_in, head_dim, T, 0.0, heads, qkv_bias=bias).eval()
    mha = MultiHeadAttention(d_in, heads * head_dim, T, 0.0, heads, qkv_bias=bias).eval()
    with torch.no_grad():
        for name in ("W_query", "W_key", "W_value"):
            lin = getattr(mha, name)
            lin.weight.copy_(torch.cat([getattr(h, name).weight for h in wrapper.heads]))
            if bias:
                lin.bias.copy_(torch.cat([getattr(h, name).bias for h in wrapper.heads]))
        mha.out_proj.weight.copy_(torch.eye(heads * head_dim))
        mha.out_proj.bias.zero_()
    x = torch.randn(2, T, d_in)
    context, weights = wrapper(x, return_weights=True)
    assert context.shape == (2, T, heads * head_dim)
    torch.testing.assert_close(mha(x), context)
    torch.testing.assert_close(mha(x, return_weights=True)[1], weights)


@pytest.mark.parametrize("cls", ["causal", "wrapper", "mha"])
def test_no_leakage_from_the_future_by_perturbation(cls):
    torch.manual_seed(6)
    T, d = 8, 6
    module = {
        "causal": lambda: CausalAttention(d, 4, T),
        "wrapper": lambda: MultiHeadAttentionWrapper(d, 2, T, 0.0, 3),
        "mha": lambda: MultiHeadAttention(d, 6, T, 0.0, 3),
    }[cls]().eval()
    x = torch.randn(2, T, d)
    base = module(x)
    for t in range(T):
        changed = x.clone()
        changed[:, t:] = torch.randn(2, T - t, d) * 10
        out = module(changed)
        torch.testing.assert_close(out[:, :t], base[:, :t])
        assert not torch.allclose(out[:, t], base[:, t])


@pytest.mark.parametrize("return_weights", [False, True])
def test_no_leakage_from_the_future_by_gradients(return_weights):
    torch.manual_seed(7)
    T, d = 6, 6
    mha = MultiHeadAttention(d, d, T, 0.0, 2).double().eval()
    x = torch.randn(1, T, d, dtype=torch.float64)

    def first_output(inp):
        out = mha(inp, return_weights=True)[0] if return_weights else mha(inp)
        return out[0]  # (T, d)

    jac = torch.autograd.functional.jacobian(first_output, x)[:, :, 0]  # (T, d, T, d)
    influence = jac.abs().sum(dim=(1, 3))  # influence[t, s]: how much input s moves output t
    future = torch.ones(T, T).triu(1).bool()
    assert (influence[future] == 0).all()
    assert (influence[~future] > 0).all()


def test_eval_mode_is_deterministic_and_training_mode_is_not():
    torch.manual_seed(8)
    mha = MultiHeadAttention(8, 8, 10, dropout=0.4, num_heads=2)
    x = torch.randn(2, 10, 8)
    mha.eval()
    first = mha(x)
    torch.testing.assert_close(mha(x), first)
    torch.testing.assert_close(mha(x, return_weights=True)[0], first)
    mha.train()
    a, b = mha(x), mha(x)
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, first)
    ca = CausalAttention(8, 4, 10, dropout=0.4).eval()
    torch.testing.assert_close(ca(x), ca(x))


def test_shorter_sequences_than_context_length_and_device_moves_work():
    mha = MultiHeadAttention(4, 4, 16, 0.0, 2).eval()
    assert mha(torch.randn(3, 5, 4)).shape == (3, 5, 4)
    assert "mask" not in mha.state_dict()  # the mask is rebuilt, not saved
    assert mha.to("cpu").mask.shape == (16, 16)


# --- bad input --------------------------------------------------------------


def test_d_out_not_divisible_by_num_heads_names_the_numbers():
    with pytest.raises(ValueError, match=r"d_out \(10\) must be divisible by num_heads \(3\)"):
        MultiHeadAttention(4, 10, 8, 0.0, 3)
    with pytest.raises(ValueError, match=r"num_heads \(0\)"):
        MultiHeadAttention(4, 10, 8, 0.0, 0)


@pytest.mark.parametrize(
    "module",
    [
        lambda: MultiHeadAttention(6, 6, 8, 0.0, 2),
        lambda: CausalAttention(6, 4, 8),
        lambda: MultiHeadAttentionWrapper(6, 2, 8, 0.0, 3),
    ],
)
def test_bad_inputs_raise_clear_errors(module):
    m = module()
    with pytest.raises(ValueError, match=r"d_in=6 .* got 5 \(input shape \(2, 4, 5\)\)"):
        m(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match=r"sequence length 9 is longer than context_length=8"):
        m(torch.randn(1, 9, 6))
    with pytest.raises(ValueError, match=r"\(batch, seq_len, d_in\).*got 2 dimensions \(4, 6\)"):
        m(torch.randn(4, 6))
    with pytest.raises(ValueError, match=r"got 4 dimensions"):
        m(torch.randn(1, 1, 4, 6))


def test_self_attention_bad_inputs():
    sa = SelfAttention(3, 2)
    with pytest.raises(ValueError, match=r"d_in=3 .* got 4"):
        sa(torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"\(seq_len, d_in\) or \(batch, seq_len, d_in\)"):
        sa(torch.randn(3))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize(
    "module",
    [
        lambda: SelfAttention(6, 4),
        lambda: CausalAttention(6, 4, 8),
        lambda: MultiHeadAttentionWrapper(6, 2, 8, 0.0, 3),
        lambda: MultiHeadAttention(6, 6, 8, 0.0, 2),
        lambda: FusedQKVAttention(6, 6, 8, 0.0, 2),
    ],
)
def test_input_of_another_dtype_names_both_dtypes(module, dtype):
    m = module()
    x = torch.randn(2, 4, 6, dtype=dtype)
    with pytest.raises(RuntimeError):  # what a float32 projection says on its own
        F.linear(x, torch.zeros(4, 6))
    name = type(m.heads[0] if hasattr(m, "heads") else m).__name__
    with pytest.raises(TypeError, match=rf"{name} got {dtype} input but its weights are "
                                        r"torch.float32.*torch.autocast"):  # fmt: skip
        m(x)
    assert m.to(dtype)(x).dtype == dtype  # converted to match, it runs


def test_autocast_may_mix_dtypes():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 8, 6, 0.0, 2).eval()
    x = torch.randn(2, 6, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mha(x.bfloat16())  # float32 weights, bfloat16 input: autocast's job
    torch.testing.assert_close(out.float(), mha(x), atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("bias", [False, True])
def test_stack_qkv_is_the_three_projections_in_one(bias):
    torch.manual_seed(0)
    mha = MultiHeadAttention(5, 6, 4, 0.0, 2, qkv_bias=bias)
    weight, b = stack_qkv(mha)
    assert weight.shape == (18, 5) and (b is None) == (not bias)
    x = torch.randn(3, 5)
    q, k, v = F.linear(x, weight, b).split(6, dim=-1)
    for got, proj in ((q, mha.W_query), (k, mha.W_key), (v, mha.W_value)):
        torch.testing.assert_close(got, x @ proj.weight.T + (proj.bias if bias else 0))
