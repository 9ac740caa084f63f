"""Tests for llm101_helpers.normalization.

References are independent of the code under test: ``torch.nn.LayerNorm`` and
``torch.nn.RMSNorm`` (forward and backward), hand-worked vectors, and a NumPy
float64 closed form.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from llm101_helpers.normalization import LayerNorm, RMSNorm

SHAPES = [(8,), (3, 8), (2, 5, 16), (2, 3, 4, 32), (1, 1, 2)]
DTYPES = [torch.float32, torch.float64]


def _random_affine(module: nn.Module, gen: torch.Generator) -> None:
    """Give weight (and bias) random values, so a mix-up of the two would show."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _forward_backward(module: nn.Module, x: torch.Tensor, upstream: torch.Tensor):
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(upstream)
    grads = {name: p.grad for name, p in module.named_parameters()}
    return y.detach(), x.grad, grads


# --- LayerNorm against torch.nn.LayerNorm ---------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_layernorm_matches_torch_forward_and_backward(shape, dtype, affine):
    gen = torch.Generator().manual_seed(sum(shape) + len(shape))
    d = shape[-1]
    ours = LayerNorm(d, eps=1e-5, elementwise_affine=affine).to(dtype)
    ref = nn.LayerNorm(d, eps=1e-5, elementwise_affine=affine).to(dtype)
    _random_affine(ref, gen)
    ours.load_state_dict(ref.state_dict())  # same parameter names, same values
    x = 3.0 * torch.randn(shape, generator=gen, dtype=dtype) + 2.0
    upstream = torch.randn(shape, generator=gen, dtype=dtype)

    y, dx, grads = _forward_backward(ours, x, upstream)
    y_ref, dx_ref, grads_ref = _forward_backward(ref, x, upstream)

    assert y.dtype == dtype
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(dx, dx_ref)
    assert grads.keys() == grads_ref.keys()
    for name in grads_ref:
        torch.testing.assert_close(grads[name], grads_ref[name], msg=name)


@pytest.mark.parametrize("eps", [1e-5, 1e-2, 1.0])
def test_layernorm_eps_matches_torch_on_tiny_variance(eps):
    """With inputs of variance ~eps, eps changes the answer: it must enter the same way."""
    gen = torch.Generator().manual_seed(7)
    x = 1e-3 * torch.randn(4, 10, generator=gen, dtype=torch.float64)
    ours = LayerNorm(10, eps=eps, elementwise_affine=False)
    ref = nn.LayerNorm(10, eps=eps, elementwise_affine=False).double()
    torch.testing.assert_close(ours(x), ref(x))


def test_layernorm_by_hand():
    # x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25 = 5/4, so y = (x - 2.5) / (sqrt(5)/2)
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    expected = torch.tensor([-3.0, -1.0, 1.0, 3.0], dtype=torch.float64) / math.sqrt(5)
    torch.testing.assert_close(LayerNorm(4, eps=0.0)(x), expected)


def test_layernorm_parameters_start_as_identity_affine():
    ln = LayerNorm(6)
    assert [name for name, _ in ln.named_parameters()] == ["weight", "bias"]
    torch.testing.assert_close(ln.weight.detach(), torch.ones(6))
    torch.testing.assert_close(ln.bias.detach(), torch.zeros(6))
    assert list(LayerNorm(6, elementwise_affine=False).parameters()) == []
    assert "6, eps=1e-05, elementwise_affine=True" in repr(ln)


# --- properties on random inputs --------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_layernorm_output_has_mean_zero_and_variance_one(seed):
    gen = torch.Generator().manual_seed(seed)
    scale = 10.0 ** torch.empty(64, 1).uniform_(-2, 3, generator=gen)  # spreads 0.01..1000
    x = scale * torch.randn(64, 128, generator=gen, dtype=torch.float64) + 50.0
    eps = 1e-5
    y = LayerNorm(128, eps=eps, elementwise_affine=False)(x)
    var_in = x.var(dim=-1, unbiased=False)
    torch.testing.assert_close(y.mean(dim=-1), torch.zeros(64, dtype=torch.float64))
    # exactly var / (var + eps): 1 up to the effect of eps
    var_out = y.var(dim=-1, unbiased=False)
    torch.testing.assert_close(var_out, var_in / (var_in + eps))
    assert (var_out[var_in > 1] - 1).abs().max() < 1e-5  # where eps is negligible: 1


