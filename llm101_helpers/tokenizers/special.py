"""Special tokens (``<|endoftext|>``) and the checks all tokenizers' encode and decode share.

``encode`` follows tiktoken's rules: special-token text inside ordinary text
raises ``ValueError`` unless it is allowed (``allowed_special``) or declared
plain text (``disallowed_special=()``), so a document cannot smuggle in a
control token.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from functools import lru_cache
from typing import Literal

import regex

ENDOFTEXT = "<|endoftext|>"
UNK = "<|unk|>"

AllowedSpecial = Literal["all", "none", "none_raise"] | Collection[str]
DisallowedSpecial = Literal["all"] | Collection[str]


@lru_cache(maxsize=64)
def _special_regex(tokens: frozenset[str]) -> regex.Pattern[str]:
    """A regex matching any of ``tokens`` (longest first), as one capture group."""
    inner = "|".join(regex.escape(t) for t in sorted(tokens, key=len, reverse=True))
    return regex.compile(f"({inner})")


def resolve_special(
    special_tokens: Collection[str],
    allowed_special: AllowedSpecial,
    disallowed_special: DisallowedSpecial,
) -> tuple[set[str], set[str]]:
    """The ``(allowed, disallowed)`` sets meant by ``encode``'s two arguments.

    As in tiktoken, plus minbpe's string forms: ``allowed_special`` is
    ``"none_raise"`` (the default: allow none, and the default
    ``disallowed_special="all"`` raises on any), ``"none"`` (allow none and
    raise on none, unless ``disallowed_special`` is a collection), ``"all"``,
    or a collection. ``disallowed_special`` is ``"all"`` (every special token
    not allowed) or a collection.
    """
    known = set(special_tokens)
    if isinstance(allowed_special, str):
        if allowed_special == "all":
            allowed = set(known)
        elif allowed_special in ("none", "none_raise"):
            allowed = set()
        else:
            raise ValueError(
                f"allowed_special={allowed_special!r}: expected 'all', 'none', 'none_raise' "
                "or a collection of special tokens"
            )
    else:
        allowed = set(allowed_special)
    if isinstance(disallowed_special, str):
        if disallowed_special != "all":
            raise ValueError(
                f"disallowed_special={disallowed_special!r}: expected 'all' or a collection "
                "of special tokens"
            )
        disallowed = set() if allowed_special == "none" else known - allowed
    else:
        disallowed = set(disallowed_special)
    unknown = (allowed | disallowed) - known
    if unknown:
        raise ValueError(
            f"not special tokens of this tokenizer: {sorted(unknown)}; "
            f"its special tokens are {sorted(known)}"
        )
    return allowed, disallowed


def check_disallowed(text: str, disallowed: set[str]) -> None:
    """Raise ``ValueError`` if ``text`` contains the text of a disallowed special token."""
    if not disallowed:
        return
    match = _special_regex(frozenset(disallowed)).search(text)
    if match:
        token = match.group()
        raise ValueError(
            f"Encountered text corresponding to disallowed special token {token!r} at "
            f"character {match.start()}.\n"
            f"To encode it as the special token, pass allowed_special={{{token!r}}} "
            "(or allowed_special='all').\n"
            "To encode it as normal text, pass disallowed_special=() "
            "(or allowed_special='none')."
        )


def split_special(text: str, allowed: set[str]) -> list[tuple[str, bool]]:
    """Split ``text`` into ``(piece, is_special)`` around the allowed special tokens."""
    if not allowed:
        return [(text, False)]
    pieces = _special_regex(frozenset(allowed)).split(text)
    # split with one capture group alternates: text, special, text, special, ..., text
    return [(p, i % 2 == 1) for i, p in enumerate(pieces) if p or i % 2 == 1]


def check_special_names(special_tokens: Sequence[str]) -> None:
    """Raise ``ValueError`` for duplicate or empty special tokens."""
    if len(set(special_tokens)) != len(special_tokens):
        dup = sorted(t for t, c in Counter(special_tokens).items() if c > 1)
        raise ValueError(f"duplicate special tokens: {dup}")
    for token in special_tokens:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special tokens must be non-empty strings, got {token!r}")


def encode_with_special(
    text: str,
    special_tokens: dict[str, int],
    encode_ordinary: Callable[[str], list[int]],
    allowed_special: AllowedSpecial,
    disallowed_special: DisallowedSpecial,
) -> list[int]:
    """``encode`` of every tokenizer: the checks, then special tokens by id and the rest by
    ``encode_ordinary``."""
    if not isinstance(text, str):
        raise TypeError(f"encode expects a str, got {type(text).__name__}")
    allowed, disallowed = resolve_special(special_tokens, allowed_special, disallowed_special)
    check_disallowed(text, disallowed)
    ids: list[int] = []
    for piece, is_special in split_special(text, allowed):
        if is_special:
            ids.append(special_tokens[piece])
        else:
            ids.extend(encode_ordinary(piece))
    return ids


def check_ids(ids: Iterable[int], vocab_size: int, max_id: int | None = None) -> list[int]:
    """``ids`` as a list of ints, each in ``0..max_id`` (default ``vocab_size - 1``).

    Anything else (a negative id, a float such as ``1.9``, ``True``) raises
    ``ValueError`` naming it, instead of wrapping around or being truncated.
    Integer-valued NumPy or PyTorch scalars are accepted.
    """
    top = vocab_size - 1 if max_id is None else max_id
    ids = list(ids)
    if set(map(type, ids)) <= {int} and (not ids or (min(ids) >= 0 and max(ids) <= top)):
        return ids  # the common case, checked at C speed
    out: list[int] = []
    for i in ids:
        try:
            idx = None if isinstance(i, bool) else operator.index(i)
        except TypeError:
            idx = None
        if idx is None or not 0 <= idx <= top:
            raise ValueError(
                f"token id {i!r} is not in the vocabulary (vocab_size={vocab_size}, "
                f"ids are integers 0..{top})"
            )
        out.append(idx)
    return out
