"""Data-parallel training: one GPT per process, gradients averaged, launched by torchrun.

    torchrun --standalone --nproc_per_node=4 -m llm101_helpers.training --config small

Every process (a *rank*) holds the whole model. Each step all ranks draw the same
global batch of ``batch_size`` windows and each keeps its own ``batch_size / world_size``
rows (:func:`shard_batch`); ``DistributedDataParallel`` averages the gradients across
ranks during ``backward``, so every rank takes the step one process would take on the
whole batch. The learning-rate schedule (per step) and gradient clipping (of the averaged
gradient, the same on every rank) therefore need no change. Evaluation is sharded the
same way and all-reduced; rank 0 alone prints and writes checkpoints.

- :func:`setup_distributed` / :func:`distributed`: the process group from torchrun's
  ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``: NCCL on ``cuda:LOCAL_RANK``, gloo on CPUs;
  one process needs no group. :func:`distributed` always destroys the group on the way out.
- :func:`train_distributed`: the loop of :mod:`~llm101_helpers.training.loop` with the
  above, checkpoints holding what a resume needs (optimizer, step, RNG states, history),
  and ``resume``: a resumed run continues exactly as if it had not stopped.
- :func:`allreduce_demo`, :func:`train_worker`: one rank each, for ``torch.multiprocessing``
  ``spawn`` from a notebook (gloo on the CPU).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.distributed as dist
import torch.nn.functional as F

from llm101_helpers.data import SlidingWindowDataset
from llm101_helpers.model import GPT
from llm101_helpers.training.loop import (
    History,
    TrainConfig,
    _autocast,
    _optimizer,
    _step,
    _windows,
    learning_rate,
)

__all__ = [
    "DistributedContext",
    "allreduce_demo",
    "distributed",
    "evaluate_sharded",
    "setup_distributed",
    "shard_batch",
    "train_distributed",
    "train_worker",
]


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is: ``rank`` of ``world_size``, its GPU ``local_rank``, its device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None  # None: a single process, no process group

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints and writes files."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def _rank_device(name: str | None, local_rank: int, world_size: int) -> torch.device:
    """``cuda:LOCAL_RANK`` on a GPU machine (one GPU per process), else the CPU."""
    from llm101_helpers.device import get_device

    device = get_device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise RuntimeError(
                f"LOCAL_RANK is {local_rank} but this machine has {count} GPU(s): start at most "
                f"{count} processes per machine (torchrun --nproc_per_node={count})"
            )
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if device.type != "cpu" and world_size > 1:
        raise RuntimeError(f"data parallel runs on CUDA GPUs or CPUs, not on {device.type}")
    return device


def setup_distributed(
    device: str | None = None,
    *,
    rank: int | None = None,
    world_size: int | None = None,
    init_method: str = "env://",
) -> DistributedContext:
    """Join the process group torchrun describes (or the one given) and pick this rank's device.

    ``rank`` and ``world_size`` default to torchrun's ``RANK`` and ``WORLD_SIZE`` (0 and 1
    without torchrun: no group is made). The backend is NCCL on CUDA and gloo on a CPU.
    """
    world_size = _env_int("WORLD_SIZE", 1) if world_size is None else world_size
    rank = _env_int("RANK", 0) if rank is None else rank
    local_rank = _env_int("LOCAL_RANK", rank)
    if not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
    dev = _rank_device(device, local_rank, world_size)
    if world_size == 1:
        return DistributedContext(0, 0, 1, dev, None)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    options = {"device_id": dev} if dev.type == "cuda" else {}
    dist.init_process_group(
        backend, init_method=init_method, rank=rank, world_size=world_size, **options
    )
    return DistributedContext(rank, local_rank, world_size, dev, backend)


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # torchrun stops the other workers with SIGTERM


@contextmanager
def distributed(device: str | None = None, **kwargs) -> Iterator[DistributedContext]:
    """:func:`setup_distributed`, then destroy the process group however the block ends.

    An error, Ctrl-C or torchrun's SIGTERM (turned into ``SystemExit``) all leave
    through ``finally``, so no process keeps a half-open group.
    """
    ctx = setup_distributed(device, **kwargs)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm) if main_thread else None
    try:
        yield ctx
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if ctx.backend is not None and dist.is_initialized():
            dist.destroy_process_group()


# --- batches and evaluation --------------------------------------------------------


def shard_batch(
    windows: SlidingWindowDataset,
    batch_size: int,
    ctx: DistributedContext,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's rows of the global batch :func:`get_batch` would draw, ``(B / W, T)`` each.

    Every rank draws the same ``batch_size`` start positions (same seeded
    ``generator``) and keeps rows ``rank * B/W`` to ``(rank + 1) * B/W``: the ranks
    read different windows, and together exactly the one-process batch.
    """
    if batch_size % ctx.world_size:
        raise ValueError(
            f"the global batch_size {batch_size} must divide evenly among "
            f"{ctx.world_size} processes"
        )
    starts = torch.randint(len(windows), (batch_size,), generator=generator)
    per_rank = batch_size // ctx.world_size
    mine = starts[ctx.rank * per_rank : (ctx.rank + 1) * per_rank]
    xs, ys = zip(*(windows[i] for i in mine.tolist()), strict=True)
    return torch.stack(xs).to(ctx.device), torch.stack(ys).to(ctx.device)  # (B/W, T)


