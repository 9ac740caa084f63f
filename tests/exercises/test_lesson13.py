"""Lesson 13's exercises: plausible mistakes are caught; answers written another way pass.

The references are also checked against what they stand for: a brute-force search of every
(steps, micro-batch) pair, autograd on the whole batch of unequal shards, and a simulated ring
all-reduce that counts the bytes each rank sends (no process group is started).
"""

from __future__ import annotations

import math

import pytest
import torch

from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _plan(batch, world, fits, *, per_world=True, divides=True, full=False):
    """An accumulation plan with a chosen mistake."""
    share = batch // world if per_world else batch
    if full:  # always the largest micro-batch that fits
        micro = min(fits, share)
        return math.ceil(share / micro), micro
    steps = math.ceil(share / fits)
    while divides and share % steps:
        steps += 1
    return steps, share // steps


def _wsum(grads, counts):
    """The count-weighted sum of the ranks' gradients."""
    return sum(n * g for n, g in zip(counts, grads, strict=True))


def _weighted(grads, counts):
    return _wsum(grads, counts) / sum(counts)


def _ring(P, N, b, *, phases=2, total=False, per_rank=True):
    """Ring all-reduce bytes with a chosen mistake."""
    sent = phases * (N - 1) * (P // N if per_rank else P) * b
    return sent * N if total else sent


WRONG = {
    "13.accumulation_plan": {
        "ignores world_size": lambda B, W, m: _plan(B, W, m, per_world=False),
        "rounds up without dividing evenly": lambda B, W, m: _plan(B, W, m, divides=False),
        "always the largest micro-batch": lambda B, W, m: _plan(B, W, m, full=True),
        "rounds down": lambda B, W, m: (max(1, B // W // m), B // W // max(1, B // W // m)),
        "micro-batch first": lambda B, W, m: _plan(B, W, m)[::-1],
    },
    "13.weighted_allreduce": {
        "plain average of the ranks' means": lambda g, n: sum(g) / len(g),
        "sum without dividing (all_reduce alone)": lambda g, n: sum(g),
        "weighted sum divided by world_size": lambda g, n: _wsum(g, n) / len(g),
        "weighted sum, not divided": lambda g, n: _wsum(g, n),
        "weights inverted": lambda g, n: _wsum(g, [1 / c for c in n]) / sum(1 / c for c in n),
    },
    "13.ring_allreduce_bytes": {
        "reduce-scatter only": lambda P, N, b: _ring(P, N, b, phases=1),
        "the whole gradient to every other rank": lambda P, N, b: (N - 1) * P * b,
        "every rank together": lambda P, N, b: _ring(P, N, b, total=True),
        "numbers, not bytes": lambda P, N, b: _ring(P, N, 1),
        "2 x the gradient, whatever N": lambda P, N, b: 2 * P * b,
        "a float": lambda P, N, b: 2 * (N - 1) / N * P * b,
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("13.accumulation_plan", _plan)
    assert_passes("13.weighted_allreduce", _weighted)
    assert_passes("13.ring_allreduce_bytes", lambda P, N, b: 2 * (N - 1) * P * b // N)


@pytest.mark.parametrize("batch, world", [(8, 2), (48, 4), (56, 4), (13, 1), (96, 3)])
@pytest.mark.parametrize("fits", [1, 2, 5, 12, 100])
def test_accumulation_plan_is_the_fewest_steps_by_brute_force(batch, world, fits):
    plans = [(s, m) for s in range(1, batch + 1) for m in range(1, fits + 1)
             if world * s * m == batch]  # fmt: skip
    assert EXERCISES["13.accumulation_plan"].reference(batch, world, fits) == min(plans)


def test_weighted_allreduce_is_the_gradient_of_the_whole_batch():
    """Autograd: a linear model's mean squared error over 8 rows, cut into shards of 1, 2, 5."""
    g = torch.Generator().manual_seed(13)
    x, w_true = torch.randn(8, 3, generator=g), torch.randn(3, 2, generator=g)
    y = x @ w_true + 0.1 * torch.randn(8, 2, generator=g)
    w = torch.zeros(3, 2, requires_grad=True)

    def grad(rows: slice) -> torch.Tensor:
        w.grad = None
        ((x[rows] @ w - y[rows]) ** 2).mean().backward()
        return w.grad.clone()

    shards = [slice(0, 1), slice(1, 3), slice(3, 8)]
    reference = EXERCISES["13.weighted_allreduce"].reference
    combined = reference([grad(s) for s in shards], [1, 2, 5])
    torch.testing.assert_close(combined, grad(slice(0, 8)))
    plain = sum(grad(s) for s in shards) / 3
    assert not torch.allclose(plain, grad(slice(0, 8)))  # the mistake the exercise is about


def _simulate_ring(values: list[torch.Tensor], bytes_per_number: int) -> tuple[list, list[int]]:
    """A ring all-reduce (reduce-scatter, then all-gather) of one tensor per rank; returns each
    rank's result and the bytes each rank sent."""
    N = len(values)
    chunks = [list(v.chunk(N)) for v in values]  # chunks[rank][c]
    sent = [0] * N
    for phase in ("reduce-scatter", "all-gather"):
        for step in range(N - 1):
            messages = []
            for rank in range(N):  # every rank sends one chunk to rank + 1, at the same time
                c = (rank - step + (0 if phase == "reduce-scatter" else 1)) % N
                messages.append(((rank + 1) % N, c, chunks[rank][c].clone()))
                sent[rank] += chunks[rank][c].numel() * bytes_per_number
            for dest, c, data in messages:
                chunks[dest][c] = chunks[dest][c] + data if phase == "reduce-scatter" else data
    return [torch.cat(c) for c in chunks], sent


@pytest.mark.parametrize("P, N, b", [(12, 3, 4), (40, 4, 2), (30, 5, 4), (8, 2, 1), (7, 1, 4)])
def test_ring_allreduce_bytes_match_a_simulated_ring(P, N, b):
    values = [torch.randn(P, generator=torch.Generator().manual_seed(r)) for r in range(N)]
    results, sent = _simulate_ring(values, b)
    for result in results:  # the simulation is an all-reduce: every rank holds the sum
        torch.testing.assert_close(result, sum(values))
    reference = EXERCISES["13.ring_allreduce_bytes"].reference
    assert sent == [reference(P, N, b)] * N


def test_ring_traffic_per_rank_stays_below_twice_the_gradient():
    reference = EXERCISES["13.ring_allreduce_bytes"].reference
    gpt2 = 124_439_808 * 4
    sent = [reference(124_439_808, n, 4) for n in (2, 4, 8, 16, 64)]
    assert sent == sorted(sent) and sent[0] == gpt2 and sent[-1] < 2 * gpt2
