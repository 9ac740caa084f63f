"""A run stopped mid-way and resumed from its checkpoint ends exactly as an uninterrupted one.

The checkpoint holds the weights and, in ``extra["resume"]``, the optimizer state,
the step, the batch generator, the RNG states (dropout is on, so they matter) and
the history. Two stops: Ctrl-C inside the loop, and ``kill -9`` of the command line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import CharTokenizer
from llm101_helpers.training import (
    TrainConfig,
    load_checkpoint,
    main,
    save_checkpoint,
)
from llm101_helpers.training import distributed as dp

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = CharTokenizer("abcdefghijklmnopqrstuvwxyz .")
MODEL = GPTConfig(vocab_size=28, context_length=16, d_model=32, num_heads=2, num_layers=2,
                  dropout=0.2)  # fmt: skip
CFG = TrainConfig(max_iters=30, batch_size=6, lr=3e-3, min_lr=3e-4, warmup_iters=5,
                  eval_interval=10, eval_iters=2, seed=3, progress=False)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(MODEL.vocab_size, (2000,), generator=torch.Generator().manual_seed(2))
    return ids[:1700], ids[1700:]


def _saver(path: Path, model: GPT):
    def save(state: dict) -> None:
        save_checkpoint(path, model, TOKENIZER, extra={"resume": state})

    return save


def test_ctrl_c_then_resume_continues_as_if_it_had_not_stopped(tmp_path, monkeypatch):
    torch.manual_seed(0)
    straight = GPT(MODEL)
    expected = dp.train_distributed(straight, *_data(), CFG, record_every=1)

    path = tmp_path / "run.pt"
    torch.manual_seed(0)
    model = GPT(MODEL)
    real_step, calls = dp._step, []

    def ctrl_c_at_step_16(*args):
        calls.append(1)
        if len(calls) == 16:
            raise KeyboardInterrupt
        return real_step(*args)

    monkeypatch.setattr(dp, "_step", ctrl_c_at_step_16)
    with pytest.raises(KeyboardInterrupt):
        dp.train_distributed(model, *_data(), CFG, save=_saver(path, model), record_every=1)
    monkeypatch.undo()

    ckpt = load_checkpoint(path)  # the file of step 10 is intact
    assert ckpt.extra["resume"]["step"] == 10
    resumed = dp.train_distributed(ckpt.model, *_data(), CFG, save=_saver(path, ckpt.model),
                                   resume=ckpt.extra["resume"], record_every=1)  # fmt: skip
    assert resumed.steps == expected.steps == list(range(1, 31))
    assert resumed.train_loss == expected.train_loss  # bit for bit: same ops, same order
    assert resumed.val_loss == expected.val_loss
    for name, w in straight.state_dict().items():
        assert torch.equal(ckpt.model.state_dict()[name], w), name
    assert load_checkpoint(path).extra["resume"]["step"] == 30


def test_the_check_above_can_fail_without_the_dropout_rng_state(tmp_path):
    torch.manual_seed(0)
    expected = dp.train_distributed(GPT(MODEL), *_data(), CFG, record_every=1)
    path = tmp_path / "run.pt"
    torch.manual_seed(0)
    model = GPT(MODEL)

    def save_step_10(state: dict) -> None:
        if state["step"] == 10:
            _saver(path, model)(state)

    dp.train_distributed(model, *_data(), CFG, save=save_step_10, record_every=1)
    ckpt = load_checkpoint(path)
    state = ckpt.extra["resume"]
    state["world_size"] = 2  # as if saved by two processes: this one gets fresh dropout masks
    resumed = dp.train_distributed(ckpt.model, *_data(), CFG, resume=state, record_every=1)
    assert resumed.train_loss[:10] == expected.train_loss[:10]  # the history came back
    assert resumed.train_loss[10:] != expected.train_loss[10:]


CLI_ARGS = ["--corpus=poems", "--config=tiny", "--tokenizer=char", "--max-iters=300",
            "--eval-interval=25", "--eval-iters=1", "--batch-size=4", "--dropout=0.1",
            "--no-progress", "--resumable"]  # fmt: skip


def test_command_line_killed_and_resumed_ends_like_an_uninterrupted_run(tmp_path, capsys):
    straight = tmp_path / "straight.pt"
    main([*CLI_ARGS, f"--out={straight}"])
    capsys.readouterr()

    out = tmp_path / "killed.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "llm101_helpers.training", *CLI_ARGS, f"--out={out}"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.monotonic() + 240
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up
    proc.wait()
    stopped_at = load_checkpoint(out).extra["resume"]["step"]
    assert 25 <= stopped_at < 300, "the run should have been killed mid-way"

    main([*CLI_ARGS, f"--out={out}", f"--resume={out}"])
    printed = capsys.readouterr().out
    assert f"step {stopped_at:5d}" not in printed and "step   300" in printed
    a, b = load_checkpoint(straight), load_checkpoint(out)
    assert a.extra["val_loss"] == b.extra["val_loss"]
    for name, w in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[name], w, rtol=0, atol=0)


def test_resume_refuses_a_different_command(tmp_path, capsys):
    out = tmp_path / "run.pt"
    main([*CLI_ARGS[:3], "--max-iters=2", "--eval-interval=2", "--eval-iters=1", "--batch-size=2",
          "--no-progress", "--resumable", f"--out={out}"])  # fmt: skip
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main([*CLI_ARGS[:3], "--max-iters=2", "--eval-interval=2", "--eval-iters=1",
              "--batch-size=2", "--lr=0.01", "--no-progress", f"--resume={out}"])  # fmt: skip
    assert info.value.code == 2
    assert "lr: checkpoint 0.001, now 0.01" in capsys.readouterr().err
