"""Tests for the command line ``python -m llm101_helpers.training``.

A short run must train, print its evaluations and write a checkpoint that
loads; every nonsensical argument must be refused with one ``error:`` line and
status 2 before any corpus is read or tokenizer trained.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm101_helpers.training import cli, load_checkpoint, main

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


BAD_ARGUMENTS = [
    (["--warmup-iters=-50"], "--warmup-iters must be 0 or more, got -50"),
    (["--max-iters=0"], "--max-iters must be at least 1, got 0"),
    (["--batch-size=0"], "--batch-size must be at least 1, got 0"),
    (["--eval-interval=-1"], "--eval-interval must be at least 1, got -1"),
    (["--eval-iters=0"], "--eval-iters must be at least 1, got 0"),
    (["--lr=0"], "--lr must be positive, got 0.0"),
    (["--lr=nan"], "--lr must be positive, got nan"),
    (["--lr=1e-3", "--min-lr=0.01"], "--min-lr must be between 0 and --lr (0.001), got 0.01"),
    (["--val-fraction=1.5"], "--val-fraction must be between 0 and 1, got 1.5"),
    (["--dropout=1.5"], "dropout must be in [0, 1), got 1.5"),
    (["--vocab-size=100"], "vocab_size=100 is too small"),
    (["--device=tpu"], "tpu"),
    (["--max-iters=ten"], "argument --max-iters: invalid int value: 'ten'"),
    (["--config=huge"], "argument --config: invalid choice: 'huge'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_one_line_errors_before_any_work(argv, message, tmp_path, capsys,
                                                          monkeypatch):  # fmt: skip
    def no_corpus(corpus):
        raise AssertionError("the corpus was read before the arguments were checked")

    monkeypatch.setattr(cli, "load_text", no_corpus)
    with pytest.raises(SystemExit) as info:
        main([*argv, f"--out={tmp_path / 'm.pt'}"])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert message in captured.err
    assert not (tmp_path / "m.pt").exists()


def test_python_dash_m_prints_one_line_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "llm101_helpers.training", "--warmup-iters", "-50"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == "error: --warmup-iters must be 0 or more, got -50\n"
    assert result.stdout == ""
