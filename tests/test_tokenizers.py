"""Tests for llm101_helpers.tokenizers.

Expected values come from outside the code under test: hand-worked examples,
tiktoken's ``gpt2`` encoding, the token counts Hugging Face's byte-level BPE
trainer reaches on tiny shakespeare (see ``test_reference_token_counts...``),
and the naive trainer (which the fast trainer must agree with).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import tiktoken
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm101_helpers.data import load_poems
from llm101_helpers.tokenizers import (
    ENDOFTEXT,
    GPT2_SPLIT_PATTERN,
    UNK,
    BPETokenizer,
    TokenizerFileError,
    UnknownWordError,
    WordTokenizer,
    get_pair_counts,
    merge_pair,
    naive_train,
)

PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

HARD_CASES = [
    "I'm sure they'll say we've done what you're told; she'd KNOW it's HIS. Don't! O'er 'tis",
    "It'S I'M WE'LL'VE 're 'd ' ' '",  # contractions in odd case and position
    "a  b   c    d\t\te\n\nf\n\n\n\ng \n \n  \r\n\r\n end   ",  # runs of spaces/newlines
    "   leading spaces and trailing ones   ",
    "\n\n\n",
    "1 12 123 1234 12345 3.14159 1,000,000 007 2024-01-01 ½ ² ٣",  # digits
    "!!! ??? ... --- ;;; :) (-: [[x]] {y} <<z>> @#$%^&*_+=|\\/~`",  # punctuation runs
    "café naïve Zürich façade jalapeño Ærøskøbing İstanbul ß ẞ",  # accented letters
    "東京タワーは高い。中文字符测试，你好世界！한국어 텍스트",  # CJK
    "😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🫠 x😀y",  # emoji, skin tones, ZWJ sequences, flags
    "English, Ελληνικά, русский, עברית, العربية, हिन्दी, ไทย mixed123Ω in one line",
    "\u00a0non-breaking\u2003em-space\u200bzero-width\ufeffBOM\x00nul\x1fcontrol\x85nel",
    "e\u0301 combining, ﬁ ligature, Ⅻ numeral, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 maths letters",
    "",
]


# --- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def shakespeare() -> str:
    """Tiny shakespeare, through the package's corpus loader (offline via LLM101_DATA_MIRROR)."""
    try:
        from llm101_helpers.data import download_corpus
    except ImportError:  # package data module not there: read the mirror directly
        mirror = Path(os.environ.get("LLM101_DATA_MIRROR", "/work/shared/data/mirror"))
        path = mirror / "tinyshakespeare.txt"
        if not path.is_file():
            pytest.skip(f"tiny shakespeare not found at {path}; set LLM101_DATA_MIRROR")
        return path.read_text(encoding="utf-8")
    try:
        return download_corpus("tinyshakespeare").read_text(encoding="utf-8")
    except (ConnectionError, FileNotFoundError) as exc:
        pytest.skip(f"tiny shakespeare unavailable (no network, no LLM101_DATA_MIRROR): {exc}")


@pytest.fixture(scope="module")
def gpt2_enc() -> tiktoken.Encoding:
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as exc:  # no network and no TIKTOKEN_CACHE_DIR
        pytest.skip(f"tiktoken's gpt2 files are unavailable (set TIKTOKEN_CACHE_DIR): {exc}")


@pytest.fixture(scope="module")
def gpt2(gpt2_enc) -> BPETokenizer:
    return BPETokenizer.from_tiktoken(gpt2_enc)


@pytest.fixture(scope="module")
def trained(shakespeare) -> BPETokenizer:
    """Trained on 200k characters of Shakespeare plus some non-English text."""
    text = shakespeare[:200_000] + "\n".join(HARD_CASES) * 3
    return BPETokenizer.train(text, 600, special_tokens=(ENDOFTEXT, "<|pad|>"))


# --- the two steps, worked by hand --------------------------------------------


