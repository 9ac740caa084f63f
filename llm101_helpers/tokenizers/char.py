"""The character-level tokenizer, the simplest baseline (notebook 10)."""

from __future__ import annotations

from collections.abc import Iterable

from llm101_helpers.tokenizers.special import (
    AllowedSpecial,
    DisallowedSpecial,
    check_ids,
    encode_with_special,
)


class CharTokenizer:
    """One token per character of a fixed alphabet (nanoGPT's ``shakespeare_char``).

    ``CharTokenizer.train(text)`` takes the sorted set of ``text``'s characters
    as the vocabulary; encoding a character outside it raises ``ValueError``.
    """

    def __init__(self, chars: str) -> None:
        if len(set(chars)) != len(chars) or not chars:
            raise ValueError("CharTokenizer needs a non-empty string of distinct characters")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}
        self.special_tokens: dict[str, int] = {}  # none; kept for the shared encode

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        """The tokenizer whose alphabet is the sorted set of ``text``'s characters."""
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        """Number of characters in the alphabet."""
        return len(self.chars)

    def encode_ordinary(self, text: str) -> list[int]:
        """One id per character of ``text``."""
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise ValueError(
                f"character {err.args[0]!r} is not in this CharTokenizer's "
                f"{self.vocab_size}-character vocabulary"
            ) from None

    def encode(
        self,
        text: str,
        allowed_special: AllowedSpecial = "none_raise",
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int]:
        """One id per character of ``text`` (the same arguments as the other tokenizers)."""
        return encode_with_special(
            text, self.special_tokens, self.encode_ordinary, allowed_special, disallowed_special
        )

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of ``ids``; an id outside ``0..vocab_size-1`` raises ``ValueError``."""
        chars = self.chars
        return "".join([chars[i] for i in check_ids(ids, self.vocab_size)])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
