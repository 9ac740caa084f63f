"""Measuring speed and memory honestly (notebook 11 and ``bench/``).

- Timing: :func:`time_call` warms up before starting the clock, measures
  several times and reports the median and interquartile range, and waits for
  the GPU (:func:`synchronize`) around every measurement; :func:`time_calls`
  times several candidates in turns, so a slow spell of the machine lands on
  all of them alike. :func:`environment` records where a figure was measured.
- Memory: :func:`peak_memory` is the most tensor memory alive at once while a
  function runs, above what was there before: the CUDA allocator's statistics
  on a GPU, :class:`TensorMemoryTracker` (which counts operators' outputs and
  cannot see a fused kernel's scratch space) elsewhere.
- :func:`attention_variants` builds every multi-head attention of the course,
  plus PyTorch's ``nn.MultiheadAttention``, with the same weights, so their
  outputs can be asserted equal before they are timed.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from llm101_helpers.attention import (
    FusedQKVAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    causal_mask,
    stack_qkv,
)
from llm101_helpers.device import describe_device

__all__ = [
    "TensorMemoryTracker",
    "Timing",
    "TorchMultiheadAttention",
    "WrapperWithProjection",
    "attention_variants",
    "environment",
    "peak_memory",
    "synchronize",
    "time_call",
    "time_calls",
]


def environment(device: torch.device | str = "cpu") -> dict:
    """Where a measurement was taken: date, device, machine, CPU count, threads, torch version."""
    device = torch.device(device)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "device": describe_device(device),
        "device_type": device.type,
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def synchronize(device: torch.device | str) -> None:
    """Wait until ``device`` has finished all queued work (a no-op on a CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median, interquartile range and all the measurements."""

    median: float
    q25: float
    q75: float
    times: tuple[float, ...]
    calls_per_measurement: int

    @property
    def iqr(self) -> float:
        """The spread: the range that holds the middle half of the measurements."""
        return self.q75 - self.q25

    def to_dict(self) -> dict:
        return {**asdict(self), "iqr": self.iqr}

    def __str__(self) -> str:
        return f"{self.median * 1e3:.2f} ms ± {self.iqr * 1e3 / 2:.2f}"


def time_calls(
    fns: Mapping[str, Callable[[], object]],
    device: torch.device | str = "cpu",
    *,
    warmup: int = 3,
    repeats: int = 10,
    min_measure_s: float = 0.01,
) -> dict[str, Timing]:
    """Time several functions *round-robin*, after ``warmup`` calls of each.

    Measurement ``r`` of every function is taken in the same stretch of time,
    so a slow spell of the machine (another process, a busy neighbour on a
    shared host) slows all of them alike and their ratios stay fair. A call
    shorter than ``min_measure_s`` is repeated inside each measurement (the
    clock's resolution and Python's overhead would otherwise dominate) and the
    time divided by the number of calls. Synchronises a GPU around every
    measurement.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got {warmup} and {repeats}")
    numbers = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        once = _measure(fn, device, 1)  # a probe: how long is one call?
        numbers[name] = math.ceil(min_measure_s / max(once, 1e-9)) if once < min_measure_s else 1
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_measure(fn, device, numbers[name]))
    return {name: _timing(times[name], numbers[name]) for name in fns}


def time_call(
    fn: Callable[[], object],
    device: torch.device | str = "cpu",
    *,
    warmup: int = 3,
    repeats: int = 10,
    min_measure_s: float = 0.01,
) -> Timing:
    """Time one function: :func:`time_calls` with a single entry."""
    return time_calls(
        {"fn": fn}, device, warmup=warmup, repeats=repeats, min_measure_s=min_measure_s
    )["fn"]


def _measure(fn: Callable[[], object], device: torch.device | str, number: int) -> float:
    """Seconds per call of ``number`` back-to-back calls, the device synchronised around them."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(number):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / number


def _timing(times: list[float], number: int) -> Timing:
    if len(times) == 1:
        q25 = q75 = times[0]
    else:
        q25, _, q75 = statistics.quantiles(times, n=4, method="inclusive")
    return Timing(statistics.median(times), q25, q75, tuple(times), number)


class TensorMemoryTracker(TorchDispatchMode):
    """Count the bytes of tensor storage alive while the ``with`` block runs.

    Every operator's outputs are recorded once per storage and subtracted
    when the storage is freed; a view or an in-place result, which shares the
    storage of an input (a parameter's transpose, say), adds nothing. ``peak`` is the most
    bytes alive at once, ``live`` the bytes still alive.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._storages: dict[int, int] = {}  # data_ptr -> bytes

    def _freed(self, ptr: int) -> None:
        self.live -= self._storages.pop(ptr, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor)
        }
        out = func(*args, **kwargs)
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            # a view or an in-place result shares an input's storage: nothing new
            if ptr in inputs or ptr in self._storages or storage.nbytes() == 0:
                continue
            self._storages[ptr] = storage.nbytes()
            weakref.finalize(storage, self._freed, ptr)
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
        return out


