"""Benchmark: how well a poet checkpoint writes, in three figures.

- **Bits per character on held-out poems**: the validation part of ``load_poems()``
  by the command line's split (``training.cli.split_text`` with the checkpoint's
  ``val_fraction``, 0.1: from the first line start at or after 90% of the
  characters), scored by ``training.scoring.bits_per_character``: every token
  predicted once, from at least half a context of the text before it; the sum of
  ``-log2 p(token)`` divided by the number of characters, not tokens, so models
  with different tokenizers are compared on the same text on equal terms.
- **Bits per character on held-out Shakespeare**: the same on the validation part of
  ``tinyshakespeare``: what a model fine-tuned on poems forgot of its pretraining.
- **Known words**: samples of 200 tokens at temperature 0.8 and top-k 40 after the
  ``PROMPTS`` in turn (sample ``n`` with seed ``n``) until they hold ``--min-words``
  words; the share of those words (lowercase runs of letters, inner apostrophes
  kept; a word cut by the end of a sample is dropped) that occur in the training
  text: the training part (same split) of every corpus the weights were trained on
  (the checkpoint's ``corpora_seen``: a fine-tuned poet's pretraining corpora too),
  or of ``--corpus``.

Usage (JSON to ``bench/results/poet.json``; about a minute for three checkpoints)::

    .venv/bin/python bench/poet.py notebooks/checkpoints/poet_*.pt --json <file>
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from llm101_helpers.performance import environment
from llm101_helpers.training import load_checkpoint
from llm101_helpers.training.cli import corpora_seen
from llm101_helpers.training.scoring import (
    bits_per_character,
    held_out,
    sample_words,
    vocabulary,
    word_share,
)

#: Poem titles in the corpus's format (a title, then an empty line); none is a corpus title.
PROMPTS = (
    "The Winter Garden\n\n",
    "Rain on the Allotment\n\n",
    "My Father's Hands\n\n",
    "The Last Ferry\n\n",
    "Morning\n\n",
)
TEMPERATURE, TOP_K, SAMPLE_TOKENS = 0.8, 40, 200


def measure(path: Path, corpora: Sequence[str] | None, min_words: int) -> dict:
    """The figures for the checkpoint at ``path``, with what they were measured on."""
    ckpt = load_checkpoint(path)
    val_fraction = ckpt.extra.get("val_fraction", 0.1)
    corpora = list(corpora or corpora_seen(ckpt.extra))
    scores = {}
    for corpus in ("poems", "tinyshakespeare"):
        train_text, held = held_out(corpus, val_fraction)
        scores[corpus] = bits_per_character(ckpt.model, ckpt.tokenizer, held, train_text)
    known = vocabulary(held_out(c, val_fraction)[0] for c in corpora)
    torch.manual_seed(0)
    samples = sample_words(ckpt.model, ckpt.tokenizer, PROMPTS, min_words, TEMPERATURE, TOP_K,
                           SAMPLE_TOKENS)  # fmt: skip
    share = word_share([s["text"] for s in samples], known)
    return {
        "checkpoint": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "command": ckpt.extra.get("command"),
        "steps": ckpt.extra.get("steps"),
        "params": ckpt.model.num_parameters(),
        "config": ckpt.config.to_dict(),
        "tokenizer": f"{type(ckpt.tokenizer).__name__} {ckpt.tokenizer.vocab_size}",
        "held_out": {"corpus": "poems", "val_fraction": val_fraction, **scores["poems"]},
        "held_out_shakespeare": {"corpus": "tinyshakespeare", "val_fraction": val_fraction,
                                 **scores["tinyshakespeare"]},  # fmt: skip
        "training_corpora": corpora,
        "vocabulary": len(known),
        "sampling": {
            "temperature": TEMPERATURE,
            "top_k": TOP_K,
            "tokens": SAMPLE_TOKENS,
            "prompts": list(PROMPTS),
            "samples": len(samples),
        },
        "words": {k: v for k, v in share.items() if k != "unknown"},
        "unknown_words": sorted(set(share["unknown"])),
        "samples": samples,
    }


def markdown_table(report: dict) -> str:
    """The report's rows as the Markdown table bench/README.md shows."""
    lines = [
        f"{report['device']}, torch {report['torch']}, {report['date']}; held out: the last "
        f"{report['rows'][0]['held_out']['chars']:,} characters of the poems and "
        f"{report['rows'][0]['held_out_shakespeare']['chars']:,} of tiny shakespeare; samples "
        f"at temperature {TEMPERATURE}, top-k {TOP_K}",
        "",
        "| checkpoint | parameters | tokenizer | poems bits/char | poems nats/token "
        "| Shakespeare bits/char | words sampled | in training text |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        h, w = r["held_out"], r["words"]
        lines.append(
            f"| `{r['checkpoint']}` | {r['params']:,} | {r['tokenizer']} | "
            f"{h['bits_per_char']:.3f} | {h['nats_per_token']:.3f} | "
            f"{r['held_out_shakespeare']['bits_per_char']:.3f} | {w['words']:,} | "
            f"{w['share']:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--corpus", nargs="+", default=None,
                        help="the training corpora (default: the checkpoint's)")  # fmt: skip
    parser.add_argument("--min-words", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    rows = [measure(path, args.corpus, args.min_words) for path in args.checkpoints]
    report = {**environment("cpu"), "rows": rows}
    print(markdown_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
