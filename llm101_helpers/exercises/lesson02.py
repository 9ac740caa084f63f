"""Lesson 02 exercises: BPE encoding by merges, decoding, a special token added after training."""

from __future__ import annotations

import math

from llm101_helpers.exercises.checker import Case, Exercise, register
from llm101_helpers.tokenizers import BPETokenizer, get_pair_counts, merge_pair


def bpe_encode(ids: list[int], merges: dict[tuple[int, int], int]) -> list[int]:
    """Merge the earliest-learned pair present (lowest new id), everywhere; repeat until none."""
    ids = list(ids)
    while len(ids) >= 2:
        pairs = get_pair_counts(ids)
        pair = min(pairs, key=lambda p: merges.get(p, math.inf))
        if pair not in merges:
            break  # no adjacent pair was ever merged
        ids = merge_pair(ids, pair, merges[pair])
    return ids


register(Exercise(
    "02.bpe_encode",
    bpe_encode,
    [
        Case("no merge applies", ([1, 2, 3], {(3, 1): 256})),
        Case("one merge, twice", ([1, 2, 3, 1, 2], {(1, 2): 256})),
        Case("the earlier merge first", ([1, 2, 3], {(2, 3): 256, (1, 2): 257})),
        Case("a merge of merges", ([1, 2, 3, 1, 2, 3], {(1, 2): 256, (256, 3): 257})),
        Case(
            "aaabdaaabac",
            (list(b"aaabdaaabac"), {(97, 97): 256, (97, 98): 257, (256, 257): 258}),
        ),
        Case("a run of one id", ([5, 5, 5, 5, 5], {(5, 5): 256, (256, 256): 257})),
        Case("one id", ([7], {(7, 7): 256})),
        Case("empty", ([], {(1, 2): 256})),
    ],
    "repeat: among the adjacent pairs that are in merges, take the one with the LOWEST new id "
    "(learned first, whatever its place in the text), replace all its occurrences left to right, "
    "and look again; stop when no adjacent pair is in merges.",
))  # fmt: skip


def bpe_decode(ids: list[int], merges: dict[tuple[int, int], int]) -> str:
    """Text of ``ids`` for a tokenizer with these merges."""
    return BPETokenizer.from_merges(merges).decode(ids)


_MERGES_THE = {(104, 101): 256, (116, 256): 257, (32, 257): 258}  # "he", "the", " the"
register(Exercise(
    "02.bpe_decode",
    bpe_decode,
    [
        Case("bytes only", (list(b"tide"), {})),
        Case("merged tokens", ([257, 258], _MERGES_THE)),
        Case("é as one merged token", ([99, 97, 102, 256], {(195, 169): 256})),
        Case("é split across two tokens", ([99, 97, 102, 195, 169], {})),
        Case("half a character", ([99, 195], {})),
        Case("empty", ([], _MERGES_THE)),
    ],
    "bytes of ids 0-255 are bytes([i]); a merged token's bytes are its two parts' bytes joined "
    "(build them in merge order). Join the bytes of ALL ids first, then decode once, replacing "
    "what is not valid UTF-8.",
))  # fmt: skip


def add_special_token(
    text: str, merges: dict[tuple[int, int], int], special_tokens: dict[str, int], new_token: str
) -> list[int]:
    """Ids of ``text`` once ``new_token`` joins the trained tokenizer's special tokens."""
    trained = BPETokenizer.from_merges(merges)
    new_id = max([*trained.vocab, *special_tokens.values()]) + 1  # the first free id
    grown = BPETokenizer(trained.ranks, trained.pattern, {**special_tokens, new_token: new_id})
    return grown.encode(text, allowed_special="all")


_EOT = {"<|endoftext|>": 259}  # after _MERGES_THE's 256 + 3 tokens
register(Exercise(
    "02.add_special_token",
    add_special_token,
    [
        Case("the new token once", ("the end<|sep|> the", _MERGES_THE, _EOT, "<|sep|>")),
        Case(
            "old and new special tokens",
            ("a<|endoftext|>b<|sep|>c<|endoftext|>", _MERGES_THE, _EOT, "<|sep|>"),
        ),
        Case("no special token yet", ("<|sep|><|sep|>the", _MERGES_THE, {}, "<|sep|>")),
        Case("two specials already", ("x<|sep|>", {}, {"<|a|>": 256, "<|b|>": 257}, "<|sep|>")),
        Case(
            "a new token that looks like an old one",
            ("the<|end|>the<|endoftext|>", _MERGES_THE, _EOT, "<|end|>"),
        ),
        Case("text without special tokens", (" the theme", _MERGES_THE, _EOT, "<|sep|>")),
    ],
    "no retraining: the merges stay as they are. The new token's id is the first id nobody uses "
    "yet, after the bytes, the merges AND the special tokens already there. Cut the text at "
    "every special token, old and new; encode the pieces between them with the merges as "
    "before, and give each special token its single id.",
))  # fmt: skip
