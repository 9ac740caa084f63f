"""The command line: train a GPT on course corpora and write a checkpoint.

    python -m llm101_helpers.training --corpus poems --config small --max-iters 2000
    python -m llm101_helpers.training --corpus tinyshakespeare sonnets --out pre.pt
    python -m llm101_helpers.training --corpus poems --init-from pre.pt --lr 3e-4 --max-iters 300
    torchrun --standalone --nproc_per_node=2 -m llm101_helpers.training --config small

Each corpus is split by characters (:func:`split_text`: its last ``--val-fraction``,
from a line start, validates), each part encoded on its own, and the corpora's parts
joined with the tokenizer's ``<|endoftext|>`` if it has one, else with two blank lines
(the poems' own separator). The tokenizer is trained on the corpora (or on those of
``--tokenizer-corpus``: a pretraining tokenizer that also knows the words of the text
it will be fine-tuned on); ``--tokenizer-from`` reuses a checkpoint's tokenizer;
``--init-from`` starts from a checkpoint's weights and tokenizer (same model shape),
and ``--train-only`` freezes all but the head or the last blocks. Every argument is
checked before any work starts; a bad one prints a single ``error: ...`` line and exits
with status 2. Under ``torchrun`` (or with ``--resumable`` / ``--resume``) the run goes
through :func:`~llm101_helpers.training.distributed.train_distributed`: ``--batch-size``
is the global batch, and the checkpoint is rewritten at every evaluation with what
``--resume`` needs. A checkpoint stores its command (paths relative to where it ran).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import ENDOFTEXT, BPETokenizer, CharTokenizer
from llm101_helpers.training.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from llm101_helpers.training.loop import History, TrainConfig, train

__all__ = [
    "check_train_only",
    "corpora_seen",
    "encode_corpora",
    "freeze",
    "load_text",
    "main",
    "make_tokenizer",
    "split_text",
]

PROG = "python -m llm101_helpers.training"
CORPORA = ("poems", "sonnets", "tinyshakespeare")
#: Between two corpora when the tokenizer has no ``<|endoftext|>``: the poems' separator.
CORPUS_SEPARATOR = "\n\n\n"
#: The options whose values are file paths (stored relative in the checkpoint's command).
PATH_OPTIONS = ("out", "resume", "init_from", "tokenizer_from")


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


def split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """``(train, val)``: ``text`` cut at ``len(text) * (1 - val_fraction)``, moved to a line start.

    A split by characters gives every tokenizer the same held-out text, so bits
    per character compare models of different vocabularies on equal terms.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    cut = int(len(text) * (1 - val_fraction))
    newline = text.find("\n", cut - 1) if cut > 0 else -1  # a cut just after "\n" stays
    if 0 <= newline < len(text) - 1:
        cut = newline + 1
    return text[:cut], text[cut:]


def _separator(tokenizer: Any) -> list[int]:
    """The ids between two corpora: ``<|endoftext|>`` if the tokenizer has it, else blank lines."""
    special = getattr(tokenizer, "special_tokens", {})
    if ENDOFTEXT in special:
        return [special[ENDOFTEXT]]
    return tokenizer.encode_ordinary(CORPUS_SEPARATOR)


