"""Normalization layers: ``LayerNorm`` and ``RMSNorm`` (notebook 08 derives both).

Each rescales every vector of ``d_model`` features (the last dimension) on its
own, so that depth can neither shrink nor blow up the signal::

    LayerNorm:  y = weight * (x - mean) / sqrt(var + eps) + bias   # biased var (divide by d_model)
    RMSNorm:    y = weight * x / sqrt(mean(x ** 2) + eps)           # no mean, no shift (Llama)

Both equal ``torch.nn.LayerNorm`` / ``torch.nn.RMSNorm`` and share their
parameter names, so ``load_state_dict`` moves weights between them. They compute
with PyTorch's fused kernels (``F.layer_norm``, ``F.rms_norm``): one operation
forward and one backward instead of the formula's half-dozen; the tests check
them against the formula above, forward and backward. For float16 and bfloat16
input the statistics are computed in float32 and the output keeps the input's
dtype. An input whose last dimension is not ``d_model`` raises ``ValueError``
naming both numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LayerNorm", "RMSNorm"]


def _check_features(d_model: int, name: str) -> None:
    if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model < 1:
        raise ValueError(
            f"{name}: the number of features d_model must be a positive int, got {d_model!r}"
        )


def _check_input(x: torch.Tensor, d_model: int, name: str) -> None:
    if x.dim() == 0 or x.shape[-1] != d_model:
        last = "no dimensions" if x.dim() == 0 else f"last dimension {x.shape[-1]}"
        raise ValueError(
            f"{name} was built for d_model={d_model} features, but got an input of shape "
            f"{tuple(x.shape)} ({last}); it normalizes over the last dimension, "
            f"which must be {d_model}"
        )


def _float32_or_wider(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is a narrower float (float16, bfloat16), else unchanged.

    The statistics of a norm are sums of squares: in float16 they overflow (300**2
    is past its largest value, 65504) and in bfloat16 they lose most digits.
    ``torch.nn.LayerNorm`` computes them in float32 too and returns the input's dtype.
    """
    if x.is_floating_point() and torch.finfo(x.dtype).bits < 32:
        return x.float()
    return x


def _like(p: torch.Tensor | None, h: torch.Tensor) -> torch.Tensor | None:
    """Parameter ``p`` in the dtype of ``h`` (the fused kernels want one dtype for all)."""
    return p if p is None or p.dtype == h.dtype else p.to(h.dtype)


class LayerNorm(nn.Module):
    """Layer normalization over the last dimension, equal to ``torch.nn.LayerNorm(d_model)``.

    Each vector of ``d_model`` features is shifted to mean 0 and scaled to variance 1
    (biased variance, plus ``eps``), then multiplied by ``weight`` and shifted
    by ``bias`` (learned, one per feature) when ``elementwise_affine``.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        _check_features(d_model, "LayerNorm")
        self.d_model = d_model
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(d_model))  # scale (gamma)
            self.bias = nn.Parameter(torch.zeros(d_model))  # shift (beta)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d_model, "LayerNorm")
        h = _float32_or_wider(x)  # float16 would overflow x**2 for |x| > 256
        # One fused kernel for: (h - mean) / sqrt(var + eps) * weight + bias, var biased
        weight, bias = _like(self.weight, h), _like(self.bias, h)
        return F.layer_norm(h, (self.d_model,), weight, bias, self.eps).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(nn.Module):
    """Root-mean-square normalization over the last dimension (no mean, no shift).

    ``y = weight * x / sqrt(mean(x**2) + eps)``, as in Llama. Equal to
    ``torch.nn.RMSNorm(d_model, eps=eps)``. The default ``eps=1e-6`` is Llama's;
    ``torch.nn.RMSNorm`` defaults to the dtype's machine epsilon instead, so
    pass ``eps`` explicitly when comparing the two.
    """

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        _check_features(d_model, "RMSNorm")
        self.d_model = d_model
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # scale (gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d_model, "RMSNorm")
        h = _float32_or_wider(x)
        # One fused kernel for: h / sqrt(mean(h ** 2) + eps) * weight
        return F.rms_norm(h, (self.d_model,), _like(self.weight, h), self.eps).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"
