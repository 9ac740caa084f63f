"""Normalization layers: LayerNorm and RMSNorm.

Notebook 08 derives both; this module is where they end up.

Why normalize
-------------
A deep network multiplies its input by one weight matrix after another. If
each layer scales its input's spread by a factor a little below 1, the signal
(and, in the backward pass, the gradient) shrinks geometrically with depth
and vanishes; a factor a little above 1 makes it explode. And as the weights
change during training, the distribution each layer receives keeps shifting
(*internal covariate shift*), so later layers chase a moving target. A
normalization layer resets every vector to a fixed scale, so neither can
build up.

LayerNorm
---------
For each vector ``x`` of ``d`` features (the last dimension; every position
of every sequence on its own):

    mean   = x.mean()
    var    = ((x - mean) ** 2).mean()          # biased: divide by d, not d - 1
    x_hat  = (x - mean) / sqrt(var + eps)       # mean 0, variance ~1
    y      = weight * x_hat + bias              # learned scale and shift

The variance is the *biased* one (divide by ``d``) because it describes these
``d`` numbers, not an estimate of a population's variance; it is what
``torch.nn.LayerNorm`` uses, so the two agree. ``eps`` keeps the division
finite for a constant vector. ``weight`` (the scale, often written gamma)
starts at 1 and ``bias`` (the shift, beta) at 0, so at first the layer only
normalizes; training may then learn another scale and offset per feature.
The parameter names match ``torch.nn.LayerNorm``'s, so ``load_state_dict``
moves weights between the two.

RMSNorm
-------
The variant in most recent models (Llama, Mistral, Gemma, ...) skips the mean
and the shift and divides by the root mean square:

    y = weight * x / sqrt((x ** 2).mean() + eps)

It is cheaper and works as well in practice: what matters is controlling the
scale. Its output has root mean square ~1, not mean 0.

Both layers accept any input ``(..., d)`` and raise ``ValueError`` naming
both numbers when the last dimension is not ``d``.
"""

from __future__ import annotations

import torch
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
        mean = h.mean(dim=-1, keepdim=True)  # (..., 1)
        var = h.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1), divides by d_model
        x_hat = (h - mean) / torch.sqrt(var + self.eps)  # (..., d_model)
        if self.elementwise_affine:
            x_hat = x_hat * self.weight + self.bias
        return x_hat.to(x.dtype)

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
        rms = torch.sqrt(h.pow(2).mean(dim=-1, keepdim=True) + self.eps)  # (..., 1)
        return (h / rms * self.weight).to(x.dtype)  # (..., d_model)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"
