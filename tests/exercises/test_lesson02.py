"""Lesson 02's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import re

import pytest
import regex
import tiktoken

from llm101_helpers.data import load_poems
from llm101_helpers.exercises import EXERCISES
from llm101_helpers.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer, merge_pair
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _encode(ids, merges, pick=min, rounds=None):
    """BPE encoding by merges, written out, with a chosen mistake."""
    ids, done = list(ids), 0
    while len(ids) >= 2 and (rounds is None or done < rounds):
        present = [p for p in zip(ids, ids[1:], strict=False) if p in merges]
        if not present:
            break
        pair = pick(present, key=merges.get)
        ids = merge_pair(ids, pair, merges[pair])
        done += 1
    return ids


def _encode_leftmost(ids, merges):
    """Wrong: always merges the leftmost pair that is in merges, whatever its rank."""
    ids = list(ids)
    while True:
        at = next((i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) in merges), None)
        if at is None:
            return ids
        ids[at : at + 2] = [merges[(ids[at], ids[at + 1])]]


def _encode_one_scan(ids, merges):
    """Wrong: one pass left to right, merging any known pair as it is met."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) in merges:
            out.append(merges[(ids[i], ids[i + 1])])
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _vocab(merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new] = vocab[a] + vocab[b]
    return vocab


def _pair_of(merges, new):
    return next(pair for pair, i in merges.items() if i == new)


def _decode(ids, merges):
    return b"".join(_vocab(merges)[i] for i in ids).decode("utf-8", errors="replace")


def _with_special(text, merges, specials, new, new_id=None, only_new=False):
    """The new special token's encoding through tiktoken itself, with a chosen mistake."""
    trained = BPETokenizer.from_merges(merges)
    if new_id is None:
        new_id = 256 + len(merges) + len(specials)
    specials = {**specials, new: new_id}
    names = [new] if only_new else list(specials)
    names = sorted(names, key=len, reverse=True)
    ids = []
    for piece in re.split("(" + "|".join(map(re.escape, names)) + ")", text):
        ids += [specials[piece]] if piece in names else trained.encode_ordinary(piece)
    return ids


WRONG = {
    "02.bpe_encode": {
        "merges in text order": _encode_leftmost,
        "latest merge first": lambda ids, merges: _encode(ids, merges, pick=max),
        "one round of merging": lambda ids, merges: _encode(ids, merges, rounds=1),
        "one left-to-right scan": _encode_one_scan,
    },
    "02.bpe_decode": {
        "each token decoded on its own": lambda ids, merges: "".join(
            _vocab(merges)[i].decode("utf-8", errors="replace") for i in ids
        ),
        "strict UTF-8": lambda ids, merges: b"".join(_vocab(merges)[i] for i in ids).decode(),
        "bytes as Latin-1 characters": lambda ids, merges: b"".join(
            _vocab(merges)[i] for i in ids
        ).decode("latin-1"),
        "merges one level deep": lambda ids, merges: b"".join(
            bytes([i]) if i < 256 else bytes(_pair_of(merges, i)) for i in ids
        ).decode("utf-8", errors="replace"),
    },
    "02.add_special_token": {
        "id right after the merges": lambda t, m, s, n: _with_special(
            t, m, s, n, new_id=256 + len(m)
        ),
        "bytes forgotten in the id": lambda t, m, s, n: _with_special(
            t, m, s, n, new_id=len(m) + len(s)
        ),
        "only the new token split out": lambda t, m, s, n: _with_special(t, m, s, n, only_new=True),
        "id after the largest special id": lambda t, m, s, n: _with_special(
            t, m, s, n, new_id=max(s.values()) + 1
        ),
        "everything as ordinary text": lambda t, m, s, n: BPETokenizer.from_merges(
            m
        ).encode_ordinary(t),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("02.bpe_encode", _encode)
    assert_passes("02.bpe_decode", _decode)
    assert_passes("02.add_special_token", _with_special)


def test_bpe_references_agree_with_the_tokenizer():
    """With merges learned from the poems, the references give BPETokenizer's ids and text."""
    text = load_poems()[:20_000]
    tok = BPETokenizer.train(text, 320)
    encode, decode = (EXERCISES[f"02.bpe_{n}"].reference for n in ("encode", "decode"))
    for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
        assert encode(list(chunk.encode("utf-8")), tok.merges) == tok.encode_ordinary(chunk)
    ids = tok.encode_ordinary(text)
    assert decode(ids, tok.merges) == text
    assert decode(ids[:7] + [0xE2], tok.merges) == tok.decode(ids[:7] + [0xE2])  # half a character


def test_add_special_token_agrees_with_tiktoken():
    """tiktoken, given the grown special tokens, encodes every case as the reference does."""
    ex = EXERCISES["02.add_special_token"]
    for case in ex.cases:
        text, merges, specials, new = case.args
        trained = BPETokenizer.from_merges(merges)
        new_id = max([*trained.vocab, *specials.values()]) + 1
        enc = tiktoken.Encoding(
            "grown", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=trained.ranks,
            special_tokens={**specials, new: new_id},
        )  # fmt: skip
        assert ex.reference(*case.args) == enc.encode(text, allowed_special="all"), case.label