def encode_corpora(
    texts: Sequence[str], tokenizer: Any, val_fraction: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and validation ids of several texts: each split by :func:`split_text`, then joined.

    Each text's parts are encoded on their own (special-token text counts as
    ordinary text) and the texts' parts joined with :func:`_separator`'s ids.
    """
    train_ids: list[int] = []
    val_ids: list[int] = []
    sep = _separator(tokenizer)
    for k, text in enumerate(texts):
        train_text, val_text = split_text(text, val_fraction)
        if k:
            train_ids += sep
            val_ids += sep
        train_ids += tokenizer.encode_ordinary(train_text)
        val_ids += tokenizer.encode_ordinary(val_text)
    return torch.tensor(train_ids, dtype=torch.long), torch.tensor(val_ids, dtype=torch.long)


def _trained_modules(model: GPT, train_only: str) -> list[torch.nn.Module]:
    """The modules ``--train-only`` names: ``all``, ``head`` or ``last-N`` (blocks + head)."""
    head = [model.final_norm, model.out_head]
    if train_only == "all":
        return [model]
    if train_only == "head":
        return head
    n = int(train_only.removeprefix("last-"))
    return [*model.blocks[len(model.blocks) - n :], *head]


def check_train_only(train_only: str, num_layers: int) -> None:
    """Raise ``ValueError`` unless ``train_only`` is ``all``, ``head`` or ``last-N``."""
    if not re.fullmatch(r"all|head|last-[1-9]\d*", train_only):
        raise ValueError(f"--train-only must be all, head or last-N, got {train_only!r}")
    if train_only.startswith("last-") and int(train_only[5:]) > num_layers:
        raise ValueError(f"--train-only {train_only}: the model has only {num_layers} blocks")


def freeze(model: GPT, train_only: str = "all") -> int:
    """Freeze all parameters but those ``train_only`` names; return how many numbers train.

    ``head`` is the final norm and the output layer, ``last-N`` adds the last ``N``
    transformer blocks, ``all`` trains everything. Frozen parameters get
    ``requires_grad=False``: they get no gradient, so AdamW never changes them.
    """
    check_train_only(train_only, len(model.blocks))
    model.requires_grad_(False)
    for module in _trained_modules(model, train_only):
        module.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``error: ...``, status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> _Parser:
    p = _Parser(prog=PROG, description="Train a small GPT and write a checkpoint.")
    p.add_argument("--corpus", choices=CORPORA, nargs="+", action="extend",
                   help="one or more corpora (default: poems)")  # fmt: skip
    p.add_argument("--config", choices=["tiny", "small", "base"], default="small")
    p.add_argument("--tokenizer", choices=["bpe", "char"], default=None, help="default: bpe")
    p.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary (default: 512)")
    p.add_argument("--tokenizer-corpus", choices=CORPORA, nargs="+", action="extend",
                   help="train the tokenizer on these corpora (default: --corpus)")  # fmt: skip
    p.add_argument(
        "--tokenizer-from",
        default=None,
        metavar="CHECKPOINT",
        help="reuse this checkpoint's tokenizer",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="start from this checkpoint (fine-tuning)",
    )
    p.add_argument("--train-only", default="all", help="all (default), head, or last-N blocks")
    p.add_argument("--max-iters", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=None, help="default: lr / 10")
    p.add_argument("--warmup-iters", type=int, default=100)
    p.add_argument("--dropout", type=float, default=None,
                   help="default: the preset's, or the --init-from checkpoint's")  # fmt: skip
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
    p.add_argument(
        "--keep-best",
        action="store_true",
        help="write the checkpoint at each evaluation whose validation loss is the lowest so "
        "far, and keep that one (early stopping); one device only",
    )
    return p


def _world_size() -> int:
    """The number of processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _check_numbers(parser: _Parser, args: argparse.Namespace) -> float:
    """The numeric arguments; returns the minimum learning rate."""
    for name in ("max_iters", "batch_size", "eval_interval", "eval_iters"):
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
    return min_lr


def _check_sources(parser: _Parser, args: argparse.Namespace) -> None:
    """The corpora and where the tokenizer comes from (defaults filled in)."""
    args.corpus = args.corpus or ["poems"]
    twice = sorted({c for c in args.corpus if args.corpus.count(c) > 1})
    if twice:
        parser.error(f"--corpus names {', '.join(twice)} more than once")
    if args.tokenizer_from and args.init_from:
        parser.error("--init-from brings its checkpoint's tokenizer: drop --tokenizer-from")
    tokenizer_corpus = args.tokenizer_corpus or []
    twice = sorted({c for c in tokenizer_corpus if tokenizer_corpus.count(c) > 1})
    if twice:
        parser.error(f"--tokenizer-corpus names {', '.join(twice)} more than once")
    chosen = [flag for flag, value in (("--tokenizer", args.tokenizer),
              ("--vocab-size", args.vocab_size), ("--tokenizer-corpus", args.tokenizer_corpus))
              if value is not None]  # fmt: skip
    if (args.tokenizer_from or args.init_from) and chosen:
        reused = "--init-from" if args.init_from else "--tokenizer-from"
        parser.error(f"{reused} brings its checkpoint's tokenizer: drop {' and '.join(chosen)}")
    args.tokenizer = args.tokenizer or "bpe"
    args.vocab_size = 512 if args.vocab_size is None else args.vocab_size