def test_get_pair_counts_counts_overlapping_pairs_in_first_seen_order():
    assert get_pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert list(get_pair_counts([7, 7, 7, 5])) == [(7, 7), (7, 5)]
    assert get_pair_counts([7, 7, 7, 5])[(7, 7)] == 2
    counts = get_pair_counts([1, 2])
    assert get_pair_counts([1, 2, 9], counts) is counts and counts == {(1, 2): 2, (2, 9): 1}
    assert get_pair_counts([4]) == {} and get_pair_counts([]) == {}


def test_merge_pair_is_left_to_right_and_non_overlapping():
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 99) == [99, 3, 99]
    assert merge_pair([5, 5, 5], (5, 5), 6) == [6, 5]
    assert merge_pair([5, 5, 5, 5], (5, 5), 6) == [6, 6]
    assert merge_pair([1, 3], (1, 2), 99) == [1, 3]


def test_training_on_the_wikipedia_example_with_first_occurrence_tie_break():
    # "aaabdaaabac" (Wikipedia's BPE example), one chunk (pattern matches everything):
    # 1. pairs: aa x4 (overlapping), ab x2, ... -> merge (a, a) = 256: [256 a b d 256 a b a c]
    # 2. (256, a) x2 and (a, b) x2 tie; (256, a) occurs first -> 257: [257 b d 257 b a c]
    #    (the "lowest ids" rule would pick (a, b) = (97, 98) instead)
    # 3. (257, b) x2 -> 258
    a, b = ord("a"), ord("b")
    expected = {(a, a): 256, (256, a): 257, (257, b): 258}
    for train in (BPETokenizer.train, naive_train):
        tok = train("aaabdaaabac", 259, pattern=r"(?s).+")
        assert list(tok.merges.items()) == list(expected.items())
        assert tok.encode("aaabdaaabac") == [258, ord("d"), 258, a, ord("c")]
        assert tok.vocab[258] == b"aaab"
    seen = []
    naive_train("aaabdaaabac", 259, pattern=r"(?s).+", on_merge=lambda *m: seen.append(m))
    assert seen == [((a, a), 256, 4), ((256, a), 257, 2), ((257, b), 258, 2)]


def test_merges_never_cross_the_split_pattern():
    # chunks "ab", " ab", " ab", " ab": "b " is never a pair, though it is in the text 3 times
    tok = BPETokenizer.train("ab ab ab ab", 258)
    assert tok.vocab[256] == b"ab" and tok.vocab[257] == b" ab"
    # one chunk: (ab, " ") and (" ", ab) tie at 3; (ab, " ") comes first in the text
    unsplit = BPETokenizer.train("ab ab ab ab", 258, pattern=r"(?s).+")
    assert unsplit.vocab[257] == b"ab "


# --- fast trainer == naive trainer (same merges, same ties) -------------------


def test_fast_trainer_matches_naive_trainer_on_shakespeare(shakespeare):
    text = shakespeare[:12_000]
    fast = BPETokenizer.train(text, 420)
    naive = naive_train(text, 420)
    assert list(fast.merges.items()) == list(naive.merges.items())


@PROPERTY
@given(
    text=st.text(alphabet="ab c\nd'é1", max_size=80),
    extra=st.integers(min_value=0, max_value=40),
)
def test_fast_trainer_matches_naive_trainer_on_tie_heavy_text(text, extra):
    # a tiny alphabet makes many equal counts, so the tie-break rule is exercised
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the training text ran out of pairs")
        fast = BPETokenizer.train(text, 256 + extra)
        naive = naive_train(text, 256 + extra)
    assert list(fast.merges.items()) == list(naive.merges.items())


def test_fast_trainer_matches_naive_trainer_until_the_text_runs_out_of_pairs():
    # Late in training almost every pair occurs once or twice, so nearly every
    # merge is chosen among hundreds of tied pairs (the fast trainer's
    # lower-bound positions are exercised hardest here).
    text = load_poems()[:6_000]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the training text ran out of pairs")
        fast = BPETokenizer.train(text, 20_000)
        naive = naive_train(text, 20_000)
    assert len(fast.merges) > 1_000
    assert list(fast.merges.items()) == list(naive.merges.items())


