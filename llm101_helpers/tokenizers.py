"""Tokenizers: turn text into integer ids and back.

Notebook 01 derives :class:`WordTokenizer` and notebook 02 derives
:class:`BPETokenizer`; this module is where they end up.

Word level
----------
:class:`WordTokenizer` splits text with one regular expression
(:data:`WORD_SPLIT_PATTERN`: a word is a run of letters, digits or ``_``, with
inner apostrophes kept, as in ``don't``; every other non-space character is a
token of its own; whitespace is dropped) and gives each distinct token an id.
Words it never saw become ``<|unk|>``. The vocabulary grows with the corpus and
still misses words, which is why the course moves on to...

Byte-level byte-pair encoding (BPE)
-----------------------------------
Text is UTF-8 bytes, so 256 base tokens can spell anything. Training repeats
one step: find the most frequent pair of adjacent tokens and merge it into a
new token. GPT-2 first splits text into chunks with a regex
(:data:`GPT2_SPLIT_PATTERN`: words with their leading space, numbers,
punctuation runs, whitespace) and never merges across chunk boundaries.

- :func:`get_pair_counts` and :func:`merge_pair` are the two steps, and
  :func:`naive_train` is the direct loop: recount every pair in the whole text
  after every merge. It is short and obviously right, and slow (minutes for a
  megabyte), so it is the benchmark baseline and the reference the fast
  trainer is tested against.
- :meth:`BPETokenizer.train` gives the same merges, fast: it counts each
  distinct chunk once with its frequency, keeps the pair counts and an index
  pair -> chunks containing it, and after a merge updates only the chunks that
  contained the merged pair.

**Tie-breaking** (both trainers): among the pairs with the highest count, the
one that occurs first in the training text (as currently tokenized) wins. This
is what ``max(counts, key=counts.get)`` does over a dict filled by scanning the
text from the start, as in Karpathy's minbpe, so results match minbpe's
``RegexTokenizer``. The fast trainer gets the same order without scanning the
text: it numbers distinct chunks by first appearance, so (first chunk that
contains the pair, position in that chunk) orders pairs as their first
occurrences in the text do. With this rule, training on the first 1,000,000
characters of tiny shakespeare to vocab 1024 (512) and encoding that text
gives 409,532 (514,450) tokens, the reference figures of the course's issue 3.
325 of those 768 merges are chosen among tied pairs; the "lowest pair of ids"
rule picks differently in 219 of them yet ends at the same two counts, while
"highest ids" or "last seen" give 409,518 at vocab 1024.

**Encoding** follows tiktoken exactly: a chunk that is itself a token becomes
that token; otherwise start from single bytes and repeatedly merge the
adjacent pair whose concatenation has the lowest rank (the leftmost one on a
tie), until no adjacent concatenation is a token. A token's rank is its id.
Results are cached per chunk. Text containing lone surrogates (which UTF-8
cannot encode) has them replaced by U+FFFD first, as tiktoken does.

**Decoding** joins the tokens' bytes and decodes them as UTF-8 with
``errors="replace"``, as tiktoken's ``decode`` does: ids that cut a multi-byte
character in half decode to U+FFFD. :meth:`~BPETokenizer.decode_bytes` returns
the raw bytes instead.

**Special tokens** (such as ``<|endoftext|>``) follow tiktoken's rules in
``encode``: by default their text inside ordinary text raises ``ValueError``,
so a document cannot smuggle in a control token. Allow them explicitly with
``allowed_special``, or encode them as plain text with
``disallowed_special=()``.

Regular expressions use the third-party ``regex`` package (installed with
tiktoken) because the GPT-2 pattern needs Unicode classes such as ``\\p{L}``
(any letter), which Python's built-in ``re`` does not support.

Save files are plain text: a header with the format version, the split pattern
and special tokens as JSON strings, the 256 byte tokens, the merges (one per
line, with a readable rendering), and a final SHA-256 line over everything
before it, so a truncated or edited file fails to load instead of silently
changing behaviour.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from functools import lru_cache
from heapq import heapify, heappop, heappush, heapreplace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import regex

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "ENDOFTEXT",
    "GPT2_SPLIT_PATTERN",
    "UNK",
    "WORD_SPLIT_PATTERN",
    "BPETokenizer",
    "ByteLevelBPEBase",
    "UnknownWordError",
    "WordTokenizer",
    "get_pair_counts",
    "merge_pair",
    "naive_train",
]

ENDOFTEXT = "<|endoftext|>"
UNK = "<|unk|>"

#: GPT-2's pre-tokenization regex (as published with GPT-2 and in tiktoken's
#: ``gpt2``/``r50k_base``): common English contractions, an optional space plus
#: letters, an optional space plus digits, an optional space plus other
#: symbols, and whitespace (a run of spaces gives its last space to the word
#: that follows it). Needs the ``regex`` package for ``\p{L}`` and ``\p{N}``.
#: tiktoken ships an equivalent, faster spelling with possessive quantifiers
#: (``\p{L}++``, ``\s++$``); ``from_tiktoken`` keeps whichever string it gets.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

#: The word tokenizer's split: a word (letters, digits, ``_``; apostrophes
#: inside a word are kept, as in ``don't``), or any single character that is
#: neither a word character nor whitespace. Whitespace is dropped.
WORD_SPLIT_PATTERN = r"\w+(?:['\u2019]\w+)*|[^\w\s]"

SAVE_FORMAT_VERSION = 1
_BPE_MAGIC = "llm101-bpe"
_WORD_MAGIC = "llm101-words"

AllowedSpecial = Literal["all", "none", "none_raise"] | Collection[str]
DisallowedSpecial = Literal["all"] | Collection[str]


# ---------------------------------------------------------------------------
# Special tokens (shared by both tokenizers)
# ---------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _special_regex(tokens: frozenset[str]) -> regex.Pattern[str]:
    """A regex matching any of ``tokens`` (longest first), as one capture group."""
    inner = "|".join(regex.escape(t) for t in sorted(tokens, key=len, reverse=True))
    return regex.compile(f"({inner})")


def _resolve_special(
    special_tokens: Collection[str],
    allowed_special: AllowedSpecial,
    disallowed_special: DisallowedSpecial,
) -> tuple[set[str], set[str]]:
    """Turn the ``allowed_special``/``disallowed_special`` arguments into two sets.

    Same meaning as tiktoken's ``encode``, plus minbpe's names for the string forms:

    - ``allowed_special``: ``"none_raise"`` (default: allow none; the
      ``disallowed_special="all"`` default then raises on any of them),
      ``"none"`` (allow none and, unless ``disallowed_special`` is given as a
      collection, raise on none: special-token text is encoded as plain text),
      ``"all"``, or a collection of special-token strings.
    - ``disallowed_special``: ``"all"`` (every special token not allowed) or a
      collection; its text inside the input raises ``ValueError``.
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


