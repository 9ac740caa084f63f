"""The command line: train a GPT on a course corpus and write a checkpoint.

    python -m llm101_helpers.training --corpus poems --config small --max-iters 2000

Every argument is checked before any work starts; a bad one prints a single
``error: ...`` line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, NoReturn

import torch

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import BPETokenizer, CharTokenizer
from llm101_helpers.training.batches import split_ids
from llm101_helpers.training.checkpoints import save_checkpoint
from llm101_helpers.training.loop import TrainConfig, train

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
    return p


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
    from llm101_helpers.device import describe_device

    parser = _parser()
    args = parser.parse_args(argv)
    cfg, device = _check(parser, args)
    torch.manual_seed(args.seed)
    text = load_text(args.corpus)
    tokenizer = make_tokenizer(text, args.tokenizer, args.vocab_size)
    ids = tokenizer.encode(text)
    train_ids, val_ids = split_ids(ids, args.val_fraction)
    config = _model_config(args, tokenizer.vocab_size)
    model = GPT(config).to(device)
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
    command = f"{PROG} " + " ".join(sys.argv[1:] if argv is None else argv)
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