def test_training_warns_when_text_runs_out_of_pairs():
    with pytest.warns(UserWarning, match=r"after 2 of 10 merges"):
        tok = BPETokenizer.train("abc", 266)
    assert tok.vocab_size == 258


# --- reference token counts -------------------------------------------------------
# Byte-level BPE with GPT-2's split pattern, trained on the first 1,000,000 characters
# of tiny shakespeare to vocab 1024 (512), encodes that text in 409,532 (514,450)
# tokens. Hugging Face's `tokenizers` trainer, a separate implementation, reaches the
# same counts: `python bench/bpe.py --skip-naive` reports both (`course_tokens`, `hf_tokens`).


@pytest.mark.parametrize(("vocab_size", "expected"), [(1024, 409_532), (512, 514_450)])
def test_reference_token_counts_on_a_million_characters(shakespeare, vocab_size, expected):
    text = shakespeare[:1_000_000]
    tok = BPETokenizer.train(text, vocab_size, pattern=GPT2_SPLIT_PATTERN)
    assert len(tok.merges) == vocab_size - 256
    assert len(tok.encode_ordinary(text)) == expected
    assert len(tok.to_tiktoken().encode_ordinary(text)) == expected


# --- GPT-2: identical ids to tiktoken -----------------------------------------


def test_gpt2_byte_order_is_kept(gpt2, gpt2_enc):
    # GPT-2 does not give byte b the id b: "!" is 0 and "A" is 32, the space byte is 220
    assert gpt2.ranks[b"!"] == 0 and gpt2.ranks[b"A"] == 32 and gpt2.ranks[b" "] == 220
    assert gpt2.vocab_size == gpt2_enc.n_vocab == 50257
    assert len(gpt2.merges) == 50000
    assert gpt2.special_tokens == {ENDOFTEXT: 50256}
    for (a, b), new in list(gpt2.merges.items())[:2000:7]:
        assert gpt2_enc.decode_single_token_bytes(new) == (
            gpt2_enc.decode_single_token_bytes(a) + gpt2_enc.decode_single_token_bytes(b)
        )


def test_gpt2_ids_match_tiktoken_on_all_of_tiny_shakespeare(gpt2, gpt2_enc, shakespeare):
    assert gpt2.encode(shakespeare) == gpt2_enc.encode(shakespeare)


def test_gpt2_ids_match_tiktoken_on_the_course_poems(gpt2, gpt2_enc):
    poems = load_poems()
    assert gpt2.encode(poems) == gpt2_enc.encode(poems)


@pytest.mark.parametrize("text", HARD_CASES)
def test_gpt2_ids_match_tiktoken_on_hard_cases(gpt2, gpt2_enc, text):
    assert gpt2.encode(text) == gpt2_enc.encode(text)
    assert gpt2.decode(gpt2.encode(text)) == text


@PROPERTY
@given(text=st.text(max_size=60))
def test_gpt2_matches_tiktoken_and_round_trips_on_arbitrary_unicode(gpt2, gpt2_enc, text):
    ids = gpt2.encode(text, disallowed_special=())
    assert ids == gpt2_enc.encode(text, disallowed_special=())
    assert gpt2.decode(ids) == text


def test_lone_surrogates_are_replaced_as_in_tiktoken(gpt2, gpt2_enc):
    text = "a\ud800b\udfff"
    assert gpt2.encode(text) == gpt2_enc.encode(text)
    assert gpt2.decode(gpt2.encode(text)) == "a\ufffdb\ufffd"


def test_gpt2_round_trips_through_to_tiktoken(gpt2, gpt2_enc, shakespeare):
    enc = gpt2.to_tiktoken("gpt2-copy")
    assert isinstance(enc, tiktoken.Encoding) and enc.name == "gpt2-copy"
    sample = shakespeare[:50_000] + "".join(HARD_CASES)
    assert enc.encode(sample) == gpt2_enc.encode(sample)


# --- trained tokenizers ---------------------------------------------------------


