"""Lesson 08 exercises: layer norm as a function, batch norm's axes, folding a norm into a layer."""

from __future__ import annotations

import torch

from llm101_helpers.exercises.checker import Case, Exercise, randn, register
from llm101_helpers.normalization import LayerNorm


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    """The package's LayerNorm with these parameters: (..., d) -> (..., d)."""
    norm = LayerNorm(x.shape[-1], eps=eps)
    norm.load_state_dict({"weight": weight, "bias": bias})
    with torch.no_grad():
        return norm(x)


register(Exercise(
    "08.layer_norm",
    layer_norm,
    [
        Case("one vector, scale 1, shift 0",
             (torch.tensor([2.0, -1.0, 0.5, 4.0, 3.5, -3.0]), torch.ones(6), torch.zeros(6), 1e-5)),
        Case("a (2, 3, 4) batch, random scale and shift",
             (randn(2, 3, 4, seed=801), randn(4, seed=802), randn(4, seed=803), 1e-5)),
        Case("two features",
             (torch.tensor([[1.0, 3.0], [-2.0, 0.0]]), torch.ones(2), torch.zeros(2), 1e-5)),
        Case("a constant vector (variance 0)",
             (torch.full((4,), 3.0), torch.ones(4), torch.tensor([0.0, 1.0, 2.0, 3.0]), 1e-5)),
        Case("a large eps = 0.5", (torch.tensor([0.0, 1.0]), torch.ones(2), torch.zeros(2), 0.5)),
    ],
    "each vector on its own: its mean and variance over its own features (the last dimension, "
    "kept for broadcasting). Which variance does the notebook use, dividing by d or by d - 1? "
    "eps goes where it prevents a division by zero, under the square root. Scale and shift come "
    "last.",
))  # fmt: skip


def batch_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Training-mode batch normalization of (B, T, C): per feature, over all B * T vectors."""
    flat = x.reshape(-1, x.shape[-1])  # (B * T, C): every token of every sequence
    mean = flat.mean(dim=0)  # (C,)
    var = ((flat - mean) ** 2).mean(dim=0)  # (C,), biased
    return (x - mean) / torch.sqrt(var + eps)  # (B, T, C)


register(Exercise(
    "08.batch_norm",
    batch_norm,
    [
        Case("one sequence of 3 tokens, 2 features",
             (torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]]]), 1e-5)),
        Case("a (2, 3, 4) batch", (randn(2, 3, 4, seed=811) * 3 + 1, 1e-5)),
        Case("a batch of single tokens (4, 1, 3)", (randn(4, 1, 3, seed=812), 1e-5)),
        Case("a feature that never changes (variance 0)",
             (torch.tensor([[[0.5, 2.0], [-2.0, 2.0]], [[1.0, 2.0], [3.5, 2.0]]]), 1e-5)),
        Case("a large eps = 1", (randn(3, 2, 2, seed=813), 1.0)),
    ],
    "layer normalization computes statistics over the features of ONE vector; batch "
    "normalization turns that around: one mean and one variance PER FEATURE, taken over every "
    "vector in the batch (every sequence and every position). Use the biased variance (divide by "
    "the number of vectors) and put eps under the square root, as for layer norm. No learned scale "
    "or shift here.",
))  # fmt: skip


def fold_layer_norm(
    weight: torch.Tensor, bias: torch.Tensor, W: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(W2, b2) with W2 @ x_hat + b2 == W @ (weight * x_hat + bias) + b for every x_hat."""
    W2 = W * weight.unsqueeze(0)  # (out, d): column k scaled by weight[k]
    b2 = b + W @ bias  # (out,): the shift, pushed through the layer
    return W2, b2


def _fold_case(d: int, out: int, seed: int) -> tuple:
    return (randn(d, seed=seed) + 1, randn(d, seed=seed + 1), randn(out, d, seed=seed + 2),
            randn(out, seed=seed + 3))  # fmt: skip


register(Exercise(
    "08.fold_layer_norm",
    fold_layer_norm,
    [
        Case("scale 1, shift 0: nothing to fold",
             (torch.ones(2), torch.zeros(2), torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
              torch.tensor([0.5, -0.5]))),
        Case("d=3, a 3 -> 3 layer", _fold_case(3, 3, seed=821)),
        Case("d=4, a 4 -> 2 layer", _fold_case(4, 2, seed=825)),
        Case("d=2, a 2 -> 5 layer", _fold_case(2, 5, seed=829)),
        Case("only a shift", (torch.ones(3), torch.tensor([1.0, -2.0, 0.5]), randn(2, 3, seed=833),
                              torch.zeros(2))),
    ],
    "write the layer after the norm as W (weight * x_hat + bias) + b and expand it: one term is "
    "linear in x_hat, the other does not depend on x_hat at all. weight[k] multiplies input "
    "feature k, and input feature k meets column k of W (W has shape (out, d), as in nn.Linear). "
    "Return the pair (W2, b2).",
))  # fmt: skip