def test_layernorm_is_invariant_to_shift_and_positive_scale_of_the_input():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5, 32, generator=gen, dtype=torch.float64)
    ln = LayerNorm(32, eps=0.0).double()
    _random_affine(ln, gen)
    torch.testing.assert_close(ln(1000.0 * x - 7.0), ln(x))


def test_layernorm_of_a_constant_vector_is_the_bias():
    ln = LayerNorm(4)
    with torch.no_grad():
        ln.bias.copy_(torch.tensor([1.0, -1.0, 0.5, 0.0]))
    torch.testing.assert_close(ln(torch.full((2, 4), 3.0)), ln.bias.detach().expand(2, 4))
    # one feature: every vector is constant (torch's float32 kernel leaves rounding noise here)
    one = LayerNorm(1)
    with torch.no_grad():
        one.bias.fill_(0.25)
    torch.testing.assert_close(one(torch.randn(3, 1)), torch.full((3, 1), 0.25))


@pytest.mark.parametrize("seed", range(3))
def test_rmsnorm_output_has_root_mean_square_one(seed):
    gen = torch.Generator().manual_seed(seed)
    x = 30.0 * torch.randn(16, 64, generator=gen, dtype=torch.float64) + 5.0
    y = RMSNorm(64, eps=1e-6)(x)
    rms = y.pow(2).mean(dim=-1).sqrt()
    torch.testing.assert_close(rms, torch.ones(16, dtype=torch.float64))
    # unlike LayerNorm it keeps the mean: the direction of x is unchanged
    torch.testing.assert_close(y / y.norm(dim=-1, keepdim=True), x / x.norm(dim=-1, keepdim=True))


# --- RMSNorm against the closed form and torch.nn.RMSNorm -------------------------


def test_rmsnorm_by_hand():
    # x = [3, 4]: mean of squares (9 + 16) / 2 = 12.5, rms = 5 / sqrt(2), y = x * sqrt(2) / 5
    x = torch.tensor([3.0, 4.0], dtype=torch.float64)
    expected = torch.tensor([3.0, 4.0], dtype=torch.float64) * math.sqrt(2) / 5
    torch.testing.assert_close(RMSNorm(2, eps=0.0)(x), expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rmsnorm_matches_numpy_closed_form(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(1.0, 4.0, size=shape)
    w = rng.normal(size=shape[-1])
    eps = 1e-6
    expected = x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + eps) * w
    norm = RMSNorm(shape[-1], eps=eps).to(dtype)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(w))
    y = norm(torch.from_numpy(x).to(dtype))
    assert y.dtype == dtype
    torch.testing.assert_close(y, torch.from_numpy(expected).to(dtype))


@pytest.mark.skipif(not hasattr(nn, "RMSNorm"), reason="torch.nn.RMSNorm needs torch >= 2.4")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rmsnorm_matches_torch_forward_and_backward(shape, dtype):
    gen = torch.Generator().manual_seed(len(shape) * 100 + shape[-1])
    d = shape[-1]
    ours = RMSNorm(d, eps=1e-6).to(dtype)
    ref = nn.RMSNorm(d, eps=1e-6).to(dtype)
    _random_affine(ref, gen)
    ours.load_state_dict(ref.state_dict())
    x = 2.0 * torch.randn(shape, generator=gen, dtype=dtype) - 1.0
    upstream = torch.randn(shape, generator=gen, dtype=dtype)

    y, dx, grads = _forward_backward(ours, x, upstream)
    y_ref, dx_ref, grads_ref = _forward_backward(ref, x, upstream)

    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(dx, dx_ref)
    torch.testing.assert_close(grads["weight"], grads_ref["weight"])


