"""Lesson 01 exercises: a lossless split, the unknown-word rate of a vocabulary, documents."""

from __future__ import annotations

import re

from llm101_helpers.exercises.checker import Case, Exercise, register
from llm101_helpers.tokenizers import ENDOFTEXT, UNK, WORD_SPLIT_PATTERN, WordTokenizer


def lossless_split(text: str) -> list[str]:
    """Words and punctuation as the notebook splits them, plus each run of white space."""
    return re.findall(rf"{WORD_SPLIT_PATTERN}|\s+", text)


register(Exercise(
    "01.lossless_split",
    lossless_split,
    [
        Case("one sentence", ("The tide went out.",)),
        Case("runs of spaces and a line break", ("don't  wake\nit!",)),
        Case("white space at both ends", ("  gulls, \n",)),
        Case("tabs and Windows line ends", ("tabs\tand\r\nlines",)),
        Case("only white space", ("\n\n",)),
        Case("empty", ("",)),
    ],
    "keep the notebook's two kinds of token (words with inner apostrophes, single punctuation "
    "marks) and add a third alternative for white space. Whatever its length, and whatever mix "
    "of spaces, tabs and line breaks it is, a stretch of white space is ONE token; joining the "
    "tokens must give back the text exactly.",
))  # fmt: skip


def unk_rate(train_text: str, test_text: str, vocab_size: int) -> float:
    """Fraction of the tokens of test_text outside the vocab_size most frequent training words."""
    tok = WordTokenizer.train(train_text, vocab_size=vocab_size + 1, special_tokens=[UNK])
    ids = tok.encode(test_text)
    return ids.count(tok.special_tokens[UNK]) / len(ids)


_SEA = "the sea, the sea. the gull and the sea; a gull, a boat."
register(Exercise(
    "01.unk_rate",
    unk_rate,
    [
        Case("every test word known", (_SEA, "the sea, a gull.", 100)),
        Case("a vocabulary of 3 tokens", (_SEA, "the gull and the boat.", 3)),
        Case("repeated unknown words count each time", (_SEA, "a boat, a boat, a ship.", 4)),
        Case("ties: the word seen first is kept", ("b a c d c", "a a b", 2)),
        Case("capitals are other words", (_SEA, "The Sea, the sea", 5)),
        Case("vocabulary of one", ("x y x", "x y z x", 1)),
    ],
    "split both texts with the notebook's pattern. The vocabulary is the vocab_size most "
    "frequent TRAINING tokens (punctuation counts as tokens; on a tie, the one seen first wins). "
    "Then count every test token that is not in it, repeats included, and divide by the number "
    "of test tokens: a fraction between 0 and 1, not a percentage.",
))  # fmt: skip


def encode_documents(documents: list[str], token_to_id: dict[str, int]) -> list[int]:
    """The package's WordTokenizer on the documents joined by <|endoftext|>."""
    specials = [ENDOFTEXT, UNK]
    words = [t for t in sorted(token_to_id, key=token_to_id.get) if t not in specials]
    tok = WordTokenizer(words, specials)
    if tok.token_to_id != token_to_id:
        raise ValueError("the exercise's vocabulary must list the special tokens last")
    return tok.encode(ENDOFTEXT.join(documents), allowed_special={ENDOFTEXT})


_DOC_VOCAB = {"the": 0, "tide": 1, "went": 2, "out": 3, ".": 4, ENDOFTEXT: 5, UNK: 6}
register(Exercise(
    "01.encode_documents",
    encode_documents,
    [
        Case("one document: no separator", (["the tide went out."], _DOC_VOCAB)),
        Case("two documents", (["the tide.", "went out."], _DOC_VOCAB)),
        Case("three, with an unknown word", (["the sea.", "out", "tide"], _DOC_VOCAB)),
        Case("an empty document", (["the tide", "", "out"], _DOC_VOCAB)),
        Case("no documents", ([], _DOC_VOCAB)),
    ],
    f"split each document with the notebook's pattern and encode its words (unknown words "
    f"become {UNK!r}); put the id of {ENDOFTEXT!r} BETWEEN documents (n documents, n - 1 "
    "separators), as one token, never split by the regex.",
))  # fmt: skip
