"""How well a trained model writes, in two figures that compare models of any tokenizer.

- :func:`bits_per_character`: the model's total surprise at a held-out text, in bits,
  divided by the text's characters (not its tokens). A model with a bigger vocabulary
  predicts fewer, longer tokens; per character, every model pays for the same text.
- :func:`word_share`: the share of the words in generated text that occur in a
  vocabulary (the words of the training text): one in five invented words reads as
  gibberish even when the lines look like a poem.

:func:`held_out` gives the text both figures are measured on: the part of a corpus
that the command line's :func:`~llm101_helpers.training.cli.split_text` holds out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F

from llm101_helpers.generation import write_text
from llm101_helpers.model import GPT

__all__ = [
    "bits_per_character",
    "held_out",
    "sample_words",
    "vocabulary",
    "word_share",
    "words",
]

#: A word: a run of lowercase letters, inner apostrophes kept ("o'er", "heaven's").
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def held_out(corpus: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """``(train, held_out)`` text of a course corpus, split as the command line splits it."""
    from llm101_helpers.training.cli import load_text, split_text

    return split_text(load_text(corpus), val_fraction)


@torch.no_grad()
def bits_per_character(model: GPT, tokenizer, text: str, context: str) -> dict:
    """Bits per character of ``text`` after ``context`` (which is not scored).

    ``text`` and ``context`` are encoded separately (as the command line encodes a
    corpus's training and validation parts). Every token of ``text`` is predicted
    once: targets are scored in blocks of ``T // 2``, each from a window of up to
    ``T`` tokens ending just before its last target, so each sees at least half a
    context before it. Returns ``chars``, ``tokens``, ``bits``, ``bits_per_char``
    and ``nats_per_token``.
    """
    context_ids = tokenizer.encode_ordinary(context)
    text_ids = tokenizer.encode_ordinary(text)
    if not context_ids:
        raise ValueError("the context must hold at least one token to predict the first from")
    if not text_ids:
        raise ValueError("the text to score is empty")
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


def vocabulary(texts: Iterable[str]) -> set[str]:
    """Every word that occurs in ``texts``."""
    return {w for text in texts for w in words(text)}


def word_share(samples: Iterable[str], known: set[str]) -> dict:
    """How many words of ``samples`` (each's last word dropped if cut) are in ``known``.

    Returns ``words`` (how many), ``known`` (how many of them are in ``known``), ``share``
    and ``unknown`` (the unknown ones, in order).
    """
    generated = [w for s in samples for w in words(s, complete=True)]
    unknown = [w for w in generated if w not in known]
    n = len(generated)
    return {"words": n, "known": n - len(unknown), "share": (n - len(unknown)) / max(1, n),
            "unknown": unknown}  # fmt: skip


def sample_words(
    model: GPT,
    tokenizer,
    prompts: Sequence[str],
    min_words: int,
    temperature: float = 0.8,
    top_k: int = 40,
    tokens: int = 200,
) -> list[dict]:
    """Samples after ``prompts`` in turn (the n-th with seed n) until they hold ``min_words``.

    Each is ``{"prompt", "seed", "text"}``, ``text`` without its prompt.
    """
    if not prompts:
        raise ValueError("sample_words needs at least one prompt")
    samples, total = [], 0
    while total < min_words:
        prompt, seed = prompts[len(samples) % len(prompts)], len(samples)
        text = write_text(model, tokenizer, prompt, temperature, top_k, tokens, seed)
        if not text.startswith(prompt):
            raise ValueError(f"the tokenizer does not give back the prompt {prompt!r}")
        samples.append({"prompt": prompt, "seed": seed, "text": text[len(prompt) :]})
        total += len(words(samples[-1]["text"], complete=True))
    return samples
