"""Data parallelism: two gloo processes with batch b train exactly like one process with 2b.

The two-process runs use ``torch.multiprocessing.spawn`` on CPUs (the NCCL path is
the same code with ``cuda:LOCAL_RANK`` devices; it needs GPUs to run). The reference
is the course's own one-device loop, :func:`llm101_helpers.training.train`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from llm101_helpers.data import SlidingWindowDataset
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.training import TrainConfig, get_batch, load_checkpoint, main, train
from llm101_helpers.training.distributed import (
    DistributedContext,
    allreduce_demo,
    distributed,
    setup_distributed,
    shard_batch,
    train_distributed,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = GPTConfig(vocab_size=48, context_length=16, d_model=32, num_heads=2, num_layers=2)
# grad_clip 0.1 keeps clipping active, so it must act on the global batch's gradient
CFG = TrainConfig(max_iters=30, batch_size=8, lr=3e-3, min_lr=3e-4, warmup_iters=5,
                  grad_clip=0.1, eval_interval=10, eval_iters=2, seed=5,
                  progress=False)  # fmt: skip


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(MODEL.vocab_size, (3000,), generator=torch.Generator().manual_seed(1))
    return ids[:2600], ids[2600:]


def _model() -> GPT:
    torch.manual_seed(0)
    return GPT(MODEL)


def _worker(rank: int, world_size: int, init_file: str, out_dir: str, fail_at: int) -> None:
    """One rank: train on its shard; save its history and weights to ``out_dir``."""
    torch.set_num_threads(1)
    with distributed("cpu", rank=rank, world_size=world_size, init_method=f"file://{init_file}"):
        if fail_at and rank == 1:
            raise RuntimeError("rank 1 fails on purpose")
        model = _model()
        train_ids, val_ids = _data()
        history = train_distributed(model, train_ids, val_ids, CFG, _context(), record_every=1)
        torch.save({"history": asdict(history), "weights": model.state_dict()},
                   Path(out_dir) / f"rank{rank}.pt")  # fmt: skip


def _context() -> DistributedContext:
    import torch.distributed as dist

    return DistributedContext(dist.get_rank(), dist.get_rank(), dist.get_world_size(),
                              torch.device("cpu"), "gloo")  # fmt: skip


def _spawn(world_size: int, fail_at: int = 0) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        init_file = str(Path(tmp) / "rendezvous")
        mp.spawn(_worker, args=(world_size, init_file, tmp, fail_at), nprocs=world_size)
        return [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(world_size)]


@pytest.fixture(scope="module")
def one_process_2b():
    """The course's one-device loop with the whole batch of 8."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    model = _model()
    history = train(model, *_data(), CFG)
    torch.set_num_threads(before)
    return history, model.state_dict()


def test_shards_are_different_rows_that_make_up_the_one_process_batch():
    windows = SlidingWindowDataset(torch.arange(500), context_length=8, stride=1)
    x_all, y_all = get_batch(windows, 6, 8, torch.Generator().manual_seed(3))
    shards = [
        shard_batch(windows, 6, DistributedContext(rank, rank, 3), torch.Generator().manual_seed(3))
        for rank in range(3)
    ]
    assert all(x.shape == (2, 8) for x, _ in shards)
    assert torch.equal(torch.cat([x for x, _ in shards]), x_all)
    assert torch.equal(torch.cat([y for _, y in shards]), y_all)
    assert not torch.equal(shards[0][0], shards[1][0])  # each rank reads other windows


def test_a_global_batch_that_does_not_divide_is_refused():
    windows = SlidingWindowDataset(torch.arange(100), context_length=4, stride=1)
    with pytest.raises(ValueError, match="batch_size 7 must divide evenly among 2 processes"):
        shard_batch(windows, 7, DistributedContext(0, 0, 2), torch.Generator())


def test_without_torchrun_there_is_one_process_and_no_group(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    ctx = setup_distributed("cpu")
    assert (ctx.rank, ctx.world_size, ctx.backend, ctx.device.type) == (0, 1, None, "cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="rank 2, world_size 2"):
        setup_distributed("cpu")


def test_one_process_takes_the_same_steps_as_the_course_loop(one_process_2b):
    history, weights = one_process_2b
    torch.set_num_threads(1)
    model = _model()
    ours = train_distributed(model, *_data(), CFG)
    assert ours.train_loss == pytest.approx(history.train_loss, rel=1e-5)
    assert ours.val_loss == pytest.approx(history.val_loss, rel=1e-5)
    for name, w in model.state_dict().items():
        torch.testing.assert_close(w, weights[name], rtol=1e-5, atol=1e-6)


def test_two_gloo_processes_with_b_equal_one_process_with_2b(one_process_2b):
    history, weights = one_process_2b
    rank0, rank1 = _spawn(2)
    for name, w in rank0["weights"].items():
        assert torch.equal(w, rank1["weights"][name]), f"the ranks' copies of {name} differ"
    ddp = rank0["history"]
    assert len(ddp["train_loss"]) == CFG.max_iters  # recorded at every step
    one = {s: loss for s, loss in zip(history.steps, history.train_loss, strict=True)}
    per_step = dict(zip(ddp["steps"], ddp["train_loss"], strict=True))
    assert [per_step[s] for s in one] == pytest.approx(list(one.values()), rel=1e-4)
    assert ddp["val_loss"] == pytest.approx(history.val_loss, rel=1e-4)
    assert ddp["eval_train_loss"] == pytest.approx(history.eval_train_loss, rel=1e-4)
    moved = max((weights[n] - _model().state_dict()[n]).abs().max() for n in weights)
    assert moved > 1e-3  # the weights did change; now they must agree far more closely
    for name, w in rank0["weights"].items():
        torch.testing.assert_close(w, weights[name], rtol=1e-4, atol=2e-5)


def test_an_error_in_one_rank_ends_the_run_instead_of_hanging():
    with pytest.raises(mp.ProcessRaisedException, match="rank 1 fails on purpose"):
        _spawn(2, fail_at=1)


def test_allreduce_demo_averages_to_the_full_batch_gradient(tmp_path):
    out = tmp_path / "grads.pt"
    mp.spawn(allreduce_demo, args=(2, str(tmp_path / "init"), str(out)), nprocs=2)
    result = torch.load(out)
    w = torch.zeros(3, requires_grad=True)
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    ((x @ w - y) ** 2).mean().backward()
    torch.testing.assert_close(result["averaged"], w.grad)
    assert not torch.allclose(result["local"][0], result["local"][1])  # halves differ


CLI_ARGS = ["--corpus=poems", "--config=tiny", "--tokenizer=char", "--max-iters=20",
            "--eval-interval=10", "--eval-iters=1", "--batch-size=4", "--no-progress",
            "--device=cpu"]  # fmt: skip


def test_torchrun_two_processes_run_the_command_line_like_one(tmp_path, capsys):
    one = tmp_path / "one.pt"
    main([*CLI_ARGS, "--resumable", f"--out={one}"])
    capsys.readouterr()
    two = tmp_path / "two.pt"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", "-m", "llm101_helpers.training"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([*torchrun, *CLI_ARGS, f"--out={two}"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batch: 4 windows per step = 2 x 2" in result.stdout
    assert result.stdout.count("step    20:") == 1  # rank 0 alone prints
    a, b = load_checkpoint(one), load_checkpoint(two)
    assert b.extra["world_size"] == 2 and b.extra["steps"] == 20
    assert b.extra["val_loss"] == pytest.approx(a.extra["val_loss"], rel=1e-4)
    for name, w in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[name], w, rtol=1e-4, atol=2e-5)
