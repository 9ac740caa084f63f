"""What the package runs equals what the notebooks derive, and the training step stays fast.

The norms and GELU compute with PyTorch's fused kernels; here they are checked, forward
and backward, against the formulas of notebooks 08 and 09 written out with elementary
operations. The training step skips the per-call id check (``train`` checks the data
once) and uses the fused AdamW; bench/train.py's step-by-step loop reproduces ``train``,
and its reference model is a causal language model of the same shape.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from llm101_helpers.model import GELU, GPT, GPTConfig
from llm101_helpers.normalization import LayerNorm, RMSNorm
from llm101_helpers.training import TrainConfig, get_batch, learning_rate, train
from llm101_helpers.training.loop import _optimizer, _step, _windows

ROOT = Path(__file__).resolve().parents[1]
TINY = GPTConfig(vocab_size=40, context_length=16, d_model=32, num_heads=4, num_layers=2)
DTYPES = [torch.float32, torch.float64]


def _layer_norm_by_formula(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased: divide by d_model
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _rms_norm_by_formula(x, weight, eps=1e-6):
    return x / torch.sqrt((x**2).mean(dim=-1, keepdim=True) + eps) * weight


def _gelu_by_formula(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def _value_and_grads(fn, tensors, upstream):
    """``fn(*tensors)`` and the gradient of ``(fn(*tensors) * upstream).sum()`` for each."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    y = fn(*leaves)
    return y.detach(), torch.autograd.grad(y, leaves, upstream)


def _check_module_against_formula(module: nn.Module, formula, x: torch.Tensor, seed: int):
    """Module and formula agree on the output and on the gradients of input and parameters."""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(p.shape, generator=gen).to(x.dtype) for p in module.parameters()]
    upstream = torch.randn(x.shape, generator=gen).to(x.dtype)

    def run_module(x, *ps):
        for (name, _), p in zip(list(module.named_parameters()), ps, strict=True):
            setattr(module, name, nn.Parameter(p))  # fresh leaves with the random values
        y = module(x)
        grads = torch.autograd.grad(y, [x, *module.parameters()], upstream)
        return y.detach(), grads

    leaves = [t.clone().requires_grad_(True) for t in (x, *params)]
    y, grads = run_module(*leaves)
    y_ref, grads_ref = _value_and_grads(formula, [x, *params], upstream)
    torch.testing.assert_close(y, y_ref)
    for got, want in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_layernorm_equals_the_formula_forward_and_backward(dtype):
    x = (3 * torch.randn(4, 5, 24, generator=torch.Generator().manual_seed(1)) + 2).to(dtype)
    _check_module_against_formula(LayerNorm(24).to(dtype), _layer_norm_by_formula, x, seed=2)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_rmsnorm_equals_the_formula_forward_and_backward(dtype):
    x = (3 * torch.randn(4, 5, 24, generator=torch.Generator().manual_seed(3)) + 2).to(dtype)
    _check_module_against_formula(RMSNorm(24).to(dtype), _rms_norm_by_formula, x, seed=4)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_equals_the_formula_forward_and_backward(approximate, dtype):
    x = torch.linspace(-6, 6, 1201, dtype=dtype)
    formula = lambda x: _gelu_by_formula(x, approximate)  # noqa: E731
    _check_module_against_formula(GELU(approximate), formula, x, seed=5)


def test_the_check_can_fail():
    """The comparison notices a norm that divides by the unbiased variance."""

    def unbiased(x, weight, bias):
        x_hat = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + 1e-5)
        return x_hat * weight + bias

    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(6))
    with pytest.raises(AssertionError):
        _check_module_against_formula(LayerNorm(8), unbiased, x, seed=7)


# --- the training step --------------------------------------------------------------------


class _CountOps(TorchDispatchMode):
    """Counts the operators that run inside the ``with`` block, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.counts[name] = self.counts.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def _ids(n: int = 400) -> torch.Tensor:
    return torch.randint(TINY.vocab_size, (n,), generator=torch.Generator().manual_seed(0))


def test_the_training_step_does_not_check_ids_but_a_direct_call_does():
    torch.manual_seed(0)
    model = GPT(TINY)
    cfg = TrainConfig(progress=False)
    x, y = get_batch(_ids(), 4, TINY.context_length, torch.Generator().manual_seed(1))
    with _CountOps() as ops:
        _step(model, _optimizer(model, cfg, torch.device("cpu")), x, y, 1e-3, cfg)
    assert "aminmax" not in ops.counts  # no read-back of the ids: no GPU synchronisation
    with _CountOps() as ops:
        model(x)
    assert ops.counts.get("aminmax") == 1
    with pytest.raises(ValueError, match="token id 40 is outside the vocabulary"):
        model(torch.tensor([[1, 40]]))
    torch.testing.assert_close(model(x, check_ids=False), model(x))


def test_the_optimizer_is_fused_on_a_cpu():
    model = GPT(TINY)
    opt = _optimizer(model, TrainConfig(progress=False), torch.device("cpu"))
    assert opt.defaults["fused"] is True


def _bench_train():
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_step_by_step_loop_reproduces_train():
    """bench/train.py times the pieces ``train`` runs per step; they give ``train``'s weights."""
    ids = _ids(2000)
    cfg = TrainConfig(max_iters=6, batch_size=4, warmup_iters=2, eval_interval=100,
                      eval_iters=1, progress=False)  # fmt: skip
    torch.manual_seed(3)
    trained = GPT(TINY)
    stepped = GPT(TINY)
    stepped.load_state_dict(trained.state_dict())
    train(trained, ids, ids, cfg)
    windows, gen = _windows(stepped, ids, "ids"), torch.Generator().manual_seed(cfg.seed)
    opt = _optimizer(stepped, cfg, torch.device("cpu"))
    stepped.train()
    for step in range(cfg.max_iters):
        x, y = get_batch(windows, cfg.batch_size, TINY.context_length, gen)
        _step(stepped, opt, x, y, learning_rate(step, cfg), cfg)
    for (name, a), b in zip(trained.state_dict().items(), stepped.state_dict().values(),
                            strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_the_reference_model_is_a_causal_gpt_of_the_same_shape():
    bench = _bench_train()
    torch.manual_seed(0)
    ref = bench.ReferenceGPT(TINY).train()
    course = GPT(TINY)
    n_ref = sum(p.numel() for p in ref.parameters())
    # the same shape; nn.TransformerEncoderLayer adds a bias to Q, K and V
    assert n_ref == course.num_parameters() + 3 * TINY.d_model * TINY.num_layers
    ids = _ids()[: TINY.context_length].unsqueeze(0)  # (1, T)
    changed = ids.clone()
    changed[0, 10] = (changed[0, 10] + 1) % TINY.vocab_size
    a, b = ref(ids), ref(changed)
    assert a.shape == (1, TINY.context_length, TINY.vocab_size)
    torch.testing.assert_close(a[:, :10], b[:, :10])  # the past does not see the future
    assert not torch.allclose(a[:, 10:], b[:, 10:])
