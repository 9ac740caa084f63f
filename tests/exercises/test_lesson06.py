"""Lesson 06's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import pytest
import torch

from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _window(T, w, reach=0, causal=True, allowed=False, dtype=torch.bool):
    """The local mask built entry by entry, with a chosen mistake."""
    mask = torch.zeros(T, T, dtype=torch.bool)
    for i in range(T):
        for j in range(T):
            mask[i, j] = (causal and j > i) or abs(i - j) >= w + reach
    return (~mask if allowed else mask).to(dtype)


def _padded(scores, lengths, rows=False, both=False, fill=float("-inf"), off=0, pad=True):
    """Causal weights with padding, row by row with a loop, with a chosen mistake."""
    B, T, _ = scores.shape
    out = torch.zeros_like(scores)
    for b in range(B):
        n = int(lengths[b]) + off
        for i in range(T):
            keep = [j <= i for j in range(T)]
            if pad:
                is_pad = [(i if rows else j) >= n for j in range(T)]
                keep = [
                    k and not p if not both else k or not p
                    for k, p in zip(keep, is_pad, strict=True)
                ]
            row = torch.tensor(
                [s if k else fill for s, k in zip(scores[b, i].tolist(), keep, strict=True)]
            )
            out[b, i] = torch.softmax(row, dim=-1)
    return out


def _deps(attn, x, transpose=False, restore=True, nudge=1.0, only_last=False, loose=False):
    """Dependencies found by perturbing inputs, with a chosen mistake."""
    T = x.shape[1]
    with torch.no_grad():
        base = attn(x)
        out = torch.zeros(T, T, dtype=torch.bool)
        work = x.clone()
        g = torch.Generator().manual_seed(0)
        for j in range(T):
            if only_last and j < T - 1:
                out[j, : j + 1] = True  # assumed causal: only the last token is tried
                continue
            if restore:
                work = x.clone()
            work[:, j] += torch.randn(x.shape[-1], generator=g) * nudge
            moved = ~torch.isclose(attn(work), base, atol=1e-3 if loose else 1e-6).all(-1)[0]
            out[:, j] = moved
    return out.T if transpose else out


WRONG = {
    "06.local_causal_mask": {
        "window off by one (w + 1 tokens seen)": lambda T, w: _window(T, w, reach=1),
        "a band on both sides (not causal)": lambda T, w: _window(T, w, causal=False),
        "allowed instead of hidden": lambda T, w: _window(T, w, allowed=True),
        "a float mask": lambda T, w: _window(T, w, dtype=torch.float32),
        "window off by one (w - 1 tokens seen)": lambda T, w: _window(T, w, reach=-1),
    },
    "06.padded_causal_weights": {
        "padding hides the query rows": lambda s, n: _padded(s, n, rows=True),
        "hidden only when future AND padding": lambda s, n: _padded(s, n, both=True),
        "masked with 0 instead of -inf": lambda s, n: _padded(s, n, fill=0.0),
        "padding ignored": lambda s, n: _padded(s, n, pad=False),
        "length off by one": lambda s, n: _padded(s, n, off=1),
    },
    "06.dependencies": {
        "rows and columns swapped": lambda a, x: _deps(a, x, transpose=True),
        "changes pile up (input not restored)": lambda a, x: _deps(a, x, restore=False),
        "only the last token tried": lambda a, x: _deps(a, x, only_last=True),
        "a change too small to see": lambda a, x: _deps(a, x, nudge=1e-9, loose=True),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("06.local_causal_mask", lambda T, w: _window(T, w))
    assert_passes("06.padded_causal_weights", lambda s, n: _padded(s, n))
    assert_passes("06.dependencies", lambda a, x: _deps(a, x))


def test_padded_weights_agree_with_pytorch_attention():
    """The reference, used as attention weights, equals SDPA with the same boolean mask."""
    ref = EXERCISES["06.padded_causal_weights"].reference
    scores, lengths = torch.randn(2, 5, 5), torch.tensor([5, 3])
    allowed = torch.ones(5, 5, dtype=torch.bool).tril() & (torch.arange(5) < lengths[:, None, None])
    v = torch.eye(5).expand(2, 5, 5)  # values = one-hot rows: the output is the weights
    q = scores  # scores = q @ k^T / sqrt(d) with k = I * sqrt(d)
    k = torch.eye(5).expand(2, 5, 5) * 5**0.5
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    torch.testing.assert_close(ref(scores, lengths), want)


def test_dependencies_of_known_layers():
    """Causal attention depends on the past only; a window of 2 on itself and the token before."""
    ref = EXERCISES["06.dependencies"].reference
    cases = {c.label: c.args for c in EXERCISES["06.dependencies"].cases}
    assert torch.equal(ref(*cases["causal attention, 4 tokens"]), torch.ones(4, 4).tril().bool())
    assert torch.equal(ref(*cases["a position-wise linear layer"]), torch.eye(3, dtype=torch.bool))
    assert ref(*cases["attention without a mask"]).all()
    band = torch.ones(5, 5).tril() - torch.ones(5, 5).tril(-2)
    assert torch.equal(ref(*cases["a sliding window of 2"]), band.bool())
    peek = torch.ones(5, 5).tril(1).bool()
    assert torch.equal(ref(*cases["a mask that peeks one token ahead"]), peek)
