"""Every code point splits and encodes as in tiktoken's ``gpt2`` encoding.

Whether a character is a letter (``\\p{L}``) or a number (``\\p{N}``) depends on the Unicode
version of the regex engine's tables, and the ``regex`` module is newer than tiktoken's Rust
engine. Two checks over all 1,112,064 code points (surrogates excluded), cheapest first:

- class membership (about a second per class): tiktoken's engine is probed with a byte-level
  encoding whose pattern is just the class (tiktoken keeps exactly the text its pattern
  matches), against ``compile_split_pattern`` of the same class;
- ids (about 7 s of CPU each): ``BPETokenizer.from_tiktoken`` against tiktoken, every code
  point in a context that changes the ids when its class differs, with tiktoken's spelling of
  the GPT-2 pattern and with the course's. Contexts are joined thousands at a time; a batch
  that differs is bisected down to its code points.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest
import tiktoken

from llm101_helpers.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer
from llm101_helpers.tokenizers.split_pattern import compile_split_pattern

CODE_POINTS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
BATCH = 8192


@pytest.fixture(scope="module")
def gpt2_enc() -> tiktoken.Encoding:
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as exc:  # no network and no TIKTOKEN_CACHE_DIR
        pytest.skip(f"tiktoken's gpt2 files are unavailable (set TIKTOKEN_CACHE_DIR): {exc}")


@cache
def tiktoken_members(pattern: str) -> frozenset[int]:
    """The code points tiktoken's engine matches with ``pattern`` (a single-character class)."""
    probe = tiktoken.Encoding(
        "class-probe",
        pat_str=pattern,
        mergeable_ranks={bytes([b]): b for b in range(256)},
        special_tokens={},
    )
    kept = bytes(probe.encode_ordinary("".join(map(chr, CODE_POINTS)))).decode("utf-8")
    return frozenset(map(ord, kept))


def course_members(pattern: str) -> frozenset[int]:
    found = compile_split_pattern(pattern).findall("".join(map(chr, CODE_POINTS)))
    return frozenset(map(ord, found))


@pytest.mark.parametrize("cls", [r"\p{L}", r"\p{N}", r"\s", r"[^\s\p{L}\p{N}]", r"\P{L}"])
def test_every_code_point_is_in_the_same_class_as_in_tiktoken(cls):
    theirs, ours = tiktoken_members(cls), course_members(cls)
    assert len(theirs) > 20, "the probe matched (almost) nothing"
    differ = sorted(theirs ^ ours)
    assert not differ, (
        f"{len(differ)} code points are {cls} in only one of tiktoken and the course, first "
        f"{[f'U+{cp:04X}' for cp in differ[:10]]}: has tiktoken's Unicode version changed?"
    )


Encoder = Callable[[str], list[int]]


def mismatches(code_points: list[int], context: str, ours: Encoder, theirs: Encoder) -> list[int]:
    """The code points whose ``context`` (such as ``"x{c}'s"``) ``ours`` encodes unlike ``theirs``,
    tried in batches of :data:`BATCH` joined by newlines; a batch that differs is bisected."""
    found = []
    for start in range(0, len(code_points), BATCH):
        batch = [code_points[start : start + BATCH]]
        while batch:
            cps = batch.pop()
            text = "\n".join(context.format(c=chr(cp)) for cp in cps)
            if ours(text) == theirs(text):
                continue
            if len(cps) == 1:
                found += cps
            else:
                batch += [cps[len(cps) // 2 :], cps[: len(cps) // 2]]
    return sorted(found)


@pytest.fixture(scope="module")
def gpt2_course_pattern(gpt2_enc) -> tiktoken.Encoding:
    """GPT-2's ranks with the course's spelling of the pattern (tiktoken's is possessive)."""
    return tiktoken.Encoding(
        "gpt2-course-pattern",
        pat_str=GPT2_SPLIT_PATTERN,
        mergeable_ranks=gpt2_enc._mergeable_ranks,
        special_tokens=gpt2_enc._special_tokens,
    )


# The context moves a chunk boundary, and so changes the ids, whenever c's class differs:
# "c's" is one chunk plus the token "'s" when c is a letter or number, else "c'" and "s".
@pytest.mark.slow
@pytest.mark.parametrize(("encoding", "context"), [("gpt2", "x{c}'s"), ("course", "1{c}'s")])
def test_every_code_point_encodes_to_tiktokens_ids(
    gpt2_enc, gpt2_course_pattern, encoding, context
):
    enc = gpt2_enc if encoding == "gpt2" else gpt2_course_pattern
    tok = BPETokenizer.from_tiktoken(enc)
    assert tok.encode_ordinary("x\ua7ce's") == enc.encode_ordinary("x\ua7ce's")
    bad = mismatches(CODE_POINTS, context, tok.encode_ordinary, enc.encode_ordinary)
    assert not bad, f"{len(bad)} code points encode unlike tiktoken: {[hex(c) for c in bad[:10]]}"
