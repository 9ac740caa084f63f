"""The command line: train a GPT on a course corpus and write a checkpoint.

    python -m llm101_helpers.training --corpus poems --config small --max-iters 2000
    torchrun --standalone --nproc_per_node=2 -m llm101_helpers.training --config small

Every argument is checked before any work starts; a bad one prints a single
``error: ...`` line and exits with status 2. Under ``torchrun`` (or with
``--resumable`` / ``--resume``) the run goes through
:func:`~llm101_helpers.training.distributed.train_distributed`: ``--batch-size`` is
the global batch, shared among the processes, and the checkpoint is rewritten at
every evaluation with what ``--resume`` needs to continue it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, NoReturn

import torch

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import BPETokenizer, CharTokenizer
from llm101_helpers.training.batches import split_ids
from llm101_helpers.training.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from llm101_helpers.training.loop import History, TrainConfig, train

__all__ = ["load_text", "main", "make_tokenizer"]

PROG = "python -m llm101_helpers.training"


def load_text(corpus: str) -> str:
    """Text of ``poems`` (the course corpus), ``sonnets`` or ``tinyshakespeare``."""
    from llm101_helpers.data import load_corpus, load_poems

    if corpus == "poems":
        return load_poems()
    return load_corpus(corpus)


def make_tokenizer(text: str, kind: str, vocab_size: int) -> CharTokenizer | BPETokenizer:
    """A ``char`` tokenizer of ``text``'s characters or a ``bpe`` one trained on ``text``."""
    if kind == "char":
        return CharTokenizer.train(text)
    if kind == "bpe":
        return BPETokenizer.train(text, vocab_size=vocab_size)
    raise ValueError(f"tokenizer must be 'char' or 'bpe', got {kind!r}")


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``error: ...``, status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> _Parser:
    p = _Parser(prog=PROG, description="Train a small GPT and write a checkpoint.")
    p.add_argument("--corpus", choices=["poems", "sonnets", "tinyshakespeare"], default="poems")
    p.add_argument("--config", choices=["tiny", "small", "base"], default="small")
    p.add_argument("--tokenizer", choices=["bpe", "char"], default="bpe")
    p.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size")
    p.add_argument("--max-iters", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=None, help="default: lr / 10")
    p.add_argument("--warmup-iters", type=int, default=100)
    p.add_argument("--dropout", type=float, default=None, help="default: the preset's")
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best)")
    p.add_argument("--out", default="checkpoints/gpt.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--resumable",
        action="store_true",
        help="write the checkpoint at every evaluation, with the optimizer and RNG states "
        "(always on under torchrun)",
    )
    p.add_argument("--resume", default=None, help="continue the run saved in this checkpoint")
    return p


def _world_size() -> int:
    """The number of processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _check(parser: _Parser, args: argparse.Namespace) -> tuple[TrainConfig, torch.device]:
    """Every check that needs no corpus: the training config, the model shape, the device."""
    from llm101_helpers.device import get_device
    from llm101_helpers.tokenizers.bpe_training import check_vocab_size

    positive = ("max_iters", "batch_size", "eval_interval", "eval_iters")
    for name in positive:
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.warmup_iters < 0:
        parser.error(f"--warmup-iters must be 0 or more, got {args.warmup_iters}")
    if not args.lr > 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    min_lr = args.lr / 10 if args.min_lr is None else args.min_lr
    if not 0 <= min_lr <= args.lr:
        parser.error(f"--min-lr must be between 0 and --lr ({args.lr}), got {min_lr}")
    if not 0 < args.val_fraction < 1:
        parser.error(f"--val-fraction must be between 0 and 1, got {args.val_fraction}")
    if args.batch_size % _world_size():
        parser.error(
            f"--batch-size {args.batch_size} (the global batch) must divide evenly among the "
            f"{_world_size()} processes"
        )
    try:
        if args.tokenizer == "bpe":
            check_vocab_size(args.vocab_size, [])
        _model_config(args, vocab_size=1)
        device = get_device(args.device)
    except (ValueError, RuntimeError) as err:
        parser.error(str(err))
    cfg = TrainConfig(
        max_iters=args.max_iters,
        batch_size=args.batch_size,
        lr=args.lr,
        min_lr=min_lr,
        warmup_iters=min(args.warmup_iters, args.max_iters),
        eval_interval=args.eval_interval,
        eval_iters=args.eval_iters,
        seed=args.seed,
        progress=not args.no_progress,
    )
    return cfg, device


def _model_config(args: argparse.Namespace, vocab_size: int) -> GPTConfig:
    overrides: dict[str, Any] = {"vocab_size": vocab_size}
    if args.dropout is not None:
        overrides["dropout"] = args.dropout
    return GPTConfig.preset(args.config, **overrides)


def main(argv: Sequence[str] | None = None) -> dict:
    """Train a GPT from the command line and write a checkpoint; returns a summary."""
    parser = _parser()
    args = parser.parse_args(argv)
    cfg, device = _check(parser, args)
    command = f"{PROG} " + " ".join(sys.argv[1:] if argv is None else argv)
    if _world_size() > 1 or args.resumable or args.resume is not None:
        resumed = None if args.resume is None else _resumable_checkpoint(parser, args, cfg)
        return _train_data_parallel(args, cfg, command, resumed)
    return _train_one_device(args, cfg, device, command)


def _extra(args: argparse.Namespace, cfg: TrainConfig, command: str, history) -> dict:
    """What the checkpoint records about the run."""
    return {
        "command": command,
        "corpus": args.corpus,
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "betas"},
        "val_loss": history.val_loss[-1],
        "steps": history.eval_steps[-1],
    }


def _train_one_device(args, cfg: TrainConfig, device: torch.device, command: str) -> dict:
    """The plain run: :func:`~llm101_helpers.training.loop.train`, one checkpoint at the end."""
    from llm101_helpers.device import describe_device

    torch.manual_seed(args.seed)
    text = load_text(args.corpus)
    tokenizer = make_tokenizer(text, args.tokenizer, args.vocab_size)
    train_ids, val_ids, described = _split(args, text, tokenizer)
    config = _model_config(args, tokenizer.vocab_size)
    model = GPT(config).to(device)
    print(f"device: {describe_device(device)}")
    print(described)
    print(f"model: {config} ({model.num_parameters():,} parameters)")
    history = train(model, train_ids, val_ids, cfg, log=print)
    print(
        f"done: val loss {history.val_loss[-1]:.4f} after {cfg.max_iters} steps, "
        f"{history.tokens_per_second:,.0f} tokens/s"
    )
    extra = _extra(args, cfg, command, history)
    out = save_checkpoint(args.out, model.cpu(), tokenizer, extra=extra)
    print(f"checkpoint written to {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return {"val_loss": history.val_loss[-1], "history": history, "path": out}


def _split(args, text: str, tokenizer) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Train and validation ids, and a line describing them."""
    ids = tokenizer.encode(text)
    train_ids, val_ids = split_ids(ids, args.val_fraction)
    described = (
        f"corpus {args.corpus}: {len(text):,} characters -> {len(ids):,} tokens "
        f"({args.tokenizer}, vocabulary {tokenizer.vocab_size}); "
        f"train {len(train_ids):,}, val {len(val_ids):,}"
    )
    return train_ids, val_ids, described