def _check_disallowed(text: str, disallowed: set[str]) -> None:
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


def _split_special(text: str, allowed: set[str]) -> list[tuple[str, bool]]:
    """Split ``text`` into (piece, is_special) around the allowed special tokens."""
    if not allowed:
        return [(text, False)]
    pieces = _special_regex(frozenset(allowed)).split(text)
    # re.split with one capture group alternates: text, special, text, special, ..., text
    return [(p, i % 2 == 1) for i, p in enumerate(pieces) if p or i % 2 == 1]


def _check_special_names(special_tokens: Sequence[str]) -> None:
    if len(set(special_tokens)) != len(special_tokens):
        dup = sorted(t for t, c in Counter(special_tokens).items() if c > 1)
        raise ValueError(f"duplicate special tokens: {dup}")
    for token in special_tokens:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special tokens must be non-empty strings, got {token!r}")


# ---------------------------------------------------------------------------
# Readable, checksummed save files (shared by both tokenizers)
# ---------------------------------------------------------------------------


def _write_checked(path: str | Path, kind: str, lines: list[str]) -> None:
    """Write ``lines`` after a ``<kind> <version>`` header and before a sha256 line."""
    body = "".join(line + "\n" for line in [f"{kind} {SAVE_FORMAT_VERSION}", *lines])
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    Path(path).write_text(body + f"sha256 {digest}\n", encoding="utf-8", newline="\n")