@PROPERTY
@given(text=st.text(max_size=80))
def test_trained_tokenizer_round_trips_arbitrary_unicode(trained, text):
    assert trained.decode(trained.encode(text, disallowed_special=())) == text


def test_trained_to_tiktoken_gives_identical_ids_on_held_out_text(shakespeare):
    tok = BPETokenizer.train(shakespeare[:300_000], 1024, special_tokens=(ENDOFTEXT,))
    enc = tok.to_tiktoken()
    held_out = shakespeare[1_000_000:] + "".join(HARD_CASES)
    assert tok.encode(held_out) == enc.encode(held_out)
    with_special = held_out[:5000] + ENDOFTEXT + held_out[5000:10_000]
    assert tok.encode(with_special, allowed_special="all") == enc.encode(
        with_special, allowed_special="all"
    )


@PROPERTY
@given(text=st.text(max_size=80))
def test_trained_to_tiktoken_gives_identical_ids_on_arbitrary_unicode(trained, text):
    assert trained.encode(text, disallowed_special=()) == _tiktoken_of(trained).encode(
        text, disallowed_special=()
    )


_TIKTOKEN_COPIES: dict[int, tiktoken.Encoding] = {}


def _tiktoken_of(tok: BPETokenizer) -> tiktoken.Encoding:
    return _TIKTOKEN_COPIES.setdefault(id(tok), tok.to_tiktoken())


# --- save and load ----------------------------------------------------------------


@pytest.fixture(scope="module")
def reloaded(trained, tmp_path_factory) -> BPETokenizer:
    path = tmp_path_factory.mktemp("bpe") / "trained.bpe"
    trained.save(path)
    return BPETokenizer.load(path)


def test_save_load_keeps_everything(trained, reloaded):
    assert reloaded.ranks == trained.ranks
    assert list(reloaded.merges.items()) == list(trained.merges.items())
    assert reloaded.pattern == trained.pattern
    assert reloaded.special_tokens == trained.special_tokens == {ENDOFTEXT: 598, "<|pad|>": 599}


@PROPERTY
@given(text=st.text(max_size=80))
def test_save_load_encodes_identically(trained, reloaded, text):
    assert reloaded.encode(text, allowed_special="all") == trained.encode(
        text, allowed_special="all"
    )


def test_gpt2_save_load_keeps_pattern_and_byte_order(gpt2, gpt2_enc, tmp_path, shakespeare):
    path = tmp_path / "gpt2.bpe"
    gpt2.save(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("llm101-bpe 1\n")
    assert "256 220 83  # ' t' = ' ' + 't'" in text  # readable merges
    loaded = BPETokenizer.load(path)
    assert loaded.pattern == gpt2_enc._pat_str and loaded.ranks == gpt2.ranks
    sample = shakespeare[:20_000] + "".join(HARD_CASES)
    assert loaded.encode(sample) == gpt2_enc.encode(sample)


def test_save_load_with_a_custom_pattern(tmp_path):
    tok = BPETokenizer.train("hello world hello world", 260, pattern=r"\w+|\s+")
    tok.save(tmp_path / "t.bpe")
    assert BPETokenizer.load(tmp_path / "t.bpe").pattern == r"\w+|\s+"


@pytest.fixture
def saved(trained, tmp_path) -> Path:
    path = tmp_path / "t.bpe"
    trained.save(path)
    return path


def test_load_rejects_a_truncated_file(saved):
    lines = saved.read_text(encoding="utf-8").splitlines(keepends=True)
    saved.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"truncated or damaged"):
        BPETokenizer.load(saved)


def test_load_rejects_an_edited_merge(saved):
    text = saved.read_text(encoding="utf-8")
    edited = re.sub(r"^300 (\d+) ", lambda m: f"300 {int(m[1]) + 1} ", text, count=1, flags=re.M)
    assert edited != text
    saved.write_text(edited, encoding="utf-8")
    with pytest.raises(ValueError, match=r"failed its checksum"):
        BPETokenizer.load(saved)


