"""Training a GPT: batches, the loop, evaluation and checkpoints (notebook 10).

The loop
--------
Training is next-token prediction: a batch holds ``B`` random windows of
``T + 1`` consecutive tokens of the training text; the model reads the first
``T`` and is scored with cross-entropy on predicting the last ``T`` (the same
window shifted by one). Each step:

    loss = cross_entropy(model(x), y)        # x, y: (B, T)
    loss.backward()
    clip the gradient norm to grad_clip       # one bad batch cannot blow up the weights
    AdamW step with the learning rate of this step

The learning rate rises linearly for ``warmup_iters`` steps (Adam's moment
estimates are noisy at first) and then follows half a cosine down to
``min_lr``. Every ``eval_interval`` steps the mean loss over ``eval_iters``
batches of the validation text (held out, never trained on) tells whether the
model learns the language or memorizes the training text.

On CUDA the forward pass runs under bf16 autocast (``TrainConfig.autocast``),
which roughly doubles the speed of the matrix multiplications.

Checkpoints
-----------
:func:`save_checkpoint` stores the model's config, its tokenizer (as text),
its weights and a SHA-256 of the weights in one ``torch.save`` file;
:func:`load_checkpoint` reads it with ``torch.load(weights_only=True)`` (no
arbitrary code runs), checks the checksum and, when given a model, that its
config matches. The command line trains and saves one::

    python -m llm101_helpers.training --corpus poems --config small --max-iters 2000
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import BPETokenizer

__all__ = [
    "CharTokenizer",
    "Checkpoint",
    "CheckpointError",
    "TrainConfig",
    "evaluate",
    "get_batch",
    "learning_rate",
    "load_checkpoint",
    "main",
    "save_checkpoint",
    "split_ids",
    "train",
]

CHECKPOINT_FORMAT = "llm101-gpt"
CHECKPOINT_VERSION = 1


# ---------------------------------------------------------------------------
# A character-level tokenizer, the simplest baseline
# ---------------------------------------------------------------------------


class CharTokenizer:
    """One token per character of a fixed alphabet (nanoGPT's ``shakespeare_char``).

    ``CharTokenizer.train(text)`` takes the sorted set of ``text``'s characters
    as the vocabulary; encoding a character outside it raises ``ValueError``.
    """

    def __init__(self, chars: str) -> None:
        if len(set(chars)) != len(chars) or not chars:
            raise ValueError("CharTokenizer needs a non-empty string of distinct characters")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise ValueError(
                f"character {err.args[0]!r} is not in this CharTokenizer's "
                f"{self.vocab_size}-character vocabulary"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def _tokenizer_to_dict(tokenizer: Any) -> dict[str, str]:
    if isinstance(tokenizer, CharTokenizer):
        return {"kind": "char", "data": tokenizer.chars}
    if isinstance(tokenizer, BPETokenizer):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tokenizer.bpe"
            tokenizer.save(path)
            return {"kind": "bpe", "data": path.read_text(encoding="utf-8")}
    raise TypeError(
        f"cannot store a {type(tokenizer).__name__} in a checkpoint; "
        "use BPETokenizer or CharTokenizer"
    )


def _tokenizer_from_dict(d: dict[str, str]) -> CharTokenizer | BPETokenizer:
    if d["kind"] == "char":
        return CharTokenizer(d["data"])
    if d["kind"] == "bpe":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tokenizer.bpe"
            path.write_text(d["data"], encoding="utf-8", newline="\n")
            return BPETokenizer.load(path)
    raise CheckpointError(f"unknown tokenizer kind {d['kind']!r} in the checkpoint")


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def split_ids(ids: Sequence[int] | torch.Tensor, val_fraction: float = 0.1):
    """``(train, val)``: the first ``1 - val_fraction`` of the token ids, and the rest.

    A split by position (not by random windows) keeps validation text unseen:
    no window of it overlaps the training text.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    ids = torch.as_tensor(ids, dtype=torch.long)
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    context_length: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``data``: inputs and next-token targets, ``(B, T)``."""
    if len(data) <= context_length:
        raise ValueError(
            f"the text has {len(data)} tokens, too few for one window of "
            f"context_length + 1 = {context_length + 1}"
        )
    starts = torch.randint(len(data) - context_length, (batch_size,), generator=generator)
    offsets = torch.arange(context_length + 1)
    windows = data[starts[:, None] + offsets]  # (B, T + 1)
    x, y = windows[:, :-1], windows[:, 1:]
    if torch.device(device).type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(
            device, non_blocking=True
        )
    return x.to(device), y.to(device)


# ---------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------


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
    data: torch.Tensor,
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
                logits = model(x)
            total += F.cross_entropy(logits.float().flatten(0, 1), y.flatten()).item()
    finally:
        model.train(was_training)
    return total / eval_iters


def _optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms or position tables)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and name != "pos_emb.weight" else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=device.type == "cuda")


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


def train(
    model: GPT,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    cfg: TrainConfig | None = None,
    log=None,
) -> History:
    """Train ``model`` in place on random windows of ``train_data``; return the :class:`History`.

    Validation (and training) loss is estimated with :func:`evaluate` at step
    0, every ``eval_interval`` steps and at the end. ``log``, if given, is
    called with one line of text at each evaluation (the command line prints
    them).
    """
    cfg = cfg or TrainConfig()
    device = _model_device(model)
    T = model.config.context_length
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = _optimizer(model, cfg, device)
    history = History()

    def run_eval(step: int) -> None:
        val = evaluate(model, val_data, cfg.batch_size, cfg.eval_iters, 0, cfg.autocast)
        tr = evaluate(model, train_data, cfg.batch_size, cfg.eval_iters, 0, cfg.autocast)
        history.eval_steps.append(step)
        history.val_loss.append(val)
        history.eval_train_loss.append(tr)
        if log is not None:
            log(f"step {step:5d}: train loss {tr:.4f}, val loss {val:.4f}")

    from tqdm.auto import tqdm

    run_eval(0)
    model.train()
    bar = tqdm(range(cfg.max_iters), disable=not cfg.progress, desc="training", unit="step")
    start = time.perf_counter()
    eval_seconds = 0.0
    for step in bar:
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_data, cfg.batch_size, T, generator, device)
        with _autocast(device, cfg.autocast):
            logits = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        done = step + 1
        if done % 10 == 0 or done == cfg.max_iters:  # .item() waits for the GPU: not every step
            history.steps.append(done)
            history.train_loss.append(loss.item())
            history.lr.append(lr)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", lr=f"{lr:.1e}")
        if done % cfg.eval_interval == 0 or done == cfg.max_iters:
            t0 = time.perf_counter()
            run_eval(done)
            eval_seconds += time.perf_counter() - t0
    bar.close()
    history.seconds = time.perf_counter() - start - eval_seconds
    history.tokens_per_second = cfg.max_iters * cfg.batch_size * T / max(history.seconds, 1e-9)
    model.eval()
    return history


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------


class CheckpointError(ValueError):
    """A checkpoint file is damaged, foreign, or does not fit the model."""


def _weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_checkpoint(
    path: str | Path, model: GPT, tokenizer: Any, extra: dict | None = None
) -> Path:
    """Write config, tokenizer, weights and their SHA-256 to ``path`` (one ``torch.save`` file).

    ``extra`` holds anything else plain (numbers, strings, lists, dicts), e.g.
    how the checkpoint was made. Only tensors and plain Python values are
    stored, so it loads with ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if model.config.tie_weights:  # one matrix: store it once
        state_dict.pop("out_head.weight")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "tokenizer": _tokenizer_to_dict(tokenizer),
        "state_dict": state_dict,
        "sha256": _weights_digest(state_dict),
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    model: GPT
    tokenizer: CharTokenizer | BPETokenizer
    config: GPTConfig
    extra: dict


def load_checkpoint(
    path: str | Path, model: GPT | None = None, device: torch.device | str = "cpu"
) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Builds a new :class:`GPT` from the stored config, or, when ``model`` is
    given, loads the weights into it after checking that its config is the
    stored one. Raises :class:`CheckpointError` (a ``ValueError``) for a
    truncated or corrupted file, a file that is not a checkpoint of this
    package, a failed checksum, or a config mismatch naming the fields.
    """
    path = Path(path)
    if path.exists() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise CheckpointError(
            f"{path} could not be read as a checkpoint (truncated or corrupted?): it is not a "
            f"complete torch.save archive ({path.stat().st_size:,} bytes, no zip directory at "
            "the end); download or save it again"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise CheckpointError(
            f"{path} could not be read as a checkpoint (truncated or corrupted?): "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an llm101 GPT checkpoint (no '{CHECKPOINT_FORMAT}')")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')!r}; "
            f"this llm101_helpers reads version {CHECKPOINT_VERSION}"
        )
    state_dict = payload["state_dict"]
    digest = _weights_digest(state_dict)
    if digest != payload["sha256"]:
        raise CheckpointError(
            f"{path} failed its checksum (stored {payload['sha256'][:12]}..., weights hash "
            f"to {digest[:12]}...): the file was corrupted or edited after saving"
        )
    config = GPTConfig.from_dict(payload["config"])
    if model is None:
        model = GPT(config)
    elif model.config != config:
        ours, theirs = model.config.to_dict(), config.to_dict()
        diffs = ", ".join(
            f"{k}: checkpoint {theirs[k]!r}, model {ours[k]!r}"
            for k in ours
            if ours[k] != theirs[k]
        )
        raise CheckpointError(f"{path} was saved from a different model config ({diffs})")
    if config.tie_weights:
        state_dict = {**state_dict, "out_head.weight": state_dict["tok_emb.weight"]}
    model.load_state_dict(state_dict)
    model.to(device).eval()
    tokenizer = _tokenizer_from_dict(payload["tokenizer"])
    if tokenizer.vocab_size > config.vocab_size:
        raise CheckpointError(
            f"{path}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
            f"{config.vocab_size}"
        )
    return Checkpoint(model, tokenizer, config, payload.get("extra", {}))


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def load_text(corpus: str) -> str:
    """Text of ``poems`` (the course corpus), ``sonnets`` or ``tinyshakespeare``."""
    from llm101_helpers.data import load_corpus, load_poems

    if corpus == "poems":
        return load_poems()
    return load_corpus(corpus)


def make_tokenizer(text: str, kind: str, vocab_size: int):
    """A ``char`` tokenizer of ``text``'s characters or a ``bpe`` one trained on ``text``."""
    if kind == "char":
        return CharTokenizer.train(text)
    if kind == "bpe":
        return BPETokenizer.train(text, vocab_size=vocab_size)
    raise ValueError(f"tokenizer must be 'char' or 'bpe', got {kind!r}")


def main(argv: Sequence[str] | None = None) -> dict:
    """Train a GPT from the command line and write a checkpoint; returns a summary."""
    from llm101_helpers.device import describe_device, get_device

    parser = argparse.ArgumentParser(
        prog="python -m llm101_helpers.training", description="Train a small GPT."
    )
    parser.add_argument(
        "--corpus", choices=["poems", "sonnets", "tinyshakespeare"], default="poems"
    )
    parser.add_argument("--config", choices=["tiny", "small", "base"], default="small")
    parser.add_argument("--tokenizer", choices=["bpe", "char"], default="bpe")
    parser.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size")
    parser.add_argument("--max-iters", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min-lr", type=float, default=None, help="default: lr / 10")
    parser.add_argument("--warmup-iters", type=int, default=100)
    parser.add_argument("--dropout", type=float, default=None, help="default: the preset's")
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--eval-iters", type=int, default=20)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best)")
    parser.add_argument("--out", default="checkpoints/gpt.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    device = get_device(args.device)
    torch.manual_seed(args.seed)
    text = load_text(args.corpus)
    tokenizer = make_tokenizer(text, args.tokenizer, args.vocab_size)
    ids = tokenizer.encode(text)
    train_ids, val_ids = split_ids(ids, args.val_fraction)
    overrides: dict[str, Any] = {"vocab_size": tokenizer.vocab_size}
    if args.dropout is not None:
        overrides["dropout"] = args.dropout
    config = GPTConfig.preset(args.config, **overrides)
    model = GPT(config).to(device)
    cfg = TrainConfig(
        max_iters=args.max_iters,
        batch_size=args.batch_size,
        lr=args.lr,
        min_lr=args.lr / 10 if args.min_lr is None else args.min_lr,
        warmup_iters=min(args.warmup_iters, args.max_iters),
        eval_interval=args.eval_interval,
        eval_iters=args.eval_iters,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(f"device: {describe_device(device)}")
    print(
        f"corpus {args.corpus}: {len(text):,} characters -> {len(ids):,} tokens "
        f"({args.tokenizer}, vocabulary {tokenizer.vocab_size}); "
        f"train {len(train_ids):,}, val {len(val_ids):,}"
    )
    print(f"model: {config} ({model.num_parameters():,} parameters)")
    history = train(model, train_ids, val_ids, cfg, log=print)
    print(
        f"done: val loss {history.val_loss[-1]:.4f} after {cfg.max_iters} steps, "
        f"{history.tokens_per_second:,.0f} tokens/s"
    )
    command = "python -m llm101_helpers.training " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    extra = {
        "command": command,
        "corpus": args.corpus,
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "betas"},
        "val_loss": history.val_loss[-1],
        "steps": cfg.max_iters,
    }
    out = save_checkpoint(args.out, model.cpu(), tokenizer, extra=extra)
    print(f"checkpoint written to {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return {"val_loss": history.val_loss[-1], "history": history, "path": out}


if __name__ == "__main__":
    main()