def _read_checked(path: str | Path, kind: str) -> list[str]:
    """The lines between the header and the checksum, after checking both."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    first, _, _ = text.partition("\n")
    parts = first.split(" ")
    if len(parts) != 2 or parts[0] != kind:
        raise ValueError(
            f"{path} is not a {kind} file: its first line is {first[:80]!r}, "
            f"expected '{kind} {SAVE_FORMAT_VERSION}'"
        )
    if parts[1] != str(SAVE_FORMAT_VERSION):
        raise ValueError(
            f"{path} uses {kind} format version {parts[1]!r}; this version of llm101_helpers "
            f"reads version {SAVE_FORMAT_VERSION}"
        )
    body, sep, last = text.rstrip("\n").rpartition("\n")
    if not sep or not last.startswith("sha256 "):
        raise ValueError(
            f"{path} is truncated or damaged: its last line should be the 'sha256 ...' checksum, "
            f"found {last[:80]!r}"
        )
    expected = last.removeprefix("sha256 ").strip()
    actual = hashlib.sha256((body + "\n").encode("utf-8")).hexdigest()
    if actual != expected:
        raise ValueError(
            f"{path} failed its checksum (file says {expected}, content hashes to {actual}): "
            "it was edited or corrupted after saving; re-save it from the tokenizer"
        )
    return body.split("\n")[1:]


class _LineReader:
    """Reads the sections of a save file, with errors naming the line."""

    def __init__(self, path: str | Path, lines: list[str]) -> None:
        self.path, self.lines, self.pos = path, lines, 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}, line {self.pos + 1}: {message}")

    def next(self) -> str:
        if self.pos >= len(self.lines):
            raise self.error("unexpected end of file")
        self.pos += 1
        return self.lines[self.pos - 1]

    def keyword(self, key: str) -> str:
        line = self.next()
        name, _, rest = line.partition(" ")
        if name != key:
            raise self.error(f"expected '{key} ...', found {line[:80]!r}")
        return rest

    def count(self, key: str) -> int:
        rest = self.keyword(key)
        if not rest.isdigit():
            raise self.error(f"expected a count after {key!r}, found {rest!r}")
        return int(rest)

    def fields(self, n: int) -> list[str]:
        """The first ``n`` space-separated fields of the next line (a ``#`` comment may follow)."""
        line = self.next()
        found = line.split("  #", 1)[0].split()
        if len(found) != n:
            raise self.error(f"expected {n} fields, found {line[:80]!r}")
        return found

    def id_and_json(self) -> tuple[int, str]:
        line = self.next()
        idx, _, payload = line.partition(" ")
        try:
            value = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise self.error(f"expected '<id> <JSON string>', found {line[:80]!r}") from exc
        if not idx.isdigit() or not isinstance(value, str):
            raise self.error(f"expected '<id> <JSON string>', found {line[:80]!r}")
        return int(idx), value

    def done(self) -> None:
        if self.pos != len(self.lines):
            raise self.error(f"unexpected extra content {self.lines[self.pos][:80]!r}")


def _render(token: bytes) -> str:
    """Printable form of a token: ``' the'``, or ``b'\\xe2'`` for bytes that are not valid UTF-8."""
    try:
        return repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(token)


# ---------------------------------------------------------------------------
# Word-level tokenizer
# ---------------------------------------------------------------------------


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
    ties by first appearance); special tokens come after the words.

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
        """A tokenizer with ids ``0..len(words)-1`` for ``words`` and the next ids for
        ``special_tokens``. Usually made by :meth:`train` or :meth:`load`."""
        _check_special_names(special_tokens)
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
        for piece, is_special in _split_special(text, set(special_tokens)):
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

    def encode(
        self,
        text: str,
        allowed_special: AllowedSpecial = "none_raise",
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int]:
        """Token ids of ``text``.

        Unknown words become ``<|unk|>`` if it is a special token of this
        tokenizer; otherwise they raise :class:`UnknownWordError` (a
        ``KeyError``) naming the word. Special tokens: as in tiktoken (see the
        module docstring); by default their text in ``text`` raises ``ValueError``.
        """
        allowed, disallowed = _resolve_special(
            self.special_tokens, allowed_special, disallowed_special
        )
        _check_disallowed(text, disallowed)
        unk = self.special_tokens.get(UNK)
        ids: list[int] = []
        for piece, is_special in _split_special(text, allowed):
            if is_special:
                ids.append(self.special_tokens[piece])
                continue
            for word in self._split.findall(piece):
                idx = self.token_to_id.get(word, unk)
                if idx is None:
                    raise UnknownWordError(
                        f"the word {word!r} is not in the vocabulary ({self.vocab_size} tokens) "
                        f"and the tokenizer has no {UNK!r} token to stand for it"
                    )
                ids.append(idx)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: tokens joined by spaces, then the class docstring's spacing rules."""
        tokens = []
        for i in ids:
            if not isinstance(i, int) or not 0 <= i < self.vocab_size:
                raise ValueError(
                    f"token id {i!r} is outside the vocabulary (vocab_size={self.vocab_size}, "
                    f"valid ids 0..{self.vocab_size - 1})"
                )
            tokens.append(self.id_to_token[i])
        text = " ".join(tokens)
        text = self._NO_SPACE_BEFORE.sub(r"\1", text)
        return self._NO_SPACE_AFTER.sub(r"\1", text)

    def save(self, path: str | Path) -> None:
        """Write a readable text file: pattern, special tokens, then one word per line."""
        n_words = self.vocab_size - len(self.special_tokens)
        lines = [
            f"pattern {json.dumps(self.pattern)}",
            f"special_tokens {len(self.special_tokens)}",
        ]
        lines += [f"{i} {json.dumps(t)}" for t, i in self.special_tokens.items()]
        lines.append(f"words {n_words}")
        lines += [f"{i} {json.dumps(self.id_to_token[i])}" for i in range(n_words)]
        _write_checked(path, _WORD_MAGIC, lines)

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        """Read a file written by :meth:`save` (a damaged file raises ``ValueError``)."""
        r = _LineReader(path, _read_checked(path, _WORD_MAGIC))
        pattern = json.loads(r.keyword("pattern"))
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
                raise ValueError(
                    f"{path}: special token {token!r} has id {idx}, expected {n_words + k}"
                )
        return cls(words, [t for _, t in specials], pattern)

    def __repr__(self) -> str:
        specials = list(self.special_tokens)
        return f"WordTokenizer(vocab_size={self.vocab_size}, special_tokens={specials})"