def _mean_over_ranks(value: float | torch.Tensor, ctx: DistributedContext) -> float:
    """The mean of ``value`` across the ranks (every rank gets it)."""
    t = torch.as_tensor(value, dtype=torch.float32, device=ctx.device).detach().clone()
    if ctx.world_size > 1:
        dist.all_reduce(t)  # sum
        t /= ctx.world_size
    return t.item()


@torch.no_grad()
def evaluate_sharded(
    model: GPT,
    windows: SlidingWindowDataset,
    batch_size: int,
    eval_iters: int,
    ctx: DistributedContext,
    seed: int = 0,
    autocast: bool | None = None,
) -> float:
    """:func:`~llm101_helpers.training.loop.evaluate`'s number, each rank scoring its shard."""
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for _ in range(eval_iters):
            x, y = shard_batch(windows, batch_size, ctx, generator)
            with _autocast(ctx.device, autocast):
                logits = model(x)  # (B/W, T, V)
            total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).item()
    finally:
        model.train(was_training)
    return _mean_over_ranks(total / eval_iters, ctx)


# --- what a resume needs -----------------------------------------------------------


def _gather(value: torch.Tensor, ctx: DistributedContext) -> list[torch.Tensor]:
    """``value`` of every rank, in rank order (CPU tensors)."""
    if ctx.world_size == 1:
        return [value.cpu()]
    values: list = [None] * ctx.world_size
    dist.all_gather_object(values, value.cpu())
    return values


def _resume_state(step, optimizer, generator, history: History, ctx) -> dict:
    """Everything besides the weights that the run after ``step`` depends on (plain values).

    Collective: every rank must call it (each rank's RNG state is gathered).
    """
    opt = optimizer.state_dict()
    cuda = ctx.device.type == "cuda"
    return {
        "step": step,
        "world_size": ctx.world_size,
        "optimizer": {
            "state": {str(i): {k: v.cpu() for k, v in s.items()} for i, s in opt["state"].items()},
            "param_groups": opt["param_groups"],
        },
        "batch_generator": generator.get_state(),
        "torch_rng": _gather(torch.get_rng_state(), ctx),
        "cuda_rng": _gather(torch.cuda.get_rng_state(ctx.device), ctx) if cuda else [],
        "history": asdict(history),
    }


