"""The merge stepper of notebook 02 (llm101_helpers.viz), without a browser."""

from __future__ import annotations

import re

import pytest

from llm101_helpers.data import load_poems
from llm101_helpers.tokenizers import BPETokenizer
from llm101_helpers.viz import (
    bpe_merge_stepper,
    bpe_pieces_at,
    describe_merge,
    format_pieces,
    pieces_html,
)

LINE = "The tide went out before the town was up, café 🌊"


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(load_poems()[:30_000], 400)


def test_no_merges_gives_bytes_and_all_merges_give_encode(tok):
    assert bpe_pieces_at(tok, LINE, 0) == [bytes([b]) for b in LINE.encode("utf-8")]
    full = bpe_pieces_at(tok, LINE, len(tok.merges))
    assert full == [tok.vocab[i] for i in tok.encode_ordinary(LINE)]


def test_pieces_always_spell_the_text_and_only_grow(tok):
    previous = None
    for k in range(0, len(tok.merges) + 1, 7):
        pieces = bpe_pieces_at(tok, LINE, k)
        assert b"".join(pieces) == LINE.encode("utf-8")
        if previous is not None:
            assert len(pieces) <= len(previous)
        previous = pieces


def test_pieces_at_k_are_what_a_tokenizer_with_k_merges_gives(tok):
    k = 37
    first = dict(list(tok.merges.items())[:k])
    independent = BPETokenizer.train(load_poems()[:30_000], 256 + k)
    assert list(independent.merges.items()) == list(first.items())
    want = [independent.vocab[i] for i in independent.encode_ordinary(LINE)]
    assert bpe_pieces_at(tok, LINE, k) == want


def test_bad_merge_numbers_and_foreign_byte_orders_are_rejected(tok):
    with pytest.raises(ValueError, match=r"0\.\.144.*got 145"):
        bpe_pieces_at(tok, LINE, 145)
    with pytest.raises(ValueError, match="got -1"):
        bpe_pieces_at(tok, LINE, -1)
    swapped = dict(tok.ranks)
    swapped[b"a"], swapped[b"b"] = swapped[b"b"], swapped[b"a"]
    with pytest.raises(ValueError, match="byte b to be token b"):
        bpe_pieces_at(BPETokenizer(swapped, tok.pattern), LINE, 0)


def test_format_and_html_show_every_piece(tok):
    pieces = bpe_pieces_at(tok, LINE, 50)
    assert format_pieces(pieces).split("|") == [p.decode("utf-8", "replace") for p in pieces]
    page = pieces_html([b"a<b", b" c", b"\n"])
    assert page.count("<span") == 3
    assert "a&lt;b" in page and "·c" in page and "<br>" in page


def test_the_slider_redraws_pieces_and_merge_description(tok):
    box = bpe_merge_stepper(tok, LINE, step=3)
    assert box.slider.max == len(tok.merges) and box.slider.value == 3
    for k in (0, 10, len(tok.merges)):
        box.slider.value = k
        pieces = bpe_pieces_at(tok, LINE, k)
        assert box.view.value.count("<span") == len(pieces)
        assert f"{len(pieces)} tokens" in box.info.value
        if k:
            (a, b), new_id = list(tok.merges.items())[k - 1]
            assert f"merge {k}:" in box.info.value and f"(id {new_id})" in box.info.value
        else:
            assert "every byte" in box.info.value
    shown = re.findall(r">([^<]*)</span>", box.view.value)
    assert len(shown) == len(bpe_pieces_at(tok, LINE, len(tok.merges)))


def test_merge_numbers_outside_the_merges_are_errors_not_wrapped(tok):
    total = len(tok.merges)
    _, new_id = list(tok.merges.items())[-1]  # what -1 used to describe
    assert describe_merge(tok, total).endswith(f"(id {new_id})")
    for bad in (-1, -total, total + 1):
        message = rf"step must be in 0\.\.{total} .*{total} merges.*got {bad}"
        with pytest.raises(ValueError, match=message):
            describe_merge(tok, bad)
    with pytest.raises(ValueError, match=rf"0\.\.{total} .*got -1"):
        bpe_merge_stepper(tok, LINE, step=-1)  # the slider would have shown 0 instead
    with pytest.raises(ValueError, match=rf"0\.\.{total} .*got {total + 1}"):
        bpe_merge_stepper(tok, LINE, step=total + 1)