# ---------------------------------------------------------------------------
# Byte-pair encoding: the two steps and the naive trainer
# ---------------------------------------------------------------------------


def get_pair_counts(
    ids: Sequence[int], counts: dict[tuple[int, int], int] | None = None
) -> dict[tuple[int, int], int]:
    """Count adjacent pairs in ``ids`` (into ``counts`` if given), in order of first appearance.

    >>> get_pair_counts([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:], strict=False):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_pair(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``ids`` by ``new_id``, scanning left to right.

    >>> merge_pair([1, 2, 3, 1, 2], (1, 2), 4)
    [4, 3, 4]
    >>> merge_pair([5, 5, 5], (5, 5), 6)  # non-overlapping, leftmost first
    [6, 5]
    """
    out: list[int] = []
    i, n = 0, len(ids)
    a, b = pair
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _check_vocab_size(vocab_size: int, special_tokens: Sequence[str]) -> int:
    """Number of merges for ``vocab_size``, or ValueError naming the minimum."""
    minimum = 256 + len(special_tokens)
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ValueError(
            f"vocab_size={vocab_size!r} is too small: byte-level BPE needs the 256 byte tokens "
            f"plus {len(special_tokens)} special token(s), so vocab_size must be at least {minimum}"
        )
    return vocab_size - minimum


def naive_train(
    text: str,
    vocab_size: int,
    pattern: str = GPT2_SPLIT_PATTERN,
    special_tokens: Sequence[str] = (),
    on_merge: Callable[[tuple[int, int], int, int], None] | None = None,
) -> BPETokenizer:
    """Train byte-level BPE the simplest way: recount every pair, in all of the text, every merge.

    Split ``text`` into chunks with ``pattern``, turn each chunk into its UTF-8
    bytes, then ``vocab_size - 256 - len(special_tokens)`` times: count all
    adjacent pairs (:func:`get_pair_counts`), take the most frequent one (ties:
    the one seen first, which is what ``max`` over an insertion-ordered dict
    gives), and replace it everywhere by a new id (:func:`merge_pair`).

    Each merge rescans the whole text, which takes minutes on a megabyte; see
    :meth:`BPETokenizer.train` for the same result, fast. ``on_merge``, if
    given, is called after each merge as ``on_merge(pair, new_id, count)``
    (to print progress, or time each merge as ``bench/bpe.py`` does).
    """
    num_merges = _check_vocab_size(vocab_size, special_tokens)
    chunks = [list(chunk.encode("utf-8")) for chunk in regex.findall(pattern, text)]
    merges: dict[tuple[int, int], int] = {}
    for i in range(num_merges):
        counts: dict[tuple[int, int], int] = {}
        for chunk in chunks:
            get_pair_counts(chunk, counts)
        if not counts:
            _warn_short(len(merges), num_merges)
            break
        pair = max(counts, key=counts.get)  # first of the most frequent, in text order
        chunks = [merge_pair(chunk, pair, 256 + i) for chunk in chunks]
        merges[pair] = 256 + i
        if on_merge is not None:
            on_merge(pair, 256 + i, counts[pair])
    return BPETokenizer.from_merges(merges, pattern, special_tokens)


