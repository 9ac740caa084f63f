"""The training loop: AdamW, warmup + cosine learning rate, clipping, evaluation.

Each step scores ``B`` random windows of ``T + 1`` tokens (inputs, and the
same window shifted by one as targets)::

    loss = cross_entropy(model(x), y)        # x, y: (B, T)
    loss.backward()
    clip the gradient norm to grad_clip       # one bad batch cannot blow up the weights
    AdamW step with the learning rate of this step

The learning rate rises linearly for ``warmup_iters`` steps, then follows half
a cosine down to ``min_lr``. Every ``eval_interval`` steps :func:`evaluate`
scores the same seeded windows of the validation and training text. On CUDA
the forward pass runs under bf16 autocast (``TrainConfig.autocast``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from llm101_helpers.data import SlidingWindowDataset
from llm101_helpers.model import GPT
from llm101_helpers.training.batches import check_token_ids, get_batch

__all__ = ["History", "TrainConfig", "evaluate", "learning_rate", "train"]


@dataclass
class TrainConfig:
    """Hyperparameters of :func:`train` (defaults: nanoGPT's small character-level run)."""

    max_iters: int = 2000
    batch_size: int = 12
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    seed: int = 1337
    autocast: bool | None = None  # None: bf16 autocast on CUDA only
    progress: bool = True  # a tqdm progress bar

    def __post_init__(self) -> None:
        for name in ("max_iters", "batch_size", "eval_interval", "eval_iters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {value!r}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr and lr > 0, got {self.min_lr=}, {self.lr=}")
        if isinstance(self.warmup_iters, bool) or not isinstance(self.warmup_iters, int):
            raise ValueError(f"TrainConfig.warmup_iters must be an int, got {self.warmup_iters!r}")
        if self.warmup_iters < 0:
            raise ValueError(f"TrainConfig.warmup_iters must be >= 0, got {self.warmup_iters}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError(
                f"weight_decay and grad_clip must be >= 0, got {self.weight_decay=}, "
                f"{self.grad_clip=}"
            )


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``cfg.lr``, then cosine decay to ``cfg.min_lr`` at ``max_iters``."""
    if step < cfg.warmup_iters:
        return cfg.lr * (step + 1) / cfg.warmup_iters
    span = max(1, cfg.max_iters - cfg.warmup_iters)
    progress = min(1.0, (step - cfg.warmup_iters) / span)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def _autocast(device: torch.device, enabled: bool | None):
    if enabled is None:
        enabled = device.type == "cuda"
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate(
    model: GPT,
    data: torch.Tensor | SlidingWindowDataset,
    batch_size: int = 12,
    eval_iters: int = 20,
    seed: int = 0,
    autocast: bool | None = None,
) -> float:
    """Mean cross-entropy over ``eval_iters`` batches of ``data``, in eval mode.

    The windows come from a generator seeded with ``seed``, so every call
    scores the same windows and losses from different steps are comparable.
    """
    device = _model_device(model)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for _ in range(eval_iters):
            x, y = get_batch(data, batch_size, model.config.context_length, generator, device)
            with _autocast(device, autocast):
                logits = model(x)  # (B, T, V)
            total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).item()
    finally:
        model.train(was_training)
    return total / eval_iters


#: Devices with a fused AdamW kernel in every torch the course supports (>= 2.4).
_FUSED_ADAMW = ("cpu", "cuda")


def _optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (the model chooses the groups).

    The fused kernel updates every parameter in one call (on a CPU about five
    times faster than the loop over parameters for the ``small`` model).
    """
    groups = model.optimizer_groups(cfg.weight_decay)
    fused = device.type in _FUSED_ADAMW
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused or None)


@dataclass
class History:
    """What :func:`train` recorded: losses per step and validation losses on the schedule."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    eval_train_loss: list[float] = field(default_factory=list)
    tokens_per_second: float = 0.0
    seconds: float = 0.0


def _windows(model: GPT, data: torch.Tensor, name: str) -> SlidingWindowDataset:
    """``data`` as stride-1 windows, after checking every id fits the model's vocabulary."""
    windows = SlidingWindowDataset(data, model.config.context_length, stride=1)
    check_token_ids(windows.ids, model.config.vocab_size, name)
    return windows


def _step(model: GPT, optimizer, x: torch.Tensor, y: torch.Tensor, lr: float, cfg: TrainConfig):
    """One optimizer step at learning rate ``lr``; returns the loss (a tensor, not synced)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with _autocast(x.device, cfg.autocast):
        logits = model(x, check_ids=False)  # (B, T, V); train() checked the ids once
    loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:  # one fused norm over all gradients where the device has it
        foreach = x.device.type in _FUSED_ADAMW or None
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=foreach)
    optimizer.step()
    return loss


def train(
    model: GPT,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    cfg: TrainConfig | None = None,
    log: Callable[[str], None] | None = None,
    on_eval: Callable[[int, float], None] | None = None,
) -> History:
    """Train ``model`` in place on random windows of ``train_data``; return the :class:`History`.

    Validation (and training) loss is estimated with :func:`evaluate` at step 0, every
    ``eval_interval`` steps and at the end; then ``log`` (if given) gets one line of text
    and ``on_eval(step, val_loss)`` is called (``--keep-best`` saves there). Token ids
    outside the model's vocabulary raise before any step.
    """
    from tqdm.auto import tqdm

    cfg = cfg or TrainConfig()
    device, T = _model_device(model), model.config.context_length
    train_windows = _windows(model, train_data, "train_data")
    val_windows = _windows(model, val_data, "val_data")
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = _optimizer(model, cfg, device)
    history = History()

    def run_eval(step: int) -> float:
        t0 = time.perf_counter()
        val = evaluate(model, val_windows, cfg.batch_size, cfg.eval_iters, 0, cfg.autocast)
        tr = evaluate(model, train_windows, cfg.batch_size, cfg.eval_iters, 0, cfg.autocast)
        history.eval_steps.append(step)
        history.val_loss.append(val)
        history.eval_train_loss.append(tr)
        if log is not None:
            log(f"step {step:5d}: train loss {tr:.4f}, val loss {val:.4f}")
        if on_eval is not None:
            on_eval(step, val)
        return time.perf_counter() - t0

    run_eval(0)
    model.train()
    bar = tqdm(range(cfg.max_iters), disable=not cfg.progress, desc="training", unit="step")
    start, eval_seconds = time.perf_counter(), 0.0
    for step in bar:
        lr = learning_rate(step, cfg)
        x, y = get_batch(train_windows, cfg.batch_size, T, generator, device)
        loss = _step(model, optimizer, x, y, lr, cfg)
        done = step + 1
        if done % 10 == 0 or done == cfg.max_iters:  # .item() waits for the GPU: not every step
            history.steps.append(done)
            history.train_loss.append(loss.item())
            history.lr.append(lr)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", lr=f"{lr:.1e}")
        if done % cfg.eval_interval == 0 or done == cfg.max_iters:
            eval_seconds += run_eval(done)
    bar.close()
    history.seconds = time.perf_counter() - start - eval_seconds
    history.tokens_per_second = cfg.max_iters * cfg.batch_size * T / max(history.seconds, 1e-9)
    model.eval()
    return history
