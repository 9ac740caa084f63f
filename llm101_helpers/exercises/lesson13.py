"""Lesson 13 exercises: accumulation steps for a fixed global batch, the all-reduce of unequal
shards, the bytes a ring all-reduce sends."""

from __future__ import annotations

import torch

from llm101_helpers.exercises.checker import Case, Exercise, randn, register


def accumulation_plan(batch_size: int, world_size: int, max_micro_batch: int) -> tuple[int, int]:
    """(grad_accum_steps, micro_batch_size): the fewest accumulation steps per rank such that
    batch_size == world_size * grad_accum_steps * micro_batch_size and every micro-batch fits."""
    per_rank = batch_size // world_size  # each rank's share of one optimizer step
    steps = 1
    while per_rank % steps or per_rank // steps > max_micro_batch:
        steps += 1
    return steps, per_rank // steps


register(Exercise(
    "13.accumulation_plan",
    accumulation_plan,
    [
        Case("the notebook's run: 8 on 2 ranks, 4 fit", (8, 2, 4)),
        Case("48 on 2 GPUs that fit 12", (48, 2, 12)),
        Case("48 on 4 GPUs that fit 5", (48, 4, 5)),
        Case("56 on 4 GPUs that fit 5", (56, 4, 5)),
        Case("one process, 13 windows, 4 fit", (13, 1, 4)),
        Case("192 on 16 GPUs that fit 64", (192, 16, 64)),
        Case("512 on 8 GPUs that fit 16", (512, 8, 16)),
    ],
    "first work out how many windows of each step one rank is responsible for: the global batch "
    "is shared by all ranks. That share must be cut into equal micro-batches (the loss of a step "
    "is a mean, so every micro-batch should weigh the same), none larger than what fits. Try 1, 2, "
    "3, ... accumulation steps and keep the first that cuts the share evenly AND fits; "
    "rounding up the share divided by the limit is not enough when it does not divide evenly.",
))  # fmt: skip


def weighted_allreduce(grads: list[torch.Tensor], counts: list[int]) -> torch.Tensor:
    """The gradient of the mean loss over all ranks' windows, from each rank's mean-loss
    gradient ``grads[r]`` over its ``counts[r]`` windows."""
    total = torch.zeros_like(grads[0])
    for grad, count in zip(grads, counts, strict=True):
        total += count * grad  # the SUM of this rank's windows' gradients
    return total / sum(counts)


register(Exercise(
    "13.weighted_allreduce",
    weighted_allreduce,
    [
        Case("two ranks, 4 windows each", ([randn(3, seed=1301), randn(3, seed=1302)], [4, 4])),
        Case("two ranks, 3 and 5 windows", ([randn(3, seed=1303), randn(3, seed=1304)], [3, 5])),
        Case("three ranks, 1, 2 and 5 windows",
             ([randn(2, 3, seed=1305), randn(2, 3, seed=1306), randn(2, 3, seed=1307)],
              [1, 2, 5])),
        Case("one rank", ([randn(4, seed=1308)], [6])),
        Case("the last, short batch of an epoch: 8, 8 and 2",
             ([randn(2, 2, seed=1309), randn(2, 2, seed=1310), randn(2, 2, seed=1311)],
              [8, 8, 2])),
    ],
    "each rank's gradient is a MEAN over its own windows. The gradient you want is the mean over "
    "every window of every rank: the sum of all windows' gradients divided by how many windows "
    "there are in all. How do you get back the SUM of one rank's windows' gradients from its "
    "mean? The plain average of the ranks' means is right only when all shards are the same size.",
))  # fmt: skip


def ring_allreduce_bytes(num_params: int, world_size: int, bytes_per_number: int) -> int:
    """Bytes each rank sends in a ring all-reduce of num_params numbers (a multiple of
    world_size) over world_size ranks."""
    chunk = num_params // world_size  # the gradient is cut into world_size equal chunks
    sends = 2 * (world_size - 1)  # world_size - 1 steps to sum, world_size - 1 to share
    return sends * chunk * bytes_per_number


register(Exercise(
    "13.ring_allreduce_bytes",
    ring_allreduce_bytes,
    [
        Case("the course's base GPT, 2 ranks, float32", (11_132_160, 2, 4)),
        Case("the course's base GPT, 4 ranks, float32", (11_132_160, 4, 4)),
        Case("12 numbers, 3 ranks, float32", (12, 3, 4)),
        Case("GPT-2 small, 8 GPUs, float32", (124_439_808, 8, 4)),
        Case("GPT-2 small, 64 GPUs, bfloat16", (124_439_808, 64, 2)),
        Case("one process: nothing to send", (59_072, 1, 4)),
    ],
    "count chunks, not numbers: the gradient is cut into world_size equal chunks. In the first "
    "phase each rank passes one chunk to its neighbour per step until every chunk has collected "
    "the contributions of all ranks: how many steps does that take? The second phase passes the "
    "finished chunks around the ring until every rank holds all of them: how many steps again? "
    "Multiply the chunks one rank sends by the size of a chunk in bytes.",
))  # fmt: skip
