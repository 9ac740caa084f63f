"""Tests for llm101_helpers.training: batches, the schedule and the loop.

Independent checks: a tiny model must drive the loss on one fixed window to
near zero (it can only do so if gradients, optimizer and targets are right);
the learning-rate schedule against its closed form at known points;
``evaluate`` against a hand-computed cross-entropy; ``get_batch`` against the
direct indexing it replaced. Checkpoints are in test_checkpoints.py, the
command line in test_cli.py.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import CharTokenizer
from llm101_helpers.training import (
    TrainConfig,
    evaluate,
    get_batch,
    learning_rate,
    split_ids,
    train,
)

TINY = GPTConfig(vocab_size=40, context_length=16, d_model=32, num_heads=2, num_layers=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_overfits_one_window_to_near_zero_loss():
    torch.manual_seed(0)
    model = GPT(TINY)
    window = torch.randint(0, 40, (TINY.context_length + 1,))  # only one window to sample
    cfg = TrainConfig(
        max_iters=150,
        batch_size=4,
        lr=1e-2,
        min_lr=1e-3,
        warmup_iters=10,
        weight_decay=0.0,
        eval_interval=150,
        eval_iters=1,
        progress=False,
    )
    history = train(model, window, window, cfg)
    assert history.val_loss[0] > 3.0  # about ln(40) = 3.7 at the start
    assert history.val_loss[-1] < 0.05
    assert history.eval_steps == [0, 150]
    assert len(history.train_loss) == 15 and history.steps[-1] == 150
    assert not model.training


def test_train_with_bf16_autocast_runs_and_learns():
    torch.manual_seed(0)
    model = GPT(TINY)
    data = torch.arange(400) % 7  # a periodic sequence: easy to predict
    cfg = TrainConfig(
        max_iters=60, batch_size=8, lr=5e-3, warmup_iters=5, eval_interval=30, eval_iters=2
    )
    history = train(model, data, data, TrainConfig(**{**cfg.__dict__, "autocast": True}))
    assert history.val_loss[-1] < history.val_loss[0] / 2


def test_learning_rate_schedule_closed_form():
    cfg = TrainConfig(max_iters=1100, lr=1e-3, min_lr=1e-4, warmup_iters=100)
    assert learning_rate(0, cfg) == pytest.approx(1e-5)
    assert learning_rate(49, cfg) == pytest.approx(5e-4)
    assert learning_rate(100, cfg) == pytest.approx(1e-3)  # peak after warmup
    assert learning_rate(600, cfg) == pytest.approx(5.5e-4)  # cosine half-way: the mean
    assert learning_rate(1100, cfg) == pytest.approx(1e-4)
    lrs = [learning_rate(s, cfg) for s in range(100, 1101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    quarter = 1e-4 + 0.5 * (1 + math.cos(math.pi / 4)) * 9e-4
    assert learning_rate(350, cfg) == pytest.approx(quarter)


def test_evaluate_matches_hand_computed_cross_entropy():
    torch.manual_seed(0)
    model = GPT(TINY).train()
    data = torch.randint(0, 40, (TINY.context_length + 1,))
    loss = evaluate(model, data, batch_size=3, eval_iters=2)
    with torch.no_grad():
        model.eval()
        logits = model(data[None, :-1])[0]
    expected = F.cross_entropy(logits, data[1:]).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    model.train()
    assert evaluate(model, torch.arange(200) % 40) == evaluate(model, torch.arange(200) % 40)
    assert model.training  # mode restored


def test_batches_and_split():
    data = torch.arange(100)
    x, y = get_batch(data, 5, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8)
    torch.testing.assert_close(y, x + 1)  # next-token targets
    assert torch.equal(x[:, 1:] - x[:, :-1], torch.ones(5, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="8 tokens long, shorter than one window"):
        get_batch(torch.arange(8), 2, 8)
    train_ids, val_ids = split_ids(list(range(100)), 0.1)
    assert train_ids.tolist() == list(range(90)) and val_ids.tolist() == list(range(90, 100))
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids([1, 2, 3], 1.5)


def test_char_tokenizer():
    tok = CharTokenizer.train("hello world")
    assert tok.vocab_size == 8 and tok.chars == " dehlorw"
    assert tok.decode(tok.encode("low herd")) == "low herd"
    with pytest.raises(ValueError, match="'z' is not in"):
        tok.encode("zoo")


def _direct_batch(data, batch_size, context_length, generator):
    """Random windows by direct indexing: the draws get_batch made before it used the dataset."""
    starts = torch.randint(len(data) - context_length, (batch_size,), generator=generator)
    windows = data[starts[:, None] + torch.arange(context_length + 1)]  # (B, T + 1)
    return windows[:, :-1], windows[:, 1:]


@pytest.mark.parametrize(
    ("n", "batch_size", "context_length"), [(100, 5, 8), (17, 3, 16), (999, 32, 64)]
)
def test_get_batch_draws_the_same_windows_as_direct_indexing(n, batch_size, context_length):
    data = torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(n))
    ours, direct = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(5):
        x, y = get_batch(data, batch_size, context_length, ours)
        x_ref, y_ref = _direct_batch(data, batch_size, context_length, direct)
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)
    assert torch.equal(ours.get_state(), direct.get_state())  # the same random numbers used


def test_get_batch_refuses_float_ids_and_bad_batch_sizes():
    with pytest.raises(TypeError, match="must be integers"):
        get_batch(torch.tensor([0.5, 1.7, 2.0, 3.0]), 2, 2)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        get_batch(torch.arange(10), 0, 2)


@pytest.mark.parametrize(("bad_id", "which"), [(40, "train_data"), (-1, "val_data")])
def test_train_refuses_ids_outside_the_vocabulary_before_any_step(bad_id, which):
    torch.manual_seed(0)
    model = GPT(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = torch.arange(100) % 40
    bad = data.clone()
    bad[57] = bad_id
    train_data, val_data = (bad, data) if which == "train_data" else (data, bad)
    with pytest.raises(ValueError, match=rf"{which} holds token id {bad_id} \(at position 57\)"
                       r".*vocab_size=40"):  # fmt: skip
        train(model, train_data, val_data, TrainConfig(max_iters=2, progress=False))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_train_config_refuses_negative_warmup_and_decay():
    with pytest.raises(ValueError, match="warmup_iters must be >= 0, got -50"):
        TrainConfig(warmup_iters=-50)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-0.1)


def test_training_is_reproducible_for_a_seed():
    data = torch.arange(600) * 7919 % 37
    cfg = TrainConfig(max_iters=20, batch_size=4, lr=3e-3, eval_interval=10, eval_iters=2,
                      progress=False)  # fmt: skip
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = GPT(GPTConfig(**{**TINY.to_dict(), "dropout": 0.1}))
        runs.append(train(model, data[:500], data[500:], cfg))
    assert runs[0].train_loss == runs[1].train_loss and runs[0].val_loss == runs[1].val_loss