def _check(parser: _Parser, args: argparse.Namespace) -> tuple[TrainConfig, torch.device]:
    """Every check that needs no corpus: the training config, the model shape, the device."""
    from llm101_helpers.device import get_device
    from llm101_helpers.tokenizers.bpe_training import check_vocab_size

    min_lr = _check_numbers(parser, args)
    _check_sources(parser, args)
    try:
        if args.tokenizer == "bpe" and not (args.tokenizer_from or args.init_from):
            check_vocab_size(args.vocab_size, [])
        check_train_only(args.train_only, _model_config(args, vocab_size=1).num_layers)
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


def _model_config(args: argparse.Namespace, vocab_size: int, init: Checkpoint | None = None):
    """The preset ``--config`` names; the dropout of ``--dropout``, ``init`` or the preset."""
    overrides: dict[str, Any] = {"vocab_size": vocab_size}
    if args.dropout is not None:
        overrides["dropout"] = args.dropout
    elif init is not None:
        overrides["dropout"] = init.config.dropout
    return GPTConfig.preset(args.config, **overrides)


# --- checkpoints the run starts from ------------------------------------------------


@dataclass
class _Sources:
    """What ``--init-from`` and ``--tokenizer-from`` bring (``None``: not given)."""

    init: Checkpoint | None = None
    tokenizer: CharTokenizer | BPETokenizer | None = None


def _read(parser: _Parser, flag: str, path: str) -> Checkpoint:
    """The checkpoint at ``path``; a problem is a one-line error naming ``flag``."""
    from llm101_helpers.training.checkpoints import CheckpointError

    try:
        return load_checkpoint(path)
    except (OSError, CheckpointError) as err:
        parser.error(f"{flag}: {err}")


def _sources(parser: _Parser, args: argparse.Namespace) -> _Sources:
    """Read the checkpoints named; ``--init-from``'s model must be the one ``--config`` names."""
    if args.tokenizer_from:
        tokenizer = _read(parser, "--tokenizer-from", args.tokenizer_from).tokenizer
        sources = _Sources(tokenizer=tokenizer)
    elif args.init_from:
        init = _read(parser, "--init-from", args.init_from)
        ours = _model_config(args, init.config.vocab_size, init).to_dict()
        theirs = init.config.to_dict()
        diffs = [f"{k}: checkpoint {theirs[k]!r}, --config {args.config} {ours[k]!r}"
                 for k in ours if k != "dropout" and ours[k] != theirs[k]]  # fmt: skip
        if diffs:
            parser.error(
                f"--init-from {args.init_from} holds another model shape ({'; '.join(diffs)}): "
                "give the --config it was trained with"
            )
        sources = _Sources(init=init, tokenizer=init.tokenizer)
    else:
        return _Sources()
    args.tokenizer = "char" if isinstance(sources.tokenizer, CharTokenizer) else "bpe"
    return sources


def _portable(path: str) -> str:
    """``path`` as the stored command shows it: relative to the working directory.

    A path outside the working directory is reduced to its file name: the
    command then names the file, not the machine it was on.
    """
    if not (os.path.isabs(path) or path.startswith("~")):
        return path
    full = Path(path).expanduser().resolve()
    try:
        return full.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return full.name


def _command(argv: Sequence[str], args: argparse.Namespace) -> str:
    """The command line as typed, with every path option's value made :func:`_portable`."""
    portable = {v: _portable(v) for n in PATH_OPTIONS if (v := getattr(args, n))}
    words = []
    for word in argv:
        flag, eq, value = word.partition("=")
        if word in portable:
            word = portable[word]
        elif eq and flag.startswith("--") and value in portable:
            word = f"{flag}={portable[value]}"
        words.append(word)
    return shlex.join([*PROG.split(), *words])


