"""Tests for llm101_helpers.training.

Independent checks: a tiny model must drive the loss on one fixed window to
near zero (it can only do so if gradients, optimizer and targets are right);
the learning-rate schedule against its closed form at known points;
``evaluate`` against a hand-computed cross-entropy; checkpoints by comparing
outputs before and after a round trip, and by damaging files.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import BPETokenizer
from llm101_helpers.training import (
    CharTokenizer,
    CheckpointError,
    TrainConfig,
    evaluate,
    get_batch,
    learning_rate,
    load_checkpoint,
    main,
    save_checkpoint,
    split_ids,
    train,
)

TINY = GPTConfig(vocab_size=40, context_length=16, d_model=32, num_heads=2, num_layers=2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine threads wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    with pytest.raises(ValueError, match="8 tokens, too few"):
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


# --- Checkpoints ----------------------------------------------------------------


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train("the sea the sky the shore " * 20, vocab_size=266)


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_checkpoint_round_trip_restores_identical_outputs(tmp_path, bpe, tie, kind):
    tok = bpe if kind == "bpe" else CharTokenizer.train("the sea the sky")
    torch.manual_seed(1)
    cfg = GPTConfig.preset("tiny", vocab_size=tok.vocab_size, tie_weights=tie)
    model = GPT(cfg).eval()
    ids = torch.tensor([tok.encode("the sea")])
    path = save_checkpoint(tmp_path / "m.pt", model, tok, extra={"note": "test"})
    ck = load_checkpoint(path)
    assert ck.config == cfg and ck.extra == {"note": "test"}
    torch.testing.assert_close(ck.model(ids), model(ids), rtol=0, atol=0)
    assert ck.tokenizer.encode("the sky") == tok.encode("the sky")
    if tie:
        assert ck.model.out_head.weight is ck.model.tok_emb.weight
    # into an existing model of the same shape
    torch.manual_seed(2)
    other = GPT(cfg)
    load_checkpoint(path, model=other)
    torch.testing.assert_close(other(ids), model(ids), rtol=0, atol=0)
    # and torch.load with weights_only=True reads it directly
    assert "state_dict" in torch.load(path, weights_only=True)


def test_checkpoint_config_mismatch_names_the_fields(tmp_path):
    tok = CharTokenizer.train("abc")
    model = GPT(GPTConfig.preset("tiny", vocab_size=3))
    path = save_checkpoint(tmp_path / "m.pt", model, tok)
    wrong = GPT(GPTConfig.preset("tiny", vocab_size=3, num_layers=3))
    with pytest.raises(CheckpointError, match=r"num_layers: checkpoint 2, model 3"):
        load_checkpoint(path, model=wrong)


def test_corrupted_checkpoints_raise_clear_errors(tmp_path):
    tok = CharTokenizer.train("abc")
    model = GPT(GPTConfig.preset("tiny", vocab_size=3))
    path = save_checkpoint(tmp_path / "m.pt", model, tok)
    raw = path.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(truncated)

    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint at all")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(garbage)

    # weights changed after saving (checksum no longer matches)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["tok_emb.weight"][0, 0] += 1.0
    edited = tmp_path / "edited.pt"
    torch.save(payload, edited)
    with pytest.raises(CheckpointError, match="failed its checksum"):
        load_checkpoint(edited)

    # flipped bytes inside the file: either torch or the checksum notices
    flipped = bytearray(raw)
    for i in range(len(raw) // 3, len(raw) // 3 + 64):
        flipped[i] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an llm101 GPT checkpoint"):
        load_checkpoint(foreign)


def test_command_line_trains_a_few_steps_and_writes_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "cli.pt"
    summary = main(
        [
            "--corpus=poems",
            "--config=tiny",
            "--tokenizer=char",
            "--max-iters=6",
            "--eval-interval=3",
            "--eval-iters=1",
            "--batch-size=4",
            "--no-progress",
            f"--out={out}",
        ]
    )
    printed = capsys.readouterr().out
    assert "step     0:" in printed and "step     6:" in printed and "written to" in printed
    ck = load_checkpoint(out)
    assert ck.extra["steps"] == 6 and ck.extra["corpus"] == "poems"
    assert ck.extra["command"].startswith("python -m llm101_helpers.training --corpus=poems")
    assert ck.config.vocab_size == ck.tokenizer.vocab_size
    assert summary["val_loss"] == pytest.approx(ck.extra["val_loss"])
