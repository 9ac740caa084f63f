"""The word-level tokenizer of notebook 01: one id per distinct word or punctuation mark."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from llm101_helpers.tokenizers.save_format import (
    LineReader,
    TokenizerFileError,
    dump_checked,
    parse_checked,
    read_checked,
)
from llm101_helpers.tokenizers.special import (
    ENDOFTEXT,
    UNK,
    AllowedSpecial,
    DisallowedSpecial,
    check_ids,
    check_special_names,
    encode_with_special,
    split_special,
)

#: The word tokenizer's split: a word (letters, digits, ``_``; apostrophes
#: inside a word are kept, as in ``don't``), or any single character that is
#: neither a word character nor whitespace. Whitespace is dropped.
WORD_SPLIT_PATTERN = r"\w+(?:['\u2019]\w+)*|[^\w\s]"

_WORD_MAGIC = "llm101-words"


class UnknownWordError(KeyError):
    """A word is not in the vocabulary and the vocabulary has no ``<|unk|>`` token."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


class WordTokenizer:
    """A word-level tokenizer: one id per distinct word or punctuation mark.

    >>> tok = WordTokenizer.train("Hello, world. Hello again!")
    >>> tok.decode(tok.encode("Hello, world."))
    'Hello, world.'

    Ids are ordered by frequency in the training text (most frequent first,
    ties by first appearance); special tokens come after the words. Words it
    never saw become ``<|unk|>``.

    ``decode`` joins tokens with single spaces, then removes the space before
    ``. , : ; ? ! ) ] }`` and after ``( [ {``. So text round-trips exactly when
    it is spaced that way (single spaces, no newlines, no unknown words);
    otherwise ``decode`` returns the same tokens with normalised spacing.
    """

    _NO_SPACE_BEFORE = re.compile(r" ([.,:;?!)\]}])")
    _NO_SPACE_AFTER = re.compile(r"([(\[{]) ")

    def __init__(
        self,
        words: Sequence[str],
        special_tokens: Sequence[str] = (ENDOFTEXT, UNK),
        pattern: str = WORD_SPLIT_PATTERN,
    ) -> None:
        """Ids ``0..len(words)-1`` for ``words``, the next ids for ``special_tokens``.

        Usually made by :meth:`train` or :meth:`load`.
        """
        check_special_names(special_tokens)
        tokens = [*words, *special_tokens]
        if len(set(tokens)) != len(tokens):
            dup = sorted(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"duplicate tokens in the vocabulary: {dup[:10]}")
        self.pattern = pattern
        self._split = re.compile(pattern)
        self.id_to_token: list[str] = tokens
        self.token_to_id: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self.special_tokens: dict[str, int] = {t: self.token_to_id[t] for t in special_tokens}

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int | None = None,
        min_freq: int = 1,
        special_tokens: Sequence[str] = (ENDOFTEXT, UNK),
        pattern: str = WORD_SPLIT_PATTERN,
    ) -> WordTokenizer:
        """Build the vocabulary of ``text``.

        Keeps words seen at least ``min_freq`` times, the most frequent first,
        and at most ``vocab_size - len(special_tokens)`` of them when
        ``vocab_size`` is given. Special-token text inside ``text`` (such as
        ``<|endoftext|>`` between documents) is not counted as words.
        """
        special_tokens = tuple(special_tokens)
        if vocab_size is not None and vocab_size <= len(special_tokens):
            raise ValueError(
                f"vocab_size={vocab_size} leaves no room for words next to the "
                f"{len(special_tokens)} special tokens {list(special_tokens)}"
            )
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        split = re.compile(pattern)
        counts: Counter[str] = Counter()
        for piece, is_special in split_special(text, set(special_tokens)):
            if not is_special:
                counts.update(split.findall(piece))
        # most_common sorts by count and keeps first-appearance order on ties
        words = [w for w, c in counts.most_common() if c >= min_freq]
        if vocab_size is not None:
            words = words[: vocab_size - len(special_tokens)]
        return cls(words, special_tokens, pattern)

    @property
    def vocab_size(self) -> int:
        """Number of tokens, special tokens included."""
        return len(self.id_to_token)

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into word and punctuation strings (special tokens not recognised)."""
        return self._split.findall(text)

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, treating special-token text as ordinary text.

        Unknown words become ``<|unk|>`` if it is a special token of this
        tokenizer; otherwise they raise :class:`UnknownWordError` (a ``KeyError``).
        """
        unk = self.special_tokens.get(UNK)
        ids: list[int] = []
        for word in self._split.findall(text):
            idx = self.token_to_id.get(word, unk)
            if idx is None:
                raise UnknownWordError(
                    f"the word {word!r} is not in the vocabulary ({self.vocab_size} tokens) "
                    f"and the tokenizer has no {UNK!r} token to stand for it"
                )
            ids.append(idx)
        return ids

    def encode(
        self,
        text: str,
        allowed_special: AllowedSpecial = "none_raise",
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int]:
        """Token ids of ``text``: :meth:`encode_ordinary` plus tiktoken's special-token rules.

        By default special-token text in ``text`` raises ``ValueError``;
        ``allowed_special="all"`` encodes it as the special token.
        """
        return encode_with_special(
            text, self.special_tokens, self.encode_ordinary, allowed_special, disallowed_special
        )

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: tokens joined by spaces, then the class docstring's spacing rules."""
        tokens = [self.id_to_token[i] for i in check_ids(ids, self.vocab_size)]
        text = " ".join(tokens)
        text = self._NO_SPACE_BEFORE.sub(r"\1", text)
        return self._NO_SPACE_AFTER.sub(r"\1", text)

    def dumps(self) -> str:
        """The save file's text: pattern, special tokens, then one word per line."""
        n_words = self.vocab_size - len(self.special_tokens)
        lines = [
            f"pattern {json.dumps(self.pattern)}",
            f"special_tokens {len(self.special_tokens)}",
        ]
        lines += [f"{i} {json.dumps(t)}" for t, i in self.special_tokens.items()]
        lines.append(f"words {n_words}")
        lines += [f"{i} {json.dumps(self.id_to_token[i])}" for i in range(n_words)]
        return dump_checked(_WORD_MAGIC, lines)

    def save(self, path: str | Path) -> None:
        """Write :meth:`dumps` to a UTF-8 text file."""
        Path(path).write_text(self.dumps(), encoding="utf-8", newline="\n")

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> WordTokenizer:
        """The tokenizer saved in ``text`` (from :meth:`dumps`); errors name ``source``."""
        return cls._from_lines(parse_checked(text, _WORD_MAGIC, source), source)

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        """Read a file written by :meth:`save`; a damaged one raises :class:`TokenizerFileError`."""
        return cls._from_lines(read_checked(path, _WORD_MAGIC), str(path))

    @classmethod
    def _from_lines(cls, lines: list[str], source: str) -> WordTokenizer:
        r = LineReader(source, lines)
        pattern = r.json_string("pattern")
        specials = [r.id_and_json() for _ in range(r.count("special_tokens"))]
        n_words = r.count("words")
        words = []
        for i in range(n_words):
            idx, word = r.id_and_json()
            if idx != i:
                raise r.error(f"expected word id {i}, found {idx}")
            words.append(word)
        r.done()
        for k, (idx, token) in enumerate(specials):
            if idx != n_words + k:
                raise TokenizerFileError(
                    f"{source}: special token {token!r} has id {idx}, expected {n_words + k}"
                )
        try:
            return cls(words, [t for _, t in specials], pattern)
        except (ValueError, re.error) as exc:
            raise TokenizerFileError(f"{source}: {exc}") from exc

    def __repr__(self) -> str:
        specials = list(self.special_tokens)
        return f"WordTokenizer(vocab_size={self.vocab_size}, special_tokens={specials})"