def _restore(state: dict, optimizer, generator, ctx: DistributedContext) -> tuple[int, History]:
    """Load ``state`` (from :func:`_resume_state`); return the step to continue from."""
    opt = state["optimizer"]
    optimizer.load_state_dict(
        {"state": {int(i): s for i, s in opt["state"].items()}, "param_groups": opt["param_groups"]}
    )
    generator.set_state(state["batch_generator"])
    if state["world_size"] == ctx.world_size:  # dropout masks continue exactly
        torch.set_rng_state(state["torch_rng"][ctx.rank])
        if ctx.device.type == "cuda" and state["cuda_rng"]:
            torch.cuda.set_rng_state(state["cuda_rng"][ctx.rank], ctx.device)
    else:  # another number of processes: same batches, fresh dropout masks
        torch.manual_seed(state["step"] * 1000 + ctx.rank)
    return state["step"], History(**state["history"])


# --- the loop ----------------------------------------------------------------------


@dataclass
class _Run:
    """What the loop carries between steps."""

    model: GPT
    ddp_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    train: SlidingWindowDataset
    val: SlidingWindowDataset
    cfg: TrainConfig
    ctx: DistributedContext
    history: History
    log: Callable[[str], None] | None
    save: Callable[[dict], None] | None

    def evaluate_and_save(self, step: int) -> float:
        """All-reduced evaluation, logged and checkpointed by rank 0; returns its seconds."""
        t0, cfg, h = time.perf_counter(), self.cfg, self.history
        args = (cfg.batch_size, cfg.eval_iters, self.ctx, 0, cfg.autocast)
        val = evaluate_sharded(self.model, self.val, *args)
        tr = evaluate_sharded(self.model, self.train, *args)
        h.eval_steps.append(step)
        h.val_loss.append(val)
        h.eval_train_loss.append(tr)
        if self.ctx.is_main and self.log is not None:
            self.log(f"step {step:5d}: train loss {tr:.4f}, val loss {val:.4f}")
        if self.save is not None and step > 0:
            state = _resume_state(step, self.optimizer, self.generator, h, self.ctx)
            if self.ctx.is_main:
                self.save(state)
        return time.perf_counter() - t0