def peak_memory(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Peak bytes of tensor memory allocated while ``fn()`` runs, above what was there before.

    CUDA: the caching allocator's statistics. Elsewhere: :class:`TensorMemoryTracker`.
    """
    device = torch.device(device)
    if device.type == "cuda":
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with TensorMemoryTracker() as tracker:
        fn()
    return tracker.peak


# ---------------------------------------------------------------------------
# The implementations compared in notebook 11, all with the same weights
# ---------------------------------------------------------------------------


class WrapperWithProjection(nn.Module):
    """:class:`MultiHeadAttentionWrapper` followed by an output projection.

    The wrapper only concatenates its heads; with the projection added it
    computes the same function as :class:`MultiHeadAttention`.
    """

    def __init__(self, wrapper: MultiHeadAttentionWrapper, out_proj: nn.Linear) -> None:
        super().__init__()
        self.wrapper, self.out_proj = wrapper, out_proj

    @classmethod
    def from_multi_head(cls, mha: MultiHeadAttention) -> WrapperWithProjection:
        """Split ``mha``'s projections into one :class:`CausalAttention` per head."""
        bias = mha.W_query.bias is not None
        hd = mha.head_dim
        wrapper = MultiHeadAttentionWrapper(
            mha.d_in, hd, mha.context_length, mha.dropout.p, mha.num_heads, qkv_bias=bias
        )
        out_proj = nn.Linear(mha.d_out, mha.d_out)
        with torch.no_grad():
            for h, head in enumerate(wrapper.heads):
                rows = slice(h * hd, (h + 1) * hd)  # head h's rows of each projection
                for name in ("W_query", "W_key", "W_value"):
                    getattr(head, name).weight.copy_(getattr(mha, name).weight[rows])
                    if bias:
                        getattr(head, name).bias.copy_(getattr(mha, name).bias[rows])
            out_proj.load_state_dict(mha.out_proj.state_dict())
        device = mha.out_proj.weight.device
        return cls(wrapper, out_proj).to(device).train(mha.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.wrapper(x))  # (B, T, d_out)


class TorchMultiheadAttention(nn.Module):
    """PyTorch's ``nn.MultiheadAttention`` used as causal self-attention: ``x -> (B, T, C)``."""

    def __init__(self, mha: nn.MultiheadAttention, context_length: int) -> None:
        super().__init__()
        self.mha = mha
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

    @classmethod
    def from_multi_head(cls, mha: MultiHeadAttention) -> TorchMultiheadAttention:
        """An ``nn.MultiheadAttention`` with ``mha``'s weights (``in_proj`` stacks Q, K, V)."""
        if mha.d_in != mha.d_out:
            raise ValueError(
                f"nn.MultiheadAttention needs d_in == d_out, got {mha.d_in} and {mha.d_out}"
            )
        theirs = nn.MultiheadAttention(
            mha.d_out, mha.num_heads, dropout=mha.dropout.p, bias=True, batch_first=True
        )
        with torch.no_grad():
            weight, bias = stack_qkv(mha)
            theirs.in_proj_weight.copy_(weight)
            if bias is None:
                theirs.in_proj_bias.zero_()
            else:
                theirs.in_proj_bias.copy_(bias)
            theirs.out_proj.load_state_dict(mha.out_proj.state_dict())
        device = mha.out_proj.weight.device
        return cls(theirs, mha.context_length).to(device).train(mha.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        out, _ = self.mha(x, x, x, attn_mask=self.mask[:T, :T], is_causal=True, need_weights=False)
        return out  # (B, T, C)


def attention_variants(
    d_model: int,
    num_heads: int,
    context_length: int,
    *,
    qkv_bias: bool = False,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, nn.Module]:
    """Every multi-head causal attention of the course and PyTorch's, with the same weights.

    Keys, slowest idea first: the wrapper of single heads (plus an output
    projection), ``MultiHeadAttention`` on its explicit path, the fused-QKV
    variant on the explicit and the SDPA path, ``MultiHeadAttention`` on the
    SDPA path, and ``nn.MultiheadAttention``. Weights are made on the CPU from
    ``seed`` and then moved, so they are the same on every device.
    """
    torch.manual_seed(seed)
    base = MultiHeadAttention(
        d_model, d_model, context_length, 0.0, num_heads, qkv_bias=qkv_bias, use_sdpa=False
    )
    sdpa = MultiHeadAttention(
        d_model, d_model, context_length, 0.0, num_heads, qkv_bias=qkv_bias, use_sdpa=True
    )
    sdpa.load_state_dict(base.state_dict())
    fused_explicit = FusedQKVAttention.from_separate(base)
    fused_sdpa = FusedQKVAttention.from_separate(sdpa)
    variants = {
        "wrapper of heads": WrapperWithProjection.from_multi_head(base),
        "MHA explicit": base,
        "fused QKV explicit": fused_explicit,
        "fused QKV + SDPA": fused_sdpa,
        "MHA + SDPA": sdpa,
        "nn.MultiheadAttention": TorchMultiheadAttention.from_multi_head(base),
    }
    return {name: module.to(device).eval() for name, module in variants.items()}