# --- the run -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict:
    """Train a GPT from the command line and write a checkpoint; returns a summary."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    cfg, device = _check(parser, args)
    sources = _sources(parser, args)
    command = _command(argv, args)
    if _world_size() > 1 or args.resumable or args.resume is not None:
        if args.keep_best:
            parser.error("--keep-best is for a plain run on one device: drop it, or drop "
                         "--resumable/--resume and torchrun")  # fmt: skip
        resumed = None if args.resume is None else _resumable(parser, args, cfg, sources)
        return _train_data_parallel(parser, args, cfg, command, sources, resumed)
    return _train_one_device(parser, args, cfg, device, command, sources)


def corpora_seen(extra: dict) -> list[str]:
    """Every corpus a checkpoint's weights were trained on: its own and its ``--init-from``'s."""
    return list(extra.get("corpora_seen", extra.get("corpus", "poems").split()))


def _extra(args, cfg: TrainConfig, command: str, history, sources: _Sources) -> dict:
    """What the checkpoint records about the run."""
    seen = [] if sources.init is None else corpora_seen(sources.init.extra)
    return {
        "command": command,
        "corpus": " ".join(args.corpus),
        "corpora_seen": [*seen, *(c for c in args.corpus if c not in seen)],
        "val_fraction": args.val_fraction,
        "train_only": args.train_only,
        "train_config": {k: v for k, v in asdict(cfg).items() if k != "betas"},
        "val_loss": history.val_loss[-1],
        "steps": history.eval_steps[-1],
    }


def _data(parser: _Parser, args: argparse.Namespace, tokenizer) -> tuple:
    """The tokenizer (``tokenizer`` or a new one), train and val ids, and a line about them."""
    names = [*args.corpus, *(args.tokenizer_corpus or [] if tokenizer is None else [])]
    loaded = {name: load_text(name) for name in dict.fromkeys(names)}  # each corpus read once
    texts = [loaded[name] for name in args.corpus]
    if tokenizer is None:
        known = CORPUS_SEPARATOR.join(loaded[n] for n in args.tokenizer_corpus or args.corpus)
        tokenizer = make_tokenizer(known, args.tokenizer, args.vocab_size)
    try:
        train_ids, val_ids = encode_corpora(texts, tokenizer, args.val_fraction)
    except ValueError as err:  # a reused character tokenizer lacks a character
        parser.error(f"--corpus {' '.join(args.corpus)}: {err}")
    described = (
        f"corpus {' + '.join(args.corpus)}: {sum(map(len, texts)):,} characters -> "
        f"{len(train_ids) + len(val_ids):,} tokens ({args.tokenizer}, vocabulary "
        f"{tokenizer.vocab_size}); train {len(train_ids):,}, val {len(val_ids):,}"
    )
    return tokenizer, train_ids, val_ids, described


def _new_model(args: argparse.Namespace, tokenizer, sources: _Sources) -> GPT:
    """A fresh GPT (seeded), or one holding ``--init-from``'s weights."""
    init = sources.init
    vocab_size = tokenizer.vocab_size if init is None else init.config.vocab_size
    torch.manual_seed(args.seed)
    model = GPT(_model_config(args, vocab_size, init))
    if init is not None:
        model.load_state_dict(init.model.state_dict())
    return model


def _freeze_and_describe(args: argparse.Namespace, model: GPT) -> str:
    """Freeze what ``--train-only`` leaves out; the model line: config, size, start, training."""
    trained = freeze(model, args.train_only)
    start = "" if args.init_from is None else f", from {_portable(args.init_from)}"
    return (
        f"model: {model.config} ({model.num_parameters():,} parameters{start}); "
        f"training {args.train_only} ({trained:,} parameters)"
    )


def _train_one_device(parser, args, cfg: TrainConfig, device, command: str, sources) -> dict:
    """The plain run: :func:`~llm101_helpers.training.loop.train`, one checkpoint at the end."""
    from llm101_helpers.device import describe_device

    tokenizer, train_ids, val_ids, described = _data(parser, args, sources.tokenizer)
    model = _new_model(args, tokenizer, sources).to(device)
    print(f"device: {describe_device(device)}")
    print(described)
    print(_freeze_and_describe(args, model))
    best = _BestSaver(args, cfg, command, sources, model, tokenizer) if args.keep_best else None
    history = train(model, train_ids, val_ids, cfg, log=print, on_eval=best)
    print(
        f"done: val loss {history.val_loss[-1]:.4f} after {cfg.max_iters} steps, "
        f"{history.tokens_per_second:,.0f} tokens/s"
    )
    if best is not None:
        out = Path(args.out)
        print(f"kept the checkpoint of step {best.step}: val loss {best.val_loss:.4f}")
    else:
        extra = _extra(args, cfg, command, history, sources)
        out = save_checkpoint(args.out, model.cpu(), tokenizer, extra=extra)
    print(f"checkpoint written to {out} ({out.stat().st_size / 1e6:.1f} MB)")
    val_loss = history.val_loss[-1] if best is None else best.val_loss
    return {"val_loss": val_loss, "history": history, "path": out}


