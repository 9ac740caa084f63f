"""Lesson 08's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _ln(x, w, b, eps, unbiased=False, dim=-1, eps_outside=False):
    """Layer norm from mean and var, with a chosen mistake."""
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, keepdim=True, unbiased=unbiased)
    std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return (x - mean) / std * w + b


def _bn(x, eps, dims=(0, 1), unbiased=False, eps_outside=False):
    """Batch norm from torch statistics over chosen dims, with a chosen mistake."""
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, unbiased=unbiased)
    std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return (x - mean) / std


def _fold(w, b, W, bb, rows=False, shift="through", twice=False):
    """The folded layer, with a chosen mistake."""
    W2 = W * w[:, None] if rows else W * w
    if shift == "added":
        return W2, bb + b
    if shift == "dropped":
        return W2, bb
    return W2, bb + (W2 if twice else W) @ b


WRONG = {
    "08.layer_norm": {
        "sample variance (unbiased)": lambda x, w, b, eps: _ln(x, w, b, eps, unbiased=True),
        "eps outside the sqrt": lambda x, w, b, eps: _ln(x, w, b, eps, eps_outside=True),
        "normalised over the first dim": lambda x, w, b, eps: _ln(x, w, b, eps, dim=0),
        "scale and shift swapped": lambda x, w, b, eps: _ln(x, b, w, eps),
    },
    "08.batch_norm": {
        "over the features (layer norm)": lambda x, eps: _bn(x, eps, dims=(-1,)),
        "over the batch only": lambda x, eps: _bn(x, eps, dims=(0,)),
        "over the positions only": lambda x, eps: _bn(x, eps, dims=(1,)),
        "unbiased variance": lambda x, eps: _bn(x, eps, unbiased=True),
        "eps outside the sqrt": lambda x, eps: _bn(x, eps, eps_outside=True),
    },
    "08.fold_layer_norm": {
        "rows scaled instead of columns": lambda w, b, W, bb: _fold(w, b, W, bb, rows=True),
        "shift added as it is": lambda w, b, W, bb: _fold(w, b, W, bb, shift="added"),
        "shift dropped": lambda w, b, W, bb: _fold(w, b, W, bb, shift="dropped"),
        "shift scaled twice": lambda w, b, W, bb: _fold(w, b, W, bb, twice=True),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("08.layer_norm", lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, b, eps))
    assert_passes(
        "08.batch_norm",
        lambda x, eps: F.batch_norm(
            x.reshape(-1, x.shape[-1]), None, None, training=True, eps=eps
        ).reshape(x.shape),
    )
    assert_passes("08.fold_layer_norm", lambda w, b, W, bb: _fold(w, b, W, bb))


def test_folded_layer_computes_the_same_as_norm_then_layer():
    """nn.LayerNorm then nn.Linear equals a scale-free norm then the folded layer."""
    torch.manual_seed(0)
    norm, layer = nn.LayerNorm(6), nn.Linear(6, 3)
    with torch.no_grad():
        norm.weight.normal_(1.0, 0.5)
        norm.bias.normal_()
        W2, b2 = EXERCISES["08.fold_layer_norm"].reference(
            norm.weight, norm.bias, layer.weight, layer.bias
        )
        x = torch.randn(2, 4, 6)
        plain = F.layer_norm(x, (6,))  # no scale, no shift
        torch.testing.assert_close(F.linear(plain, W2, b2), layer(norm(x)))


def test_batch_norm_is_pytorchs_in_training_mode():
    x = torch.randn(3, 5, 4)
    bn = nn.BatchNorm1d(4, affine=False).train()  # expects (N, C, L): features in dim 1
    want = bn(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(EXERCISES["08.batch_norm"].reference(x, 1e-5), want)