def test_rmsnorm_parameters():
    norm = RMSNorm(5)
    assert [name for name, _ in norm.named_parameters()] == ["weight"]
    assert norm.eps == 1e-6
    assert "5, eps=1e-06" in repr(norm)


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [LayerNorm, RMSNorm])
def test_wrong_last_dimension_is_a_clear_error(cls):
    norm = cls(16)
    with pytest.raises(ValueError, match=r"d_model=16.*\(2, 3, 8\).*last dimension 8"):
        norm(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match=r"d_model=16.*no dimensions"):
        norm(torch.tensor(1.0))
    norm(torch.randn(2, 16))  # the right size works


@pytest.mark.parametrize("cls", [LayerNorm, RMSNorm])
@pytest.mark.parametrize("d", [0, -3, 2.5, True])
def test_bad_feature_count_is_rejected(cls, d):
    with pytest.raises(ValueError, match="positive int"):
        cls(d)


# --- half precision: statistics in float32, output in the input's dtype ----------------

LOW_PRECISION = [torch.float16, torch.bfloat16]
LARGE = [300.0, -300.0, 300.0, -300.0]  # float16: 300**2 = 90,000 is past its largest value


def _torch_pair(cls, d_model: int, dtype: torch.dtype, gen: torch.Generator):
    """Ours and torch.nn's layer with the same random parameters, both in ``dtype``."""
    if cls is LayerNorm:
        ours, ref = LayerNorm(d_model, eps=1e-5), nn.LayerNorm(d_model, eps=1e-5)
    else:
        if not hasattr(nn, "RMSNorm"):
            pytest.skip("torch.nn.RMSNorm needs torch >= 2.4")
        ours, ref = RMSNorm(d_model, eps=1e-6), nn.RMSNorm(d_model, eps=1e-6)
    _random_affine(ref, gen)
    ours.load_state_dict(ref.state_dict())
    return ours.to(dtype), ref.to(dtype)


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
@pytest.mark.parametrize("cls", [LayerNorm, RMSNorm])
@pytest.mark.parametrize("scale", [1.0, 100.0, 1000.0])
def test_low_precision_matches_torch(cls, dtype, scale):
    gen = torch.Generator().manual_seed(int(scale))
    ours, ref = _torch_pair(cls, 64, dtype, gen)
    x = (scale * torch.randn(4, 7, 64, generator=gen) + scale / 3).to(dtype)
    y = ours(x)
    assert y.dtype == dtype
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, ref(x))  # the default tolerances of float16 / bfloat16


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
@pytest.mark.parametrize("cls", [LayerNorm, RMSNorm])
def test_large_inputs_in_low_precision_are_not_zeroed(cls, dtype):
    x = torch.tensor(LARGE, dtype=dtype)
    y = cls(4).to(dtype)(x)
    assert y.dtype == dtype
    # mean 0, variance and mean square 90,000: both layers give +-1 (not 0, not NaN)
    torch.testing.assert_close(y, torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=dtype))
    ours, ref = _torch_pair(cls, 4, dtype, torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
@pytest.mark.parametrize("cls", [LayerNorm, RMSNorm])
def test_low_precision_backward_is_as_accurate_as_torch(cls, dtype):
    """Gradients in float16/bfloat16 are within one unit of the dtype's precision (at each
    gradient's scale) of torch.nn's float64 gradients for the same rounded inputs."""
    gen = torch.Generator().manual_seed(11)
    ours, ref = _torch_pair(cls, 32, dtype, gen)
    x = (20.0 * torch.randn(3, 32, generator=gen)).to(dtype)
    upstream = torch.randn(3, 32, generator=gen).to(dtype)
    exact = copy.deepcopy(ref).double()
    y, dx, grads = _forward_backward(ours, x, upstream)
    y64, dx64, grads64 = _forward_backward(exact, x.double(), upstream.double())
    assert y.dtype == dx.dtype == dtype
    eps = torch.finfo(dtype).eps
    for name, got, want in [("y", y, y64), ("dx", dx, dx64)] + [
        (name, grads[name], grads64[name]) for name in grads64
    ]:
        atol = eps * want.abs().max().item()
        torch.testing.assert_close(got.double(), want, atol=atol, rtol=0, msg=name)
