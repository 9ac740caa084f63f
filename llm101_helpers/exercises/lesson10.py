"""Lesson 10 exercises: the learning-rate schedule, a loss that skips padding, a small ablation."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from llm101_helpers.exercises.checker import Case, Exercise, randn, register
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.training import TrainConfig, learning_rate, split_ids, train


def lr_at(step: int, lr: float, min_lr: float, warmup_iters: int, max_iters: int) -> float:
    """The package's schedule: linear warmup, then cosine decay to min_lr at max_iters."""
    cfg = TrainConfig(max_iters=max_iters, lr=lr, min_lr=min_lr, warmup_iters=warmup_iters)
    return learning_rate(step, cfg)


_LR = (1.0, 0.1, 10, 110)  # lr, min_lr, warmup_iters, max_iters

register(Exercise(
    "10.learning_rate",
    lr_at,
    [
        Case("step 0, the first warmup step", (0, *_LR)),
        Case("step 4, warming up", (4, *_LR)),
        Case("step 9, the last warmup step", (9, *_LR)),
        Case("step 10, the decay starts", (10, *_LR)),
        Case("step 60, half way down", (60, *_LR)),
        Case("step 110 = max_iters", (110, *_LR)),
        Case("step 150, past max_iters", (150, *_LR)),
        Case("no warmup", (0, 1.0, 0.1, 0, 100)),
    ],
    "two phases. Warmup: a straight line that reaches lr at the LAST warmup step (step "
    "warmup_iters - 1), so step 0 already gets a little. Decay: measure how far the step is "
    "through the decay phase as a fraction from 0 to 1 (counted from the end of warmup, and "
    "never more than 1), and map it through half a cosine period from lr down to min_lr. "
    "Return a Python float.",
))  # fmt: skip


PAD = -100  # the target of a padding position (PyTorch's ignore_index)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose target is not PAD: a 0-dim tensor."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD)


def _targets(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows)


register(Exercise(
    "10.masked_cross_entropy",
    masked_cross_entropy,
    [
        Case("no padding, equal logits", (torch.zeros(1, 3, 5), _targets([[0, 4, 2]]))),
        Case("the last 2 positions are padding",
             (randn(1, 5, 6, seed=1001), _targets([[1, 0, 3, PAD, PAD]]))),
        Case("a batch: one row mostly padding",
             (randn(2, 4, 5, seed=1002) * 2, _targets([[3, 1, 4, 0], [2, PAD, PAD, PAD]]))),
        Case("padding in the middle", (randn(1, 4, 3, seed=1003), _targets([[PAD, 2, PAD, 0]]))),
        Case("large logits (exp overflows)",
             (torch.tensor([[[1000.0, 0.0, -1000.0], [0.0, 1000.0, -1000.0]]]),
              _targets([[1, PAD]]))),
    ],
    "a padding position must not count at all: neither its loss nor its place in the average. "
    "So the mean is over the REAL positions only, and a padding target must never be used as an "
    "index. Take log-probabilities with log_softmax (not the log of a softmax, which gives -inf "
    "for large logits). Return a 0-dimensional tensor.",
))  # fmt: skip


@functools.cache
def _order2_stream() -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook's token stream: each token follows from the two before it, 10% noise."""
    g = torch.Generator().manual_seed(0)
    rule = torch.randint(0, 8, (8, 8), generator=g).tolist()  # rule[a][b]: the token after a, b
    noise = torch.randint(0, 8, (20_000,), generator=g).tolist()
    coins = (torch.rand(20_000, generator=g) < 0.1).tolist()
    ids = [0, 1]
    for t in range(2, 20_000):
        ids.append(noise[t] if coins[t] else rule[ids[-2]][ids[-1]])
    return split_ids(ids, val_fraction=0.1)


@contextmanager
def _one_thread() -> Iterator[None]:
    """A model this small trains fastest (and alike everywhere) on one CPU thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache  # one run per setting and kernel: the learner's runs are the slow part
def ablation_loss(positions: bool, num_heads: int) -> float:
    """Final validation loss of the notebook's one-layer GPT on the order-2 stream."""
    train_ids, val_ids = _order2_stream()
    with _one_thread():
        torch.manual_seed(0)
        cfg = GPTConfig(vocab_size=8, context_length=16, d_model=32, num_heads=num_heads,
                        num_layers=1)  # fmt: skip
        model = GPT(cfg)
        if not positions:  # an all-zero table that never trains adds nothing to any token
            table = model.embedding.position_embedding.weight
            with torch.no_grad():
                table.zero_()
            table.requires_grad_(False)
        run = TrainConfig(max_iters=150, batch_size=32, lr=1e-2, min_lr=1e-3, warmup_iters=10,
                          eval_interval=150, eval_iters=10, seed=0, progress=False)  # fmt: skip
        return train(model, train_ids, val_ids, run).val_loss[-1]


ABLATION_TOLERANCE = 0.1  # runs that follow the recipe land this close to the reference run


def _near_reference_run(expected: float, got: float) -> str | None:
    if abs(got - expected) <= ABLATION_TOLERANCE:
        return None
    return (f"more than {ABLATION_TOLERANCE} away from the reference run's validation loss, "
            "further than following the recipe on another machine moves it")  # fmt: skip


register(Exercise(
    "10.ablation",
    ablation_loss,
    [
        Case("4 heads, with positions (the baseline)", (True, 4)),
        Case("4 heads, no position embeddings", (False, 4)),
        Case("one head, with positions", (True, 1)),
    ],
    "follow the recipe exactly: seed PyTorch with 0 right before building the model, the given "
    "GPTConfig and TrainConfig, and return the LAST validation loss of the history as a float. "
    "To take the positions away, the position table must add nothing to any token during the "
    "WHOLE run: setting it to zero is not enough if the optimizer can train it back.",
    time_limit=60.0,
    compare=_near_reference_run,
))  # fmt: skip
