"""Lesson 03 exercises: how often each id is a target, shifting sinusoidal positions, analogies."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llm101_helpers.data import SlidingWindowDataset
from llm101_helpers.embeddings import sinusoidal_positions
from llm101_helpers.exercises.checker import Case, Exercise, randn, register


def target_counts(num_ids: int, context_length: int, stride: int) -> list[int]:
    """For each position of the id stream, in how many windows it is a target."""
    counts = [0] * num_ids
    for _, target in SlidingWindowDataset(list(range(num_ids)), context_length, stride):
        for position in target.tolist():
            counts[position] += 1
    return counts


register(Exercise(
    "03.target_counts",
    target_counts,
    [
        Case("windows tile the ids", (9, 4, 4)),
        Case("overlapping windows", (10, 4, 2)),
        Case("stride 1", (7, 3, 1)),
        Case("gaps between windows", (12, 2, 5)),
        Case("exactly one window", (4, 3, 1)),
        Case("the tail does not fill a window", (11, 3, 3)),
    ],
    "window k starts at k * stride, and its targets are the context_length positions after its "
    "first one (the inputs shifted by one). Only full windows exist: a window needs "
    "context_length + 1 ids. Position 0 is never a target; count, for every position, how many "
    "windows' target ranges cover it.",
))  # fmt: skip


def shift_positions(pe: torch.Tensor, k: int) -> torch.Tensor:
    """Rotate every (sin, cos) pair of ``pe`` (..., d) by k times its pair's frequency."""
    d = pe.shape[-1]
    sin_k, cos_k = sinusoidal_positions(k + 1, d)[k].view(d // 2, 2).unbind(-1)  # (d/2,) each
    s, c = pe[..., 0::2], pe[..., 1::2]  # (..., d/2): the sin and cos entries of each pair
    shifted = torch.stack([s * cos_k + c * sin_k, c * cos_k - s * sin_k], dim=-1)
    return shifted.flatten(-2)  # (..., d), pairs interleaved again


_PE = sinusoidal_positions(40, 8)
register(Exercise(
    "03.shift_positions",
    shift_positions,
    [
        Case("one row, d_model=2, shift 1", (sinusoidal_positions(1, 2), 1)),
        Case("shift 0 changes nothing", (_PE[5:7], 0)),
        Case("rows 0-3 shifted by 3", (_PE[:4], 3)),
        Case("row 30 shifted by 9", (_PE[30:31], 9)),
        Case("vectors that are not positions, d_model=6", (randn(3, 6, seed=301), 5)),
        Case("a batch (2, 2, 4), shift 2", (randn(2, 2, 4, seed=302), 2)),
    ],
    "write sin(a + b) and cos(a + b) in terms of sin a, cos a, sin b, cos b. For pair i, a is the "
    "position's angle (unknown to you, but its sine and cosine are the pair's two entries) and b "
    "is k times the pair's frequency. So each pair is turned by a fixed angle: a 2x2 rotation that "
    "works on ANY vector, which is why it also works on vectors that are not position rows.",
    atol=1e-4,
))  # fmt: skip


def analogy(weight: torch.Tensor, a: int, b: int, c: int) -> int:
    """The id d, other than a, b and c, whose vector is closest in angle to b - a + c."""
    unit = F.normalize(weight, dim=-1)  # (V, C): cosine similarity is a dot product of these
    similarity = unit @ (unit[b] - unit[a] + unit[c])  # (V,)
    similarity[[a, b, c]] = float("-inf")
    return int(similarity.argmax())


# man, woman, king, queen, the (long, close to woman), apple: "man is to woman as king is to ?"
_ROYAL = torch.tensor(
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [4.0, 6.0, 3.0],
     [0.0, 0.0, 1.0]]
)  # fmt: skip


def _spread(V: int, C: int, seed: int) -> torch.Tensor:
    """Random vectors with very different lengths, so lengths and angles disagree."""
    lengths = torch.rand(V, 1, generator=torch.Generator().manual_seed(seed)) * 5 + 0.1
    return F.normalize(randn(V, C, seed=seed + 1), dim=-1) * lengths


register(Exercise(
    "03.analogy",
    analogy,
    [
        Case("man : woman = king : ?", (_ROYAL, 0, 1, 2)),
        Case("woman : man = queen : ?", (_ROYAL, 1, 0, 3)),
        Case("12 random vectors of different lengths", (_spread(12, 4, seed=303), 0, 1, 2)),
        Case("40 random vectors", (_spread(40, 6, seed=305), 7, 3, 11)),
        Case("a = c", (_spread(20, 5, seed=307), 4, 9, 4)),
    ],
    "compare DIRECTIONS, not lengths: scale every vector to length 1 before doing the "
    "arithmetic b - a + c, and rank candidates by cosine similarity with the result. The three "
    "words of the question are not allowed as the answer (b - a + c is usually closest to b or c "
    "themselves). Return a plain Python int.",
))  # fmt: skip