def _warn_short(done: int, wanted: int) -> None:
    warnings.warn(
        f"the training text ran out of pairs to merge after {done} of {wanted} merges; "
        f"the vocabulary has {wanted - done} fewer tokens than requested",
        stacklevel=3,
    )


def _train_merges(
    chunk_counts: dict[tuple[int, ...], int], num_merges: int, first_id: int = 256
) -> tuple[dict[tuple[int, int], int], list[int]]:
    """The fast trainer's loop: merges learned from distinct chunks with their counts.

    ``chunk_counts`` maps each distinct chunk (as byte ids) to how often it
    occurs, in order of first appearance in the text. Returns the merges and
    the count of each merge (how many times the merged pair occurred).

    Data structures:

    - ``words[w]``: the current token ids of distinct chunk ``w``; ``freq[w]`` its count;
    - ``counts[pair]``: occurrences of ``pair`` in the whole text (sum of freq over chunks);
    - ``where[pair]``: the chunks ``w`` that contain ``pair``;
    - ``heap``: ``(-count, chunk, offset, pair)`` entries, so the most frequent pair
      comes first and, among equally frequent pairs, the one that occurs first
      in the text (chunk ``chunk`` at byte ``offset``). An entry is stale when
      ``counts[pair]`` has changed since it was pushed, and is skipped when popped.

    A merge of ``pair`` rewrites only the chunks in ``where[pair]``: their old
    pairs are subtracted from ``counts``, their new pairs added, and every pair
    whose count changed is pushed onto the heap again.

    Why ties cost nothing: merging only destroys occurrences of the pairs that
    already exist (new occurrences always involve the new token), so a pair's
    first position in the text can only move later. A heap entry's position is
    therefore a lower bound; the top entry is checked against the true first
    position and pushed back with it when it moved. When it did not move, no
    other pair of that count can come earlier. (Popping every tied pair
    instead costs seconds per merge late in training, when thousands of pairs
    occur twice.)
    """
    words = [list(w) for w in chunk_counts]
    freq = list(chunk_counts.values())
    length = [1] * first_id  # bytes in each token; grows with every merge
    counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    position: dict[tuple[int, int], tuple[int, int]] = {}  # lower bound of the first occurrence
    for w, ids in enumerate(words):
        for i, pair in enumerate(zip(ids, ids[1:], strict=False)):
            counts[pair] = counts.get(pair, 0) + freq[w]
            where.setdefault(pair, set()).add(w)
            position.setdefault(pair, (w, i))  # bytes: token index == byte offset
    heap = [(-c, *position[pair], pair) for pair, c in counts.items()]
    heapify(heap)

    def first_position(pair: tuple[int, int]) -> tuple[int, int]:
        """Where ``pair`` first occurs in the text: (first chunk containing it, byte offset)."""
        w = min(where[pair])
        ids, offset = words[w], 0
        for i in range(len(ids) - 1):
            if ids[i] == pair[0] and ids[i + 1] == pair[1]:
                return w, offset
            offset += length[ids[i]]
        raise AssertionError(f"index out of date for {pair}")  # pragma: no cover

    merges: dict[tuple[int, int], int] = {}
    merge_counts: list[int] = []
    for k in range(num_merges):
        pair = None
        while heap:  # find the most frequent pair that occurs first
            neg, w, offset, top = heap[0]
            if counts.get(top) != -neg:  # stale entry
                heappop(heap)
                continue
            true = first_position(top)
            if true != (w, offset):  # its first occurrence moved later: re-file it
                position[top] = true
                heapreplace(heap, (neg, *true, top))
                continue
            heappop(heap)
            pair, best = top, -neg
            break
        if pair is None:
            _warn_short(len(merges), num_merges)
            break

        new_id = first_id + k
        merges[pair] = new_id
        merge_counts.append(best)
        length.append(length[pair[0]] + length[pair[1]])
        changed: set[tuple[int, int]] = set()
        for w in where.pop(pair):
            old = words[w]
            new = merge_pair(old, pair, new_id)
            words[w] = new
            f = freq[w]
            old_pairs = Counter(zip(old, old[1:], strict=False))
            new_pairs = Counter(zip(new, new[1:], strict=False))
            for p, c in old_pairs.items():
                counts[p] -= c * f
                changed.add(p)
                if p not in new_pairs and p != pair:
                    where[p].discard(w)
            for p, c in new_pairs.items():
                counts[p] = counts.get(p, 0) + c * f
                changed.add(p)
                where.setdefault(p, set()).add(w)
        del counts[pair]
        position.pop(pair, None)
        changed.discard(pair)
        for p in changed:
            c = counts[p]
            if c > 0:
                if p not in position:  # a pair made by this merge: find where it starts
                    position[p] = first_position(p)
                heappush(heap, (-c, *position[p], p))
            else:
                del counts[p]
                where.pop(p, None)
                position.pop(p, None)
    return merges, merge_counts


