"""Tests for llm101_helpers.tokenizers.CharTokenizer."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from llm101_helpers.tokenizers import CharTokenizer


def test_alphabet_is_the_sorted_characters_and_round_trips():
    tok = CharTokenizer.train("hello world")
    assert tok.chars == " dehlorw" and tok.vocab_size == 8
    assert tok.encode("hold") == [" dehlorw".index(c) for c in "hold"]
    assert tok.decode(tok.encode("low herd")) == "low herd"
    with pytest.raises(ValueError, match=r"character 'z' is not in this CharTokenizer's 8-char"):
        tok.encode("zoo")


def test_decode_accepts_numpy_and_torch_integers():
    tok = CharTokenizer("abc")
    assert tok.decode(np.array([2, 0])) == tok.decode(torch.tensor([2, 0])) == "ca"
    assert tok.decode(torch.tensor([[1, 2]])[0]) == "bc"


@pytest.mark.parametrize("bad", [-1, 3, 1.9, 1.0, True, "1", torch.tensor(0.5)])
def test_decode_rejects_ids_outside_the_alphabet(bad):
    # a negative id must not wrap around to the last character, nor 1.9 truncate to 1
    tok = CharTokenizer("abc")
    with pytest.raises(
        ValueError,
        match=rf"token id {re.escape(repr(bad))} is not in the vocabulary \(vocab_size=3, "
        r"ids are integers 0\.\.2\)",
    ):
        tok.decode([0, bad])


@pytest.mark.parametrize("chars", ["", "aba"])
def test_alphabet_must_be_distinct_characters(chars):
    with pytest.raises(ValueError, match="non-empty string of distinct characters"):
        CharTokenizer(chars)


def test_encode_shares_the_other_tokenizers_checks():
    tok = CharTokenizer("<|>abc")
    # no special tokens: their text is plain characters, and naming one is an error
    assert tok.encode("a<|>b", allowed_special="all") == [3, 0, 1, 2, 4]
    with pytest.raises(ValueError, match=r"not special tokens of this tokenizer: \['<\|x\|>'\]"):
        tok.encode("a", allowed_special={"<|x|>"})
    with pytest.raises(TypeError, match=r"encode expects a str, got bytes"):
        tok.encode(b"abc")