def _start(model, train_data, val_data, cfg, ctx, resume) -> tuple:
    """The DDP wrapper, optimizer and batch generator; restored from ``resume`` if given."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    model.to(ctx.device).train()
    train_windows = _windows(model, train_data, "train_data")
    val_windows = _windows(model, val_data, "val_data")
    torch.manual_seed(cfg.seed + ctx.rank)  # each rank its own dropout masks
    generator = torch.Generator().manual_seed(cfg.seed)  # the same batches on every rank
    optimizer = _optimizer(model, cfg, ctx.device)  # the course loop's AdamW
    ddp_model: torch.nn.Module = model
    if ctx.world_size > 1:  # DDP copies rank 0's weights to every rank here
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        ddp_model = DDP(model, device_ids=ids)
    step, history = 0, History()
    if resume is not None:
        step, history = _restore(resume, optimizer, generator, ctx)
    windows = (train_windows, val_windows)
    return ddp_model, optimizer, generator, windows, step, history


def train_distributed(
    model: GPT,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    cfg: TrainConfig,
    ctx: DistributedContext | None = None,
    log: Callable[[str], None] | None = None,
    save: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    record_every: int = 10,
) -> History:
    """Train ``model`` in place on this rank's shard of every global batch of ``cfg.batch_size``.

    Same schedule, clipping and evaluations as :func:`~llm101_helpers.training.loop.train`;
    with one process and no dropout it takes the same steps. At every evaluation
    after step 0, ``save(state)`` is called on rank 0 with the resume state (store
    it in the checkpoint's ``extra``); ``resume=state`` (after loading the
    checkpoint's weights into ``model``) continues from that step.
    """
    from tqdm.auto import tqdm

    ctx = ctx or DistributedContext()
    ddp_model, optimizer, generator, (tr, va), first, history = _start(
        model, train_data, val_data, cfg, ctx, resume
    )
    run = _Run(model, ddp_model, optimizer, generator, tr, va, cfg, ctx, history, log, save)
    if first == 0:
        run.evaluate_and_save(0)
    show = cfg.progress and ctx.is_main
    bar = tqdm(range(first, cfg.max_iters), disable=not show, desc="training", unit="step")
    start, eval_seconds = time.perf_counter(), 0.0
    for step in bar:
        lr = learning_rate(step, cfg)
        x, y = shard_batch(tr, cfg.batch_size, ctx, generator)
        # the course loop's step; under DDP, backward() averages the gradients over the
        # ranks (overlapped with the backward pass), so every rank clips the same norm
        loss = _step(ddp_model, optimizer, x, y, lr, cfg).detach()
        done = step + 1
        if done % record_every == 0 or done == cfg.max_iters:  # a sync: not every step
            history.steps.append(done)
            history.train_loss.append(_mean_over_ranks(loss, ctx))  # the global batch's loss
            history.lr.append(lr)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", lr=f"{lr:.1e}")
        if done % cfg.eval_interval == 0 or done == cfg.max_iters:
            eval_seconds += run.evaluate_and_save(done)
    bar.close()
    history.seconds = time.perf_counter() - start - eval_seconds
    tokens = (cfg.max_iters - first) * cfg.batch_size * model.config.context_length
    history.tokens_per_second = tokens / max(history.seconds, 1e-9)
    model.eval()
    return history


# --- the idea, by hand -------------------------------------------------------------


def allreduce_demo(rank: int, world_size: int, init_file: str, out_file: str) -> None:
    """One rank of the lesson's demo: a gradient on its half of a batch, then all-reduced.

    Rank ``r`` computes the gradient of a mean-squared loss over its rows of a
    fixed batch of 8, sums the gradients of all ranks with ``all_reduce``, divides by
    ``world_size`` and (rank 0) saves both to ``out_file``: the averaged gradient
    equals the full-batch gradient. Start it with ``torch.multiprocessing.spawn``.
    """
    torch.set_num_threads(1)
    with distributed("cpu", rank=rank, world_size=world_size, init_method=f"file://{init_file}"):
        w = torch.zeros(3, requires_grad=True)
        x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))  # (8, 3): the batch
        y = x @ torch.tensor([1.0, -2.0, 0.5])  # (8,)
        rows = slice(rank * 8 // world_size, (rank + 1) * 8 // world_size)
        loss = ((x[rows] @ w - y[rows]) ** 2).mean()
        loss.backward()
        local = w.grad.clone()
        dist.all_reduce(w.grad)  # sum over the ranks, the same result on each
        w.grad /= world_size
        gathered = [torch.zeros(3) for _ in range(world_size)]
        dist.all_gather(gathered, local)
        if rank == 0:
            torch.save({"local": torch.stack(gathered), "averaged": w.grad.clone()}, out_file)


def train_worker(rank: int, world_size: int, init_file: str, out_file: str, job: dict) -> None:
    """One CPU rank of a small run: ``job`` holds ``model`` (GPTConfig fields), ``train``
    (TrainConfig fields), ``train_ids``, ``val_ids`` and ``init_seed``. Rank 0 saves the
    history and the weights to ``out_file``. Start it with ``torch.multiprocessing.spawn``.
    """
    from llm101_helpers.model import GPTConfig

    torch.set_num_threads(1)
    with distributed("cpu", rank=rank, world_size=world_size, init_method=f"file://{init_file}"):
        torch.manual_seed(job["init_seed"])
        model = GPT(GPTConfig(**job["model"]))
        cfg = TrainConfig(**job["train"])
        ctx = DistributedContext(rank, rank, world_size, torch.device("cpu"), "gloo")
        history = train_distributed(model, job["train_ids"], job["val_ids"], cfg, ctx)
        if rank == 0:
            torch.save({"history": asdict(history), "weights": model.state_dict()}, out_file)
