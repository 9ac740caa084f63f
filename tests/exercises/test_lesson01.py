"""Lesson 01's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from llm101_helpers.tokenizers import ENDOFTEXT as EOT
from llm101_helpers.tokenizers import UNK, WORD_SPLIT_PATTERN
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _words(text, vocab, unknown=True, special=False):
    """Word ids of text by the notebook's regex (optionally <|endoftext|> first), with mistakes."""
    pattern = rf"{re.escape(EOT)}|{WORD_SPLIT_PATTERN}" if special else WORD_SPLIT_PATTERN
    words = re.findall(pattern, text)
    if unknown:
        return [vocab.get(w, vocab[UNK]) for w in words]
    return [vocab[w] for w in words if w in vocab]


def _unk_rate(train, test, vocab_size, distinct=False, limit=True, split=None, percent=False):
    """The unknown-word rate written out with Counter, with a chosen mistake."""
    split = split or (lambda t: re.findall(WORD_SPLIT_PATTERN, t))
    ranked = [w for w, _ in Counter(split(train)).most_common()]
    vocab = set(ranked[:vocab_size] if limit else ranked)
    tokens = split(test)
    tokens = list(dict.fromkeys(tokens)) if distinct else tokens
    rate = sum(t not in vocab for t in tokens) / len(tokens)
    return 100 * rate if percent else rate


WRONG = {
    "01.lossless_split": {
        "white space dropped": lambda text: re.findall(WORD_SPLIT_PATTERN, text),
        "one token per white-space character": lambda text: re.findall(
            rf"{WORD_SPLIT_PATTERN}|\s", text
        ),
        "spaces only (no tabs or line breaks)": lambda text: re.findall(
            rf"{WORD_SPLIT_PATTERN}| +", text
        ),
        "split on white space, kept": lambda text: [p for p in re.split(r"(\s+)", text) if p],
    },
    "01.unk_rate": {
        "distinct unknown words": lambda a, b, n: _unk_rate(a, b, n, distinct=True),
        "vocab_size ignored": lambda a, b, n: _unk_rate(a, b, n, limit=False),
        "split on white space": lambda a, b, n: _unk_rate(a, b, n, split=str.split),
        "lower-cased": lambda a, b, n: _unk_rate(a.lower(), b.lower(), n),
        "a percentage": lambda a, b, n: _unk_rate(a, b, n, percent=True),
        "ties by alphabet": lambda a, b, n: _unk_rate(
            a, b, n, split=lambda t: sorted(re.findall(WORD_SPLIT_PATTERN, t))
        ),
    },
    "01.encode_documents": {
        "a separator after every document": lambda docs, vocab: [
            i for d in docs for i in [*_words(d, vocab), vocab[EOT]]
        ],
        "no separator": lambda docs, vocab: [i for d in docs for i in _words(d, vocab)],
        "separator split by the regex": lambda docs, vocab: _words(EOT.join(docs), vocab),
        "unknown words dropped": lambda docs, vocab: _words(
            EOT.join(docs), vocab, unknown=False, special=True
        ),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("01.lossless_split", lambda t: re.findall(r"\w+(?:['\u2019]\w+)*|[^\w\s]|\s+", t))
    assert_passes("01.unk_rate", _unk_rate)

    def encode_documents(docs, vocab):
        ids = []
        for k, doc in enumerate(docs):
            ids += ([vocab[EOT]] if k else []) + _words(doc, vocab)
        return ids

    assert_passes("01.encode_documents", encode_documents)


def test_lossless_split_gives_back_the_text():
    from llm101_helpers.exercises import EXERCISES

    split = EXERCISES["01.lossless_split"].reference
    for case in EXERCISES["01.lossless_split"].cases:
        assert "".join(split(*case.args)) == case.args[0]
