"""llm101_helpers.performance: the compared implementations are equal, the timer and
the memory tracker measure what they say.

The reference for the attention variants is PyTorch's ``nn.MultiheadAttention``
(through :class:`TorchMultiheadAttention`) and, independently of every module,
``F.scaled_dot_product_attention`` applied to projections computed here.
"""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers import performance
from llm101_helpers.performance import (
    TensorMemoryTracker,
    attention_variants,
    peak_memory,
    time_call,
)

TOL = {"atol": 2e-5, "rtol": 1e-4}
NAMES = [
    "wrapper of heads",
    "MHA explicit",
    "fused QKV explicit",
    "fused QKV + SDPA",
    "MHA + SDPA",
    "nn.MultiheadAttention",
]


def _functional_reference(mha, x):
    """Causal multi-head attention from the weights, with PyTorch's functional SDPA."""
    B, T, C = x.shape
    H = mha.num_heads

    def heads(lin):
        return lin(x).view(B, T, H, C // H).transpose(1, 2)  # (B, H, T, hd)

    ctx = F.scaled_dot_product_attention(
        heads(mha.W_query), heads(mha.W_key), heads(mha.W_value), is_causal=True
    )
    return mha.out_proj(ctx.transpose(1, 2).reshape(B, T, C))


@pytest.mark.parametrize("d,heads,T,bias", [(8, 1, 1, False), (12, 3, 7, True), (32, 4, 20, False)])
def test_all_variants_equal_the_references_forward_and_backward(d, heads, T, bias):
    variants = attention_variants(d, heads, 24, qkv_bias=bias, seed=3)
    assert list(variants) == NAMES
    x = torch.randn(2, T, d, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = _functional_reference(variants["MHA explicit"], x)
    grads = {}
    for name, module in variants.items():
        xi = x.clone().requires_grad_()
        out = module(xi)
        torch.testing.assert_close(out, expected, **TOL, msg=lambda m, n=name: f"{n}: {m}")
        out.square().sum().backward()
        grads[name] = xi.grad
    for name, g in grads.items():
        torch.testing.assert_close(g, grads["nn.MultiheadAttention"], **TOL, msg=name)


def test_variants_do_not_share_parameters():
    variants = attention_variants(8, 2, 4)
    ptrs = [{p.data_ptr() for p in m.parameters()} for m in variants.values()]
    for i in range(len(ptrs)):
        for j in range(i + 1, len(ptrs)):
            assert not ptrs[i] & ptrs[j]


def test_variant_paths_are_the_ones_named():
    v = attention_variants(8, 2, 4)
    assert v["MHA explicit"].use_sdpa is False and v["MHA + SDPA"].use_sdpa is True
    assert v["fused QKV explicit"].use_sdpa is False and v["fused QKV + SDPA"].use_sdpa is True


# --- time_call ---------------------------------------------------------------------


class FakeClock:
    """perf_counter that advances by a given amount on each call to the timed function."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_time_call_warms_up_repeats_and_reports_the_median(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(performance.time, "perf_counter", clock)
    durations = iter([5.0, 5.0, 1.0] + [0.1, 0.2, 0.3, 0.4, 9.0])  # warm-up, probe, 5 repeats
    calls = []

    def fn():
        calls.append(1)
        clock.now += next(durations)

    t = time_call(fn, warmup=2, repeats=5)
    assert len(calls) == 2 + 1 + 5
    assert t.times == pytest.approx((0.1, 0.2, 0.3, 0.4, 9.0))
    assert t.median == pytest.approx(0.3)  # the 9 s outlier does not move it
    assert (t.q25, t.q75) == (pytest.approx(0.2), pytest.approx(0.4))
    assert t.iqr == pytest.approx(0.2) and t.calls_per_measurement == 1
    assert str(t) == "300.00 ms ± 100.00"


def test_time_call_batches_calls_shorter_than_the_clock_can_see(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(performance.time, "perf_counter", clock)
    calls = []

    def fn():
        calls.append(1)
        clock.now += 0.001

    t = time_call(fn, warmup=0, repeats=3, min_measure_s=0.01)
    assert t.calls_per_measurement == 10
    assert len(calls) == 1 + 3 * 10
    assert t.median == pytest.approx(0.001)


def test_time_calls_measures_in_turns_so_a_slow_spell_hits_everyone(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(performance.time, "perf_counter", clock)
    order = []
    slow = {"on": False}

    def make(name, seconds):
        def fn():
            order.append(name)
            clock.now += seconds * (10 if slow["on"] else 1)

        return fn

    fns = {"a": make("a", 1.0), "b": make("b", 2.0)}
    # the machine turns slow for the second round of measurements only
    original = fns["b"]

    def b_then_toggle():
        original()
        if order.count("b") == 3:  # warm-up, probe, first measurement done
            slow["on"] = True
        elif order.count("b") == 4:
            slow["on"] = False

    fns["b"] = b_then_toggle
    t = performance.time_calls(fns, warmup=1, repeats=3)
    assert order == ["a", "a", "b", "b", "a", "b", "a", "b", "a", "b"]
    assert t["a"].times == pytest.approx((1.0, 10.0, 1.0))  # the slow round hit a ...
    assert t["b"].times == pytest.approx((2.0, 20.0, 2.0))  # ... and b alike
    assert t["b"].median / t["a"].median == pytest.approx(2.0)


def test_time_call_rejects_bad_arguments():
    with pytest.raises(ValueError, match="repeats >= 1, got 3 and 0"):
        time_call(lambda: None, repeats=0)


# --- memory -------------------------------------------------------------------------


def test_tracker_counts_live_storage_once_and_subtracts_freed_storage():
    with TensorMemoryTracker() as m:
        a = torch.zeros(1000)  # 4,000 bytes
        b = a.view(10, 100).t()  # a view: no new storage
        c = torch.zeros(500, dtype=torch.float64)  # 4,000 bytes
        assert m.live == 8000
        del c
        d = torch.zeros(250)  # 1,000 bytes, after c was freed
    assert m.peak == 8000
    assert m.live == 5000
    del a, b, d


def test_tracker_ignores_views_of_tensors_that_existed_before():
    weight = torch.zeros(64, 64)
    with TensorMemoryTracker() as m:
        weight.t()  # a view of existing storage
        weight.view(-1)
        weight.add_(1)  # in place
        new = weight @ weight  # 16,384 bytes of new storage
    assert m.peak == new.untyped_storage().nbytes() == 16384


def test_explicit_attention_holds_the_score_matrix_and_sdpa_does_not():
    B, H, T, d = 2, 4, 128, 32
    v = attention_variants(d, H, T)
    x = torch.randn(B, T, d)
    matrix = B * H * T * T * 4  # one (B, H, T, T) float32 tensor
    with torch.no_grad():
        explicit = peak_memory(lambda: v["MHA explicit"](x))
        fused = peak_memory(lambda: v["MHA + SDPA"](x))
    assert explicit >= 2 * matrix  # scores and weights are alive together
    assert fused < matrix


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_peak_memory_on_cuda_sees_an_allocation():
    n = peak_memory(lambda: torch.empty(2**20, device="cuda"), "cuda")
    assert n >= 4 * 2**20


def test_environment_dates_in_utc_with_what_python_3_10_has():
    """``datetime.UTC`` is new in Python 3.11; the package supports 3.10 (timezone.utc)."""
    before = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    env = performance.environment("cpu")
    assert env["date"] in {before, datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    tree = ast.parse(Path(performance.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert ("datetime", "UTC") not in imported
