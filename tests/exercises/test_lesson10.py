"""Lesson 10's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import functools
import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.exercises.lesson10 import PAD, _one_thread, _order2_stream, ablation_loss
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.training import TrainConfig, evaluate, train
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _lr(step, lr, min_lr, warmup, max_iters, plus=1, boundary=0, clamp=True, from_warmup=True):
    """Warmup + cosine written from the formula, with a chosen mistake."""
    if step < warmup + boundary:
        return lr * (step + plus) / warmup
    start = warmup if from_warmup else 0
    progress = (step - start) / (max_iters - start)
    progress = min(progress, 1.0) if clamp else progress
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def _masked_ce(logits, targets, over_all=False, clamp=False, total=False, log_of_softmax=False):
    """Cross-entropy position by position with a loop, with a chosen mistake."""
    losses, real = [], 0
    for b in range(targets.shape[0]):
        for t in range(targets.shape[1]):
            target = int(targets[b, t])
            if target == PAD and not clamp:
                continue
            target = max(target, 0)
            row = logits[b, t]
            logp = torch.log(torch.softmax(row, -1)) if log_of_softmax else row.log_softmax(-1)
            losses.append(-logp[target])
            real += 1
    if total:
        return torch.stack(losses).sum()
    return torch.stack(losses).sum() / (targets.numel() if over_all else real)


@functools.cache
def _run(positions=True, heads=4, retrain_table=False, drop_tokens=False, steps=150):
    """The recipe run another way (a chosen mistake): (first, last) validation loss."""
    train_ids, val_ids = _order2_stream()
    with _one_thread():
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=8, context_length=16, d_model=32, num_heads=heads,
                              num_layers=1))  # fmt: skip
        emb = model.embedding
        table = emb.token_embedding.weight if drop_tokens else emb.position_embedding.weight
        if not positions:
            with torch.no_grad():
                table.zero_()
            table.requires_grad_(retrain_table)
        if steps == 0:
            return evaluate(model, val_ids, batch_size=32, eval_iters=10)
        cfg = TrainConfig(max_iters=steps, batch_size=32, lr=1e-2, min_lr=1e-3, warmup_iters=10,
                          eval_interval=steps, eval_iters=10, seed=0, progress=False)  # fmt: skip
        return train(model, train_ids, val_ids, cfg).val_loss[-1]


WRONG = {
    "10.learning_rate": {
        "warmup off by one (step / warmup)": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, plus=0),
        "warmup boundary <=": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, boundary=1),
        "decays to 0, not min_lr": lambda s, lr, lo, w, m: _lr(s, lr, 0.0, w, m),
        "no clamp past max_iters": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, clamp=False),
        "progress from step 0": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, from_warmup=False),
    },
    "10.masked_cross_entropy": {
        "mean over every position": lambda z, t: _masked_ce(z, t, over_all=True),
        "padding scored as token 0": lambda z, t: _masked_ce(z, t, clamp=True),
        "sum, not mean": lambda z, t: _masked_ce(z, t, total=True),
        "log of softmax": lambda z, t: _masked_ce(z, t, log_of_softmax=True),
        "F.cross_entropy without ignore_index": lambda z, t: F.cross_entropy(
            z.flatten(0, 1), t.flatten().clamp_min(0)
        ),
    },
    "10.ablation": {
        "positions left in": lambda pos, heads: _run(True, heads),
        "table zeroed but still trained": lambda pos, heads: _run(pos, heads, retrain_table=True),
        "the untrained model's loss": lambda pos, heads: _run(pos, heads, steps=0),
        "token table removed instead": lambda pos, heads: _run(pos, heads, drop_tokens=True),
        "loss in bits": lambda pos, heads: ablation_loss(pos, heads) / math.log(2),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("10.learning_rate", _lr)
    assert_passes("10.masked_cross_entropy", lambda z, t: _masked_ce(z, t))
    assert_passes("10.ablation", lambda pos, heads: _run(pos, heads))


def _conditional_entropy(ids: list[int], order: int) -> float:
    """Entropy of the next token given the previous ``order`` tokens, counted on ``ids``."""
    contexts, pairs = Counter(), Counter()
    for t in range(order, len(ids)):
        context = tuple(ids[t - order : t])
        contexts[context] += 1
        pairs[context, ids[t]] += 1
    n = sum(pairs.values())
    return -sum(c / n * math.log(c / contexts[ctx]) for (ctx, _), c in pairs.items())


def test_the_ablation_shows_what_the_notebook_says():
    """With positions the model uses the token before the last (it beats every model that sees
    only the last token); without them it cannot, and the loss stays clearly higher. One head
    does as well as four here. Nothing beats the stream's own noise."""
    _, val_ids = _order2_stream()
    val = val_ids.tolist()
    last_token_only, rule_with_noise = _conditional_entropy(val, 1), _conditional_entropy(val, 2)
    baseline, no_positions, one_head = (
        ablation_loss(True, 4),
        ablation_loss(False, 4),
        ablation_loss(True, 1),
    )
    assert rule_with_noise - 0.05 < baseline < last_token_only - 0.3
    assert no_positions > baseline + 0.2
    assert abs(one_head - baseline) < 0.1