def _resumable_checkpoint(parser: _Parser, args, cfg: TrainConfig) -> Checkpoint:
    """The ``--resume`` checkpoint, after checking it was written by this same command."""
    from llm101_helpers.training.checkpoints import CheckpointError

    try:
        ckpt = load_checkpoint(args.resume)
    except (OSError, CheckpointError) as err:
        parser.error(f"--resume: {err}")
    if "resume" not in ckpt.extra:
        parser.error(f"--resume: {args.resume} holds no resume state (train with --resumable)")
    ours = {k: v for k, v in asdict(cfg).items() if k not in ("betas", "progress")}
    theirs = ckpt.extra.get("train_config", {})
    diffs = [f"{k}: checkpoint {theirs.get(k)!r}, now {v!r}" for k, v in ours.items()
             if theirs.get(k) != v]  # fmt: skip
    wanted = _model_config(args, ckpt.tokenizer.vocab_size)
    if ckpt.extra.get("corpus") != args.corpus or wanted != ckpt.config:
        diffs.append("the corpus or the model differs")
    if diffs:
        parser.error(f"--resume: repeat the command stored in the checkpoint ({'; '.join(diffs)})")
    return ckpt


def _train_data_parallel(args, cfg: TrainConfig, command: str, resumed: Checkpoint | None):
    """The run under torchrun (or resumable): every rank trains, rank 0 prints and saves."""
    from llm101_helpers.device import describe_device
    from llm101_helpers.training.distributed import distributed, train_distributed

    with distributed(args.device) as ctx:
        say = print if ctx.is_main else (lambda *a, **k: None)
        text = load_text(args.corpus)  # every rank (a download is cached and atomic)
        tokenizer = make_tokenizer(text, args.tokenizer, args.vocab_size) if resumed is None \
            else resumed.tokenizer  # fmt: skip
        train_ids, val_ids, described = _split(args, text, tokenizer)
        torch.manual_seed(args.seed)
        model = GPT(_model_config(args, tokenizer.vocab_size)) if resumed is None \
            else resumed.model  # fmt: skip
        per_rank = cfg.batch_size // ctx.world_size
        say(f"device: {describe_device(ctx.device)} x {ctx.world_size} process(es) ({ctx.backend})")
        say(described)
        say(f"batch: {cfg.batch_size} windows per step = {ctx.world_size} x {per_rank}")
        say(f"model: {model.config} ({model.num_parameters():,} parameters)")

        def save(state: dict) -> None:
            extra = _extra(args, cfg, command, History(**state["history"]))
            extra.update(steps=state["step"], world_size=ctx.world_size, resume=state)
            save_checkpoint(args.out, model, tokenizer, extra=extra)

        resume = None if resumed is None else resumed.extra["resume"]
        history = train_distributed(
            model, train_ids, val_ids, cfg, ctx, log=say, save=save, resume=resume
        )
    say(
        f"done: val loss {history.val_loss[-1]:.4f} after {cfg.max_iters} steps, "
        f"{history.tokens_per_second:,.0f} tokens/s"
    )
    say(f"checkpoint written to {args.out}")
    return {"val_loss": history.val_loss[-1], "history": history, "path": args.out}
