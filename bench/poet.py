"""Benchmark: how well a poet checkpoint writes, in two figures.

- **Bits per character on held-out poems**: the validation part of ``load_poems()``
  by the command line's split (``training.cli.split_text`` with the checkpoint's
  ``val_fraction``, 0.1: from the first line start at or after 90% of the
  characters). Every token of it is predicted in windows of ``context_length``
  tokens moved by half a window, so each sees at least half a context of the text
  before it (the training text's end, for the first ones); the sum of
  ``-log2 p(token)`` is divided by the number of characters, not tokens, so models
  with different tokenizers are compared on the same text on equal terms.
- **Known words**: samples of 200 tokens at temperature 0.8 and top-k 40 after the
  ``PROMPTS`` in turn (sample ``n`` with seed ``n``) until they hold ``--min-words``
  words; the share of those words (lowercase runs of letters, inner apostrophes
  kept; a word cut by the end of a sample is dropped) that occur in the training
  text: the training part (same split) of each corpus of ``--corpus``, by default
  the checkpoint's own.

Usage (JSON to ``bench/results/poet_small.json``)::

    .venv/bin/python bench/poet.py notebooks/checkpoints/poet_small.pt --json <file>
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from llm101_helpers.generation import write_text
from llm101_helpers.model import GPT
from llm101_helpers.performance import environment
from llm101_helpers.training import load_checkpoint
from llm101_helpers.training.cli import load_text, split_text

#: Poem titles in the corpus's format (a title, then an empty line); none is a corpus title.
PROMPTS = (
    "The Winter Garden\n\n",
    "Rain on the Allotment\n\n",
    "My Father's Hands\n\n",
    "The Last Ferry\n\n",
    "Morning\n\n",
)
TEMPERATURE, TOP_K, SAMPLE_TOKENS = 0.8, 40, 200
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


@torch.no_grad()
def bits_per_character(model: GPT, tokenizer, text: str, context: str) -> dict:
    """Bits per character of ``text`` after ``context`` (which is not scored).

    ``text`` and ``context`` are encoded separately (as the command line encodes its
    training and validation parts). Targets are scored in blocks of ``T // 2``, each
    from a window of up to ``T`` tokens ending just before its last target.
    """
    context_ids = tokenizer.encode_ordinary(context)
    text_ids = tokenizer.encode_ordinary(text)
    if not context_ids:
        raise ValueError("the context must hold at least one token to predict the first from")
    T = model.config.context_length
    ids = torch.tensor(context_ids[-T:] + text_ids)  # (N,)
    first, step = len(ids) - len(text_ids), max(1, T // 2)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nats = 0.0
    for a in range(first, len(ids), step):
        b = min(a + step, len(ids))  # targets ids[a:b]
        start = max(0, b - 1 - T)
        logits = model(ids[start : b - 1][None].to(device))[0].float()  # (L, V)
        nats += F.cross_entropy(logits[a - 1 - start :], ids[a:b].to(device), reduction="sum")
    model.train(was_training)
    nats, n = float(nats), len(text_ids)
    bits = nats / math.log(2)
    return {"chars": len(text), "tokens": n, "bits": bits, "bits_per_char": bits / len(text),
            "nats_per_token": nats / n}  # fmt: skip


def words(text: str, complete: bool = False) -> list[str]:
    """The words of ``text``, lowercased; ``complete``: drop a last word the text cuts off."""
    found = WORD.findall(text.lower())
    if complete and found and text[-1:].isalpha():
        found.pop()
    return found


def word_share(samples: Iterable[str], vocabulary: set[str]) -> dict:
    """How many words of ``samples`` (each's last word dropped if cut) are in ``vocabulary``."""
    generated = [w for s in samples for w in words(s, complete=True)]
    known = sum(w in vocabulary for w in generated)
    return {"words": len(generated), "known": known, "share": known / max(1, len(generated))}


def sample(model: GPT, tokenizer, min_words: int, prompts: Sequence[str] = PROMPTS) -> list[dict]:
    """Samples after the prompts in turn, the n-th with seed n, up to ``min_words`` words."""
    samples, total = [], 0
    while total < min_words:
        prompt, seed = prompts[len(samples) % len(prompts)], len(samples)
        text = write_text(model, tokenizer, prompt, TEMPERATURE, TOP_K, SAMPLE_TOKENS, seed)
        if not text.startswith(prompt):
            raise ValueError(f"the tokenizer does not give back the prompt {prompt!r}")
        samples.append({"prompt": prompt, "seed": seed, "text": text[len(prompt) :]})
        total += len(words(samples[-1]["text"], complete=True))
    return samples


def measure(path: Path, corpora: Sequence[str] | None, min_words: int) -> dict:
    """Both figures for the checkpoint at ``path``, with what they were measured on."""
    ckpt = load_checkpoint(path)
    val_fraction = ckpt.extra.get("val_fraction", 0.1)
    corpora = list(corpora or ckpt.extra.get("corpus", "poems").split())
    train_text, held_out = split_text(load_text("poems"), val_fraction)
    torch.manual_seed(0)
    bpc = bits_per_character(ckpt.model, ckpt.tokenizer, held_out, train_text)
    vocabulary = {w for c in corpora for w in words(split_text(load_text(c), val_fraction)[0])}
    samples = sample(ckpt.model, ckpt.tokenizer, min_words)
    return {
        "checkpoint": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "command": ckpt.extra.get("command"),
        "params": ckpt.model.num_parameters(),
        "config": ckpt.config.to_dict(),
        "tokenizer": f"{type(ckpt.tokenizer).__name__} {ckpt.tokenizer.vocab_size}",
        "held_out": {"corpus": "poems", "val_fraction": val_fraction, **bpc},
        "training_corpora": corpora,
        "vocabulary": len(vocabulary),
        "sampling": {
            "temperature": TEMPERATURE,
            "top_k": TOP_K,
            "tokens": SAMPLE_TOKENS,
            "prompts": list(PROMPTS),
            "samples": len(samples),
        },
        "words": word_share([s["text"] for s in samples], vocabulary),
        "samples": samples,
    }


def markdown_table(report: dict) -> str:
    """The report's rows as the Markdown table bench/README.md shows."""
    lines = [
        f"{report['device']}, torch {report['torch']}, {report['date']}; held-out poems: the "
        f"last {report['rows'][0]['held_out']['chars']:,} characters of the corpus; samples at "
        f"temperature {TEMPERATURE}, top-k {TOP_K}",
        "",
        "| checkpoint | parameters | tokenizer | bits/char | nats/token | words sampled "
        "| in training text |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        h, w = r["held_out"], r["words"]
        lines.append(
            f"| `{r['checkpoint']}` | {r['params']:,} | {r['tokenizer']} | "
            f"{h['bits_per_char']:.3f} | {h['nats_per_token']:.3f} | {w['words']:,} | "
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