# ---------------------------------------------------------------------------
# Byte-level BPE tokenizers
# ---------------------------------------------------------------------------


_B = TypeVar("_B", bound="ByteLevelBPEBase")


def _bpe(ranks: dict[bytes, int], piece: bytes, max_rank: int | None = None) -> list[bytes]:
    """tiktoken's merge loop on one chunk: merge the lowest-ranked adjacent pair until none is left.

    The rank of a pair is the rank of its concatenated bytes; ties go to the
    leftmost pair. With ``max_rank``, only tokens of lower rank may be formed
    (used to recover the merge that made a token).
    """
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best_i, best_rank = -1, None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best_rank is None or rank < best_rank):
                best_i, best_rank = i, rank
        if best_rank is None or (max_rank is not None and best_rank >= max_rank):
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return parts


class ByteLevelBPEBase:
    """What a byte-level BPE tokenizer is, without training or encoding.

    - ``ranks``: token bytes -> id. Every single byte is a token; every longer
      token is the concatenation of two tokens of lower id (its merge). An id
      is also the token's merge priority ("rank"), as in tiktoken.
    - ``merges``: ``(left id, right id) -> new id``, recovered from ``ranks``.
    - ``pattern``: the pre-tokenization regex; ``special_tokens``: str -> id.

    Holds decoding and the save format; :class:`BPETokenizer` adds training and encoding.
    """

    def __init__(
        self,
        ranks: dict[bytes, int],
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: dict[str, int] | None = None,
        merges: dict[tuple[int, int], int] | None = None,
    ) -> None:
        special_tokens = dict(special_tokens or {})
        _check_special_names(list(special_tokens))
        vocab: dict[int, bytes] = {}
        for token, idx in ranks.items():
            if idx in vocab:
                raise ValueError(f"tokens {vocab[idx]!r} and {token!r} share the id {idx}")
            vocab[idx] = token
        missing = [b for b in range(256) if bytes([b]) not in ranks]
        if missing:
            raise ValueError(
                f"byte-level BPE needs all 256 single bytes as tokens; missing {len(missing)}, "
                f"e.g. {bytes(missing[:5])!r}"
            )
        for token, idx in special_tokens.items():
            if idx in vocab:
                raise ValueError(
                    f"special token {token!r} has id {idx}, already used by {vocab[idx]!r}"
                )
        self.pattern = pattern
        self._regex = regex.compile(pattern)
        self.ranks: dict[bytes, int] = dict(ranks)
        self.vocab: dict[int, bytes] = vocab | {
            i: t.encode("utf-8") for t, i in special_tokens.items()
        }
        self.special_tokens: dict[str, int] = special_tokens
        self.merges: dict[tuple[int, int], int] = (
            self._recover_merges(self.ranks) if merges is None else dict(merges)
        )
        self._cache: dict[str, tuple[int, ...]] = {}

    @staticmethod
    def _recover_merges(ranks: dict[bytes, int]) -> dict[tuple[int, int], int]:
        """Find, for each multi-byte token, the two lower-ranked tokens it was merged from.

        Running the encoder on the token's bytes, allowed to form only tokens of
        lower rank, stops at exactly two pieces: the pair that was merged.
        """
        merges: dict[tuple[int, int], int] = {}
        for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
            if len(token) == 1:
                continue
            parts = _bpe(ranks, token, max_rank=rank)
            if len(parts) != 2:
                raise ValueError(
                    f"token {_render(token)} (id {rank}) is not the merge of two tokens of lower "
                    f"id (it encodes to {len(parts)} pieces); these ranks are not byte-level BPE"
                )
            merges[(ranks[parts[0]], ranks[parts[1]])] = rank
        return merges

    @property
    def vocab_size(self) -> int:
        """Number of tokens, special tokens included."""
        return len(self.vocab)

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of ``ids``, concatenated (a special token gives its UTF-8 text)."""
        vocab, ids = self.vocab, list(ids)
        try:
            return b"".join([vocab[i] for i in ids])
        except (KeyError, TypeError):
            bad = next(i for i in ids if not isinstance(i, int) or i not in vocab)
            raise ValueError(
                f"token id {bad!r} is not in the vocabulary (vocab_size={self.vocab_size}, "
                f"ids 0..{max(vocab)})"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; bytes that are not valid UTF-8 (e.g. half a character) become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def save(self, path: str | Path) -> None:
        """Write a readable text file: version, pattern, special tokens, byte tokens, merges.

        Merges are listed in id order as ``new_id left_id right_id``, each with a
        comment showing the token's text; the last line is a SHA-256 of the rest.
        """
        lines = [
            f"pattern {json.dumps(self.pattern)}",
            f"special_tokens {len(self.special_tokens)}",
        ]
        lines += [f"{i} {json.dumps(t)}" for t, i in self.special_tokens.items()]
        byte_tokens = sorted((i, t) for t, i in self.ranks.items() if len(t) == 1)
        lines.append(f"byte_tokens {len(byte_tokens)}")
        lines += [f"{i} {t.hex()}  # {_render(t)}" for i, t in byte_tokens]
        lines.append(f"merges {len(self.merges)}")
        for (a, b), i in sorted(self.merges.items(), key=lambda item: item[1]):
            rendered = (
                f"{_render(self.vocab[i])} = {_render(self.vocab[a])} + {_render(self.vocab[b])}"
            )
            lines.append(f"{i} {a} {b}  # {rendered}")
        _write_checked(path, _BPE_MAGIC, lines)

    @classmethod
    def load(cls: type[_B], path: str | Path) -> _B:
        """Read a file written by :meth:`save`.

        A truncated, edited or foreign file raises ``ValueError`` saying what is wrong.
        """
        r = _LineReader(path, _read_checked(path, _BPE_MAGIC))
        pattern = json.loads(r.keyword("pattern"))
        special_tokens: dict[str, int] = {}
        for _ in range(r.count("special_tokens")):
            idx, token = r.id_and_json()
            special_tokens[token] = idx
        vocab: dict[int, bytes] = {}
        for _ in range(r.count("byte_tokens")):
            idx, hexbyte = r.fields(2)
            vocab[int(idx)] = bytes.fromhex(hexbyte)
        merges: dict[tuple[int, int], int] = {}
        for _ in range(r.count("merges")):
            idx, a, b = (int(x) for x in r.fields(3))
            if a not in vocab or b not in vocab or idx in vocab:
                raise r.error(f"merge {idx} = {a} + {b} refers to an unknown id or reuses an id")
            vocab[idx] = vocab[a] + vocab[b]
            merges[(a, b)] = idx
        r.done()
        ranks = {t: i for i, t in vocab.items()}
        if len(ranks) != len(vocab):
            raise ValueError(f"{path}: two merges make the same token")
        return cls(ranks, pattern, special_tokens, merges)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={self.special_tokens})"
        )


class BPETokenizer(ByteLevelBPEBase):
    """Byte-level BPE tokenizer, compatible with tiktoken.

    >>> tok = BPETokenizer.train("low lower lowest " * 50, vocab_size=260)
    >>> tok.decode(tok.encode("lowly"))
    'lowly'

    Make one with :meth:`train`, :meth:`from_tiktoken` or :meth:`load`.
    """

    _CACHE_LIMIT = 1 << 16  # distinct chunks remembered by encode

    @classmethod
    def from_merges(
        cls,
        merges: dict[tuple[int, int], int],
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Sequence[str] = (),
    ) -> BPETokenizer:
        """Tokenizer with byte ``b`` as id ``b``, the given merges, special tokens after them."""
        vocab = {i: bytes([i]) for i in range(256)}
        for (a, b), i in sorted(merges.items(), key=lambda item: item[1]):
            vocab[i] = vocab[a] + vocab[b]
        ranks = {t: i for i, t in vocab.items()}
        if len(ranks) != len(vocab):
            raise ValueError("two merges make the same token")
        start = max(vocab) + 1
        specials = {t: start + k for k, t in enumerate(special_tokens)}
        return cls(ranks, pattern, specials, merges)

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Sequence[str] = (),
    ) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``.

        Same merges as :func:`naive_train` (including its tie-breaking: the
        pair that occurs first in the text), but it counts each distinct chunk
        once and updates counts only where a merge changes something (see
        ``_train_merges``). Byte ``b`` gets id ``b``, merge ``k`` id ``256 + k``,
        special tokens the ids after the merges. Special-token text inside
        ``text`` is treated as ordinary text.
        """
        special_tokens = tuple(special_tokens)
        _check_special_names(special_tokens)
        num_merges = _check_vocab_size(vocab_size, special_tokens)
        chunk_counts: dict[tuple[int, ...], int] = {}
        for chunk, n in Counter(regex.findall(pattern, text)).items():  # first-appearance order
            key = tuple(chunk.encode("utf-8"))
            chunk_counts[key] = chunk_counts.get(key, 0) + n
        merges, _ = _train_merges(chunk_counts, num_merges)
        return cls.from_merges(merges, pattern, special_tokens)

    @classmethod
    def from_tiktoken(cls, encoding: tiktoken.Encoding) -> BPETokenizer:
        """The tokenizer behind a ``tiktoken.Encoding`` (e.g. ``tiktoken.get_encoding("gpt2")``).

        Copies its ranks, split pattern and special tokens and recovers its
        merges, so ``encode`` gives tiktoken's ids. GPT-2's byte tokens are not
        in byte order (``!`` is id 0); that is kept. Reads tiktoken's
        ``_mergeable_ranks``/``_pat_str``/``_special_tokens``, which tiktoken
        does not expose publicly.
        """
        return cls(
            dict(encoding._mergeable_ranks),
            encoding._pat_str,
            dict(encoding._special_tokens),
        )

    def to_tiktoken(self, name: str = "llm101-bpe") -> tiktoken.Encoding:
        """A ``tiktoken.Encoding`` with this tokenizer's ranks, pattern and special tokens."""
        import tiktoken

        return tiktoken.Encoding(
            name,
            pat_str=self.pattern,
            mergeable_ranks=dict(self.ranks),
            special_tokens=dict(self.special_tokens),
        )

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        ranks = self.ranks
        piece = chunk.encode("utf-8")
        token = ranks.get(piece)
        if token is not None:  # the whole chunk is a token (tiktoken checks this first too)
            return (token,)
        return tuple(ranks[part] for part in _bpe(ranks, piece))

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``, treating special-token text as ordinary text."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: replace them, as tiktoken does
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        cache = self._cache
        ids: list[int] = []
        for chunk in self._regex.findall(text):
            tokens = cache.get(chunk)
            if tokens is None:
                tokens = self._encode_chunk(chunk)
                if len(cache) >= self._CACHE_LIMIT:
                    cache.clear()
                cache[chunk] = tokens
            ids.extend(tokens)
        return ids

    def encode(
        self,
        text: str,
        allowed_special: AllowedSpecial = "none_raise",
        disallowed_special: DisallowedSpecial = "all",
    ) -> list[int]:
        """Token ids of ``text``, with tiktoken's special-token rules.

        By default any special-token text in ``text`` raises ``ValueError``.
        ``allowed_special="all"`` (or a set of them) encodes it as the special
        token; ``disallowed_special=()`` (or ``allowed_special="none"``)
        encodes it as ordinary text.
        """
        allowed, disallowed = _resolve_special(
            self.special_tokens, allowed_special, disallowed_special
        )
        _check_disallowed(text, disallowed)
        ids: list[int] = []
        for piece, is_special in _split_special(text, allowed):
            if is_special:
                ids.append(self.special_tokens[piece])
            else:
                ids.extend(self.encode_ordinary(piece))
        return ids