def test_load_rejects_an_edited_pattern(saved):
    text = saved.read_text(encoding="utf-8")
    saved.write_text(text.replace("?\\\\p{L}+", "?\\\\p{L}*", 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"failed its checksum"):
        BPETokenizer.load(saved)


def test_load_rejects_other_files_and_versions(saved, tmp_path):
    text = saved.read_text(encoding="utf-8")
    saved.write_text(text.replace("llm101-bpe 1", "llm101-bpe 2", 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"format version '2'"):
        BPETokenizer.load(saved)
    words = tmp_path / "w.txt"
    WordTokenizer.train("a b c").save(words)
    with pytest.raises(ValueError, match=r"is not a llm101-bpe file"):
        BPETokenizer.load(words)
    with pytest.raises(ValueError, match=r"is not a llm101-words file"):
        WordTokenizer.load(saved)


def test_load_survives_windows_line_endings(saved, trained):
    saved.write_bytes(saved.read_bytes().replace(b"\n", b"\r\n"))
    assert BPETokenizer.load(saved).ranks == trained.ranks


def _rechecksum(text: str) -> str:
    """``text`` with its last line replaced by the SHA-256 of the rest: a deliberate hand edit."""
    body = text[: text.rstrip("\n").rfind("\n") + 1]
    return body + f"sha256 {hashlib.sha256(body.encode('utf-8')).hexdigest()}\n"


def _line_no(text: str, prefix: str) -> int:
    """1-based number of the first line of ``text`` that starts with ``prefix``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(prefix))


def test_load_rejects_files_that_are_not_utf8_text(saved, tmp_path):
    good = saved.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] |= 0x80  # an ASCII byte with its top bit set is never valid UTF-8
    cases = {
        "random.bpe": random.Random(0).randbytes(4096),
        "pickled.bpe": pickle.dumps({"merges": [(1, 2)]}),
        "flipped.bpe": bytes(flipped),
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(TokenizerFileError, match=rf"{re.escape(str(path))} .*not UTF-8 text"):
            BPETokenizer.load(path)
        with pytest.raises(TokenizerFileError, match=re.escape(str(path))):
            WordTokenizer.load(path)
    assert issubclass(TokenizerFileError, ValueError)


def test_load_names_the_line_of_a_hand_edited_file(saved):
    text = saved.read_text(encoding="utf-8")
    assert _rechecksum(text) == text  # the helper reproduces the format's own checksum
    merge = next(line for line in text.splitlines() if line.startswith("300 "))
    edits = {  # a line start -> (its replacement, what the error must say)
        "pattern ": ('pattern "unterminated', r"expected 'pattern <JSON string>'"),
        "598 ": ('598 "<|endoftext|>', r"expected '<id> <JSON string>'"),
        "65 41": ("65 zz  # 'A'", r"'zz' is not a byte in hex"),
        "merges ": ("merges many", r"expected a count after 'merges'"),
        "300 ": (merge.replace("300 ", "300 \u00b2", 1), r"expected 3 non-negative integers"),
    }
    for start, (replacement, message) in edits.items():
        line = _line_no(text, start)
        lines = text.splitlines()
        lines[line - 1] = replacement
        saved.write_text(_rechecksum("\n".join(lines) + "\n"), encoding="utf-8")
        where = re.escape(f"{saved}, line {line}: ")
        with pytest.raises(TokenizerFileError, match=where + f"(?:{message})"):
            BPETokenizer.load(saved)


def test_load_names_the_file_when_its_content_is_inconsistent(saved):
    text = saved.read_text(encoding="utf-8")
    bad_regex = text.replace(f"pattern {json.dumps(GPT2_SPLIT_PATTERN)}", 'pattern "(("', 1)
    assert bad_regex != text
    saved.write_text(_rechecksum(bad_regex), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=re.escape(f"{saved}: ")):
        BPETokenizer.load(saved)


def test_word_tokenizer_load_names_the_line_of_a_hand_edited_file(tmp_path):
    path = tmp_path / "w.txt"
    WordTokenizer.train("to be or not to be").save(path)
    text = path.read_text(encoding="utf-8")
    line = _line_no(text, '1 "be"')
    path.write_text(_rechecksum(text.replace('1 "be"', "1 be", 1)), encoding="utf-8")
    with pytest.raises(TokenizerFileError, match=re.escape(f"{path}, line {line}: expected")):
        WordTokenizer.load(path)


def test_dumps_and_loads_are_save_and_load_without_a_file(trained, saved):
    text = trained.dumps()
    assert text == saved.read_text(encoding="utf-8")
    loaded = BPETokenizer.loads(text)
    assert loaded.ranks == trained.ranks and loaded.special_tokens == trained.special_tokens
    assert list(loaded.merges.items()) == list(trained.merges.items())
    with pytest.raises(TokenizerFileError, match=r"^model\.pt \(tokenizer\) is truncated"):
        BPETokenizer.loads(text[: len(text) // 2], source="model.pt (tokenizer)")
    words = WordTokenizer.train("to be or not to be")
    assert WordTokenizer.loads(words.dumps()).id_to_token == words.id_to_token
    with pytest.raises(TokenizerFileError, match=r"^<string> is not a llm101-words file"):
        WordTokenizer.loads(text)


# --- special tokens ----------------------------------------------------------------


def test_special_token_text_raises_by_default(trained):
    with pytest.raises(ValueError, match=r"disallowed special token '<\|endoftext\|>'"):
        trained.encode("the end<|endoftext|>the start")


def test_special_token_options_follow_tiktoken(trained):
    enc = _tiktoken_of(trained)
    text = "a<|endoftext|>b<|pad|>c"
    eot, pad = trained.special_tokens[ENDOFTEXT], trained.special_tokens["<|pad|>"]
    assert trained.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert eot in trained.encode(text, allowed_special="all")
    for kwargs in [
        {"disallowed_special": ()},
        {"allowed_special": {ENDOFTEXT}, "disallowed_special": ()},
        {"allowed_special": {"<|pad|>"}, "disallowed_special": ()},
    ]:
        ids = trained.encode(text, **kwargs)
        assert ids == enc.encode(text, **kwargs), kwargs
    assert trained.encode(text, allowed_special="none") == enc.encode(text, disallowed_special=())
    assert pad not in trained.encode(text, allowed_special="none")
    # allowing one special token still refuses the other (disallowed_special="all" default)
    with pytest.raises(ValueError, match=r"disallowed special token '<\|pad\|>'"):
        trained.encode(text, allowed_special={ENDOFTEXT})
    with pytest.raises(ValueError, match=r"disallowed special token '<\|pad\|>'"):
        enc.encode(text, allowed_special={ENDOFTEXT})
    # a disallowed set is checked even when the rest is treated as text
    with pytest.raises(ValueError, match=r"disallowed special token '<\|pad\|>'"):
        trained.encode(text, allowed_special="none", disallowed_special={"<|pad|>"})


def test_unknown_special_token_names_are_rejected(trained):
    with pytest.raises(ValueError, match=r"not special tokens of this tokenizer: \['<\|eot\|>'\]"):
        trained.encode("x", allowed_special={"<|eot|>"})
    with pytest.raises(ValueError, match=r"allowed_special='some'"):
        trained.encode("x", allowed_special="some")


def test_special_tokens_in_training_text_are_plain_text():
    tok = BPETokenizer.train("a<|endoftext|>b " * 20, 262, special_tokens=(ENDOFTEXT,))
    assert tok.special_tokens == {ENDOFTEXT: 261}  # ids after the 5 merges
    # the text is split as ordinary text ("a", "<|", "endoftext", "|>", "b", " a", ...);
    # all pairs occur 20 times except (" ", "a"), so first occurrence decides
    assert [tok.vocab[i] for i in range(256, 261)] == [b"<|", b"en", b"end", b"endo", b"endof"]
    assert tok.encode(ENDOFTEXT, allowed_special="all") == [261]
    assert 261 not in tok.encode(ENDOFTEXT, disallowed_special=())


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("train", [BPETokenizer.train, naive_train])
def test_vocab_size_below_bytes_plus_specials_is_rejected(train):
    with pytest.raises(ValueError, match=r"vocab_size=256 is too small.*1 special.*at least 257"):
        train("some text", 256, special_tokens=(ENDOFTEXT,))
    with pytest.raises(ValueError, match=r"vocab_size=100 is too small.*at least 256"):
        train("some text", 100)
    assert train("some text", 256).vocab_size == 256  # bytes only is allowed


def test_decode_rejects_ids_outside_the_vocabulary(gpt2, trained):
    with pytest.raises(
        ValueError, match=r"token id 50257 is not in the vocabulary \(vocab_size=50257"
    ):
        gpt2.decode([31373, 50257])
    with pytest.raises(ValueError, match=r"token id -1 is not in the vocabulary \(vocab_size=600"):
        trained.decode([-1])
    with pytest.raises(ValueError, match=r"token id '7' is not in the vocabulary"):
        trained.decode_bytes(iter([1, "7"]))


@pytest.mark.parametrize("bad", [-1, 1.9, 1.0, True, "1", None])
def test_decode_rejects_anything_but_an_integer_id(trained, bad):
    word = WordTokenizer.train("to be or not to be")
    for tok in (trained, word):
        expected = rf"token id {re.escape(repr(bad))} is not in the vocabulary "
        with pytest.raises(ValueError, match=expected + rf"\(vocab_size={tok.vocab_size}"):
            tok.decode([2, bad])


def test_decode_accepts_numpy_and_torch_integers(trained):
    word = WordTokenizer.train("to be or not to be")
    for tok in (trained, word):
        ids = [3, 1, 2]
        assert tok.decode(np.array(ids)) == tok.decode(torch.tensor(ids)) == tok.decode(ids)


def test_encode_rejects_bytes(trained):
    for tok in (trained, WordTokenizer.train("a b")):
        with pytest.raises(TypeError, match=r"encode expects a str, got bytes"):
            tok.encode(b"abc")


def test_decoding_half_a_character_gives_the_replacement_character(gpt2, gpt2_enc, trained):
    ids = gpt2_enc.encode("😀é")
    for k in range(len(ids) + 1):
        assert gpt2.decode(ids[:k]) == gpt2_enc.decode(ids[:k])
        assert gpt2.decode_bytes(ids[:k]) == gpt2_enc.decode_bytes(ids[:k])
    assert trained.decode([0xF0, 0x9F]) == "\ufffd"  # first two bytes of a 4-byte emoji
    assert trained.decode_bytes([0xF0, 0x9F]) == b"\xf0\x9f"
    assert trained.decode([0xC3, 0xA9]) == "é"


def test_ranks_that_are_not_byte_level_bpe_are_rejected():
    ranks = {bytes([b]): b for b in range(256)}
    with pytest.raises(ValueError, match=r"needs all 256 single bytes.*missing 1"):
        BPETokenizer({t: i for t, i in ranks.items() if i != 7})
    with pytest.raises(ValueError, match=r"'abc' \(id 256\) is not the merge of two tokens"):
        BPETokenizer(ranks | {b"abc": 256})
    with pytest.raises(ValueError, match=r"special token '<\|x\|>' has id 5, already used"):
        BPETokenizer(ranks, special_tokens={"<|x|>": 5})


# --- word-level tokenizer -------------------------------------------------------------


def test_word_split_keeps_words_and_punctuation():
    tok = WordTokenizer.train("x")
    assert tok.tokenize("Hello, world. Don't stop--ever!") == [
        "Hello",
        ",",
        "world",
        ".",
        "Don't",
        "stop",
        "-",
        "-",
        "ever",
        "!",
    ]


def test_word_tokenizer_round_trip_and_ids():
    tok = WordTokenizer.train("the cat sat on the mat. The cat, the end.")
    # most frequent first, ties in order of first appearance
    assert tok.id_to_token[:6] == ["the", "cat", ".", "sat", "on", "mat"]
    # 9 distinct: the x3, cat x2, . x2, then sat on mat The , end once each
    assert tok.special_tokens == {ENDOFTEXT: 9, UNK: 10} and tok.vocab_size == 11
    assert tok.encode("the cat sat.") == [0, 1, 3, 2]
    for text in ["the cat sat on the mat.", "The cat, the end.", "the end, the mat."]:
        assert tok.decode(tok.encode(text)) == text
    hello = WordTokenizer.train("Hello, world.")
    assert hello.decode(hello.encode("Hello, world.")) == "Hello, world."


def test_word_tokenizer_spacing_is_normalised_not_kept():
    tok = WordTokenizer.train("a b c")
    assert tok.decode(tok.encode("a   b\n\nc")) == "a b c"


def test_word_tokenizer_unknown_words():
    tok = WordTokenizer.train("to be or not to be")
    assert tok.encode("to sleep") == [0, tok.special_tokens[UNK]]
    bare = WordTokenizer.train("to be or not to be", special_tokens=(ENDOFTEXT,))
    with pytest.raises(UnknownWordError, match=r"the word 'sleep' is not in the vocabulary"):
        bare.encode("to sleep")
    with pytest.raises(KeyError):
        bare.encode("perchance")


def test_word_tokenizer_joins_documents_with_endoftext():
    tok = WordTokenizer.train(f"first doc.{ENDOFTEXT}second doc.")
    assert ENDOFTEXT not in tok.id_to_token[:-2] and "|" not in tok.id_to_token
    ids = tok.encode(f"first doc. {ENDOFTEXT} second doc.", allowed_special="all")
    assert tok.special_tokens[ENDOFTEXT] in ids
    assert tok.decode(ids) == f"first doc. {ENDOFTEXT} second doc."
    with pytest.raises(ValueError, match=r"disallowed special token '<\|endoftext\|>'"):
        tok.encode(f"first {ENDOFTEXT}")


def test_word_tokenizer_vocab_size_and_min_freq():
    text = "a a a b b c"
    assert WordTokenizer.train(text, vocab_size=4).id_to_token == ["a", "b", ENDOFTEXT, UNK]
    assert WordTokenizer.train(text, min_freq=2).id_to_token == ["a", "b", ENDOFTEXT, UNK]
    with pytest.raises(ValueError, match=r"vocab_size=2 leaves no room for words next to the 2"):
        WordTokenizer.train(text, vocab_size=2)


def test_word_tokenizer_decode_rejects_unknown_ids():
    tok = WordTokenizer.train("a b")
    with pytest.raises(ValueError, match=r"token id 4 is not in the vocabulary \(vocab_size=4"):
        tok.decode([0, 4])


def test_word_tokenizer_save_load(tmp_path, shakespeare):
    tok = WordTokenizer.train(shakespeare[:50_000], special_tokens=(ENDOFTEXT, UNK, '"quoted" tok'))
    tok.save(tmp_path / "words.txt")
    loaded = WordTokenizer.load(tmp_path / "words.txt")
    assert loaded.id_to_token == tok.id_to_token and loaded.special_tokens == tok.special_tokens
    assert loaded.pattern == tok.pattern
    sample = shakespeare[50_000:60_000]
    assert loaded.encode(sample) == tok.encode(sample)
    path = tmp_path / "words.txt"
    path.write_text(path.read_text(encoding="utf-8").replace('"the"', '"thee"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"failed its checksum"):
        WordTokenizer.load(path)


@PROPERTY
@given(ids=st.lists(st.integers(min_value=0, max_value=50), max_size=30))
def test_word_tokenizer_encode_inverts_decode(shakespeare, ids):
    tok = _word_tok(shakespeare)
    assert tok.encode(tok.decode(ids)) == ids


_WORD: dict[str, WordTokenizer] = {}


def _word_tok(text: str) -> WordTokenizer:
    if "tok" not in _WORD:
        _WORD["tok"] = WordTokenizer.train(text[:20_000])
    return _WORD["tok"]