class _BestSaver:
    """``on_eval`` of ``--keep-best``: save whenever the validation loss is the lowest yet."""

    def __init__(self, args, cfg: TrainConfig, command: str, sources, model, tokenizer) -> None:
        self.args, self.cfg, self.command, self.sources = args, cfg, command, sources
        self.model, self.tokenizer = model, tokenizer
        self.history = History()
        self.step, self.val_loss = -1, float("inf")

    def __call__(self, step: int, val_loss: float) -> None:
        self.history.eval_steps.append(step)
        self.history.val_loss.append(val_loss)
        if val_loss >= self.val_loss:
            return
        self.step, self.val_loss = step, val_loss
        extra = _extra(self.args, self.cfg, self.command, self.history, self.sources)
        extra["kept"] = "lowest validation loss (--keep-best)"
        save_checkpoint(self.args.out, self.model, self.tokenizer, extra=extra)


def _resumable(parser: _Parser, args, cfg: TrainConfig, sources: _Sources) -> Checkpoint:
    """The ``--resume`` checkpoint, after checking it was written by this same command."""
    ckpt = _read(parser, "--resume", args.resume)
    if "resume" not in ckpt.extra:
        parser.error(f"--resume: {args.resume} holds no resume state (train with --resumable)")
    ours = {k: v for k, v in asdict(cfg).items() if k not in ("betas", "progress")}
    theirs = ckpt.extra.get("train_config", {})
    diffs = [f"{k}: checkpoint {theirs.get(k)!r}, now {v!r}" for k, v in ours.items()
             if theirs.get(k) != v]  # fmt: skip
    run = {"corpus": " ".join(args.corpus), "train_only": args.train_only,
           "val_fraction": args.val_fraction}  # fmt: skip
    defaults = {"train_only": "all", "val_fraction": args.val_fraction}  # older checkpoints
    diffs += [f"{k}: checkpoint {ckpt.extra.get(k, defaults.get(k))!r}, now {v!r}"
              for k, v in run.items() if ckpt.extra.get(k, defaults.get(k)) != v]  # fmt: skip
    init = sources.init
    vocab_size = ckpt.tokenizer.vocab_size if init is None else init.config.vocab_size
    if _model_config(args, vocab_size, init) != ckpt.config:
        diffs.append("the model differs")
    if diffs:
        parser.error(f"--resume: repeat the command stored in the checkpoint ({'; '.join(diffs)})")
    return ckpt


def _train_data_parallel(parser, args, cfg, command: str, sources, resumed: Checkpoint | None):
    """The run under torchrun (or resumable): every rank trains, rank 0 prints and saves."""
    from llm101_helpers.device import describe_device
    from llm101_helpers.training.distributed import distributed, train_distributed

    with distributed(args.device) as ctx:
        say = print if ctx.is_main else (lambda *a, **k: None)
        tokenizer = sources.tokenizer if resumed is None else resumed.tokenizer
        # every rank reads the corpora (a download is cached and atomic)
        tokenizer, train_ids, val_ids, described = _data(parser, args, tokenizer)
        model = _new_model(args, tokenizer, sources) if resumed is None else resumed.model
        per_rank = cfg.batch_size // ctx.world_size
        say(f"device: {describe_device(ctx.device)} x {ctx.world_size} process(es) ({ctx.backend})")
        say(described)
        say(f"batch: {cfg.batch_size} windows per step = {ctx.world_size} x {per_rank}")
        say(_freeze_and_describe(args, model))

        def save(state: dict) -> None:
            extra = _extra(args, cfg, command, History(**state["history"]), sources)
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
