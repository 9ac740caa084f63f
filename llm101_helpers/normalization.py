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


def _check_features(d: int, name: str) -> None:
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"{name}: the number of features d must be a positive int, got {d!r}")


def _check_input(x: torch.Tensor, d: int, name: str) -> None:
    if x.dim() == 0 or x.shape[-1] != d:
        last = "no dimensions" if x.dim() == 0 else f"last dimension {x.shape[-1]}"
        raise ValueError(
            f"{name} was built for d={d} features, but got an input of shape "
            f"{tuple(x.shape)} ({last}); it normalizes over the last dimension, "
            f"which must be {d}"
        )


class LayerNorm(nn.Module):
    """Layer normalization over the last dimension, equal to ``torch.nn.LayerNorm(d)``.

    Each vector of ``d`` features is shifted to mean 0 and scaled to variance 1
    (biased variance, plus ``eps``), then multiplied by ``weight`` and shifted
    by ``bias`` (learned, one per feature) when ``elementwise_affine``.
    """

    def __init__(self, d: int, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        _check_features(d, "LayerNorm")
        self.d = d
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = nn.Parameter(torch.ones(d))  # scale (gamma)
            self.bias = nn.Parameter(torch.zeros(d))  # shift (beta)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d, "LayerNorm")
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1), divides by d
        x_hat = (x - mean) / torch.sqrt(var + self.eps)  # (..., d)
        if self.elementwise_affine:
            x_hat = x_hat * self.weight + self.bias
        return x_hat

    def extra_repr(self) -> str:
        return f"{self.d}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class RMSNorm(nn.Module):
    """Root-mean-square normalization over the last dimension (no mean, no shift).

    ``y = weight * x / sqrt(mean(x**2) + eps)``, as in Llama. Equal to
    ``torch.nn.RMSNorm(d, eps=eps)``. The default ``eps=1e-6`` is Llama's;
    ``torch.nn.RMSNorm`` defaults to the dtype's machine epsilon instead, so
    pass ``eps`` explicitly when comparing the two.
    """

    def __init__(self, d: int, eps: float = 1e-6):
        super().__init__()
        _check_features(d, "RMSNorm")
        self.d = d
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))  # scale (gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d, "RMSNorm")
        rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)  # (..., 1)
        return x / rms * self.weight  # (..., d)

    def extra_repr(self) -> str:
        return f"{self.d}, eps={self.eps}"
