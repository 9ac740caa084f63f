"""Byte-level BPE (notebook 02), with ids identical to tiktoken's.

A token is a byte string; every single byte is one, so any text can be
spelled. ``ranks`` maps token bytes to ids, and an id is also the token's
merge priority (its "rank"), as in tiktoken.

**Encoding** follows tiktoken exactly: split the text into chunks with the
pattern; a chunk that is itself a token becomes that token; otherwise start
from single bytes and repeatedly merge the adjacent pair whose concatenation
has the lowest rank (the leftmost on a tie), until no adjacent concatenation
is a token. Lone surrogates are replaced by U+FFFD first, as tiktoken does.

**Decoding** joins the tokens' bytes and decodes them as UTF-8 with
``errors="replace"``, as tiktoken does: half a character decodes to U+FFFD.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import regex

from llm101_helpers.tokenizers.bpe_training import (
    Pair,
    check_vocab_size,
    naive_merges,
    train_merges,
)
from llm101_helpers.tokenizers.save_format import (
    LineReader,
    TokenizerFileError,
    dump_checked,
    parse_checked,
    read_checked,
    render,
)
from llm101_helpers.tokenizers.special import (
    AllowedSpecial,
    DisallowedSpecial,
    check_ids,
    check_special_names,
    encode_with_special,
)
from llm101_helpers.tokenizers.split_pattern import GPT2_SPLIT_PATTERN, compile_split_pattern

if TYPE_CHECKING:
    import tiktoken

_BPE_MAGIC = "llm101-bpe"


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


def _recover_merges(ranks: dict[bytes, int]) -> dict[Pair, int]:
    """Find, for each multi-byte token, the two lower-ranked tokens it was merged from.

    Running the encoder on the token's bytes, allowed to form only tokens of
    lower rank, stops at exactly two pieces: the pair that was merged.
    """
    merges: dict[Pair, int] = {}
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) == 1:
            continue
        parts = _bpe(ranks, token, max_rank=rank)
        if len(parts) != 2:
            raise ValueError(
                f"token {render(token)} (id {rank}) is not the merge of two tokens of lower "
                f"id (it encodes to {len(parts)} pieces); these ranks are not byte-level BPE"
            )
        merges[(ranks[parts[0]], ranks[parts[1]])] = rank
    return merges


def _vocab_of(ranks: dict[bytes, int], special_tokens: dict[str, int]) -> dict[int, bytes]:
    """id -> bytes of ``ranks``, after checking they are byte-level BPE with distinct ids."""
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
    return vocab


class BPETokenizer:
    """Byte-level BPE tokenizer, compatible with tiktoken.

    >>> tok = BPETokenizer.train("low lower lowest " * 50, vocab_size=260)
    >>> tok.decode(tok.encode("lowly"))
    'lowly'

    Make one with :meth:`train`, :meth:`from_tiktoken` or :meth:`load`. Attributes:

    - ``ranks``: token bytes -> id. Every longer token is the concatenation of
      two tokens of lower id (its merge).
    - ``merges``: ``(left id, right id) -> new id``, in id order.
    - ``vocab``: id -> bytes (special tokens included, as their UTF-8 text).
    - ``pattern``: the split regex; ``special_tokens``: str -> id.
    """

    _CACHE_LIMIT = 1 << 16  # distinct chunks remembered by encode

    def __init__(
        self,
        ranks: dict[bytes, int],
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: dict[str, int] | None = None,
        merges: dict[Pair, int] | None = None,
    ) -> None:
        """A tokenizer from its ranks; ``merges`` are recovered from them when not given."""
        special_tokens = dict(special_tokens or {})
        check_special_names(list(special_tokens))
        vocab = _vocab_of(ranks, special_tokens)
        self.pattern = pattern
        self._regex = compile_split_pattern(pattern)
        self.ranks: dict[bytes, int] = dict(ranks)
        self.vocab: dict[int, bytes] = vocab | {
            i: t.encode("utf-8") for t, i in special_tokens.items()
        }
        self.special_tokens: dict[str, int] = special_tokens
        self.merges: dict[Pair, int] = (
            _recover_merges(self.ranks) if merges is None else dict(merges)
        )
        self._max_id = max(self.vocab)
        self._cache: dict[str, tuple[int, ...]] = {}

    # --- making one ----------------------------------------------------------------

    @classmethod
    def from_merges(
        cls,
        merges: dict[Pair, int],
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

        The same merges as :func:`naive_train`, fast (see ``bpe_training``).
        Byte ``b`` gets id ``b``, merge ``k`` id ``256 + k``, special tokens
        the ids after the merges. Special-token text inside ``text`` is
        treated as ordinary text.
        """
        special_tokens = tuple(special_tokens)
        check_special_names(special_tokens)
        num_merges = check_vocab_size(vocab_size, special_tokens)
        chunk_counts: dict[tuple[int, ...], int] = {}
        chunks = compile_split_pattern(pattern).findall(text)
        for chunk, n in Counter(chunks).items():  # first-appearance order
            key = tuple(chunk.encode("utf-8"))
            chunk_counts[key] = chunk_counts.get(key, 0) + n
        merges, _ = train_merges(chunk_counts, num_merges)
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

    # --- encoding and decoding ---------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of tokens, special tokens included."""
        return len(self.vocab)

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
        return encode_with_special(
            text, self.special_tokens, self.encode_ordinary, allowed_special, disallowed_special
        )

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of ``ids``, concatenated (a special token gives its UTF-8 text)."""
        vocab, ids = self.vocab, list(ids)
        if not set(map(type, ids)) <= {int}:  # numpy/torch integers, or not ids at all
            ids = check_ids(ids, self.vocab_size, self._max_id)
        try:
            return b"".join([vocab[i] for i in ids])
        except KeyError as exc:
            check_ids(ids, self.vocab_size, self._max_id)  # raises if out of range
            raise ValueError(  # a gap in the ids (some tiktoken encodings have them)
                f"token id {exc.args[0]!r} is not in the vocabulary (vocab_size="
                f"{self.vocab_size}, ids 0..{self._max_id} with gaps)"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; bytes that are not valid UTF-8 (e.g. half a character) become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- saving and loading ------------------------------------------------------

    def dumps(self) -> str:
        """The save file's text: version, pattern, special tokens, byte tokens, merges.

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
        lines += [f"{i} {t.hex()}  # {render(t)}" for i, t in byte_tokens]
        lines.append(f"merges {len(self.merges)}")
        vocab = self.vocab
        for (a, b), i in sorted(self.merges.items(), key=lambda item: item[1]):
            rendered = f"{render(vocab[i])} = {render(vocab[a])} + {render(vocab[b])}"
            lines.append(f"{i} {a} {b}  # {rendered}")
        return dump_checked(_BPE_MAGIC, lines)

    def save(self, path: str | Path) -> None:
        """Write :meth:`dumps` to a readable UTF-8 text file."""
        Path(path).write_text(self.dumps(), encoding="utf-8", newline="\n")

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> BPETokenizer:
        """The tokenizer saved in ``text`` (from :meth:`dumps`); errors name ``source``."""
        return _from_lines(cls, parse_checked(text, _BPE_MAGIC, source), source)

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a file written by :meth:`save`.

        A truncated, edited or foreign file raises :class:`TokenizerFileError`
        (a ``ValueError``) naming the file and what is wrong.
        """
        return _from_lines(cls, read_checked(path, _BPE_MAGIC), str(path))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={self.special_tokens})"
        )


def _from_lines(cls: type[BPETokenizer], lines: list[str], source: str) -> BPETokenizer:
    """Parse the body of a save file (see :meth:`BPETokenizer.dumps`)."""
    r = LineReader(source, lines)
    pattern = r.json_string("pattern")
    special_tokens: dict[str, int] = {}
    for _ in range(r.count("special_tokens")):
        idx, token = r.id_and_json()
        special_tokens[token] = idx
    vocab: dict[int, bytes] = {}
    for _ in range(r.count("byte_tokens")):
        idx, hexbyte = r.fields(2)
        if not (idx.isascii() and idx.isdigit()) or len(hexbyte) != 2:
            raise r.error(f"expected '<id> <one byte in hex>', found {idx!r} {hexbyte!r}")
        try:
            vocab[int(idx)] = bytes.fromhex(hexbyte)
        except ValueError:
            raise r.error(f"{hexbyte!r} is not a byte in hex") from None
    merges: dict[Pair, int] = {}
    for _ in range(r.count("merges")):
        idx, a, b = r.ints(3)
        if a not in vocab or b not in vocab or idx in vocab:
            raise r.error(f"merge {idx} = {a} + {b} refers to an unknown id or reuses an id")
        vocab[idx] = vocab[a] + vocab[b]
        merges[(a, b)] = idx
    r.done()
    ranks = {t: i for i, t in vocab.items()}
    if len(ranks) != len(vocab):
        raise TokenizerFileError(f"{source}: two merges make the same token")
    try:
        return cls(ranks, pattern, special_tokens, merges)
    except (ValueError, regex.error) as exc:
        raise TokenizerFileError(f"{source}: {exc}") from exc


def naive_train(
    text: str,
    vocab_size: int,
    pattern: str = GPT2_SPLIT_PATTERN,
    special_tokens: Sequence[str] = (),
    on_merge: Callable[[Pair, int, int], None] | None = None,
) -> BPETokenizer:
    """Train byte-level BPE the simplest way: recount every pair, in all of the text, every merge.

    Split ``text`` into chunks with ``pattern``, turn each chunk into its UTF-8
    bytes, then ``vocab_size - 256 - len(special_tokens)`` times merge the
    most frequent pair (see ``bpe_training.naive_merges``). Minutes on a
    megabyte; :meth:`BPETokenizer.train` gives the same result fast.
    ``on_merge``, if given, is called after each merge as
    ``on_merge(pair, new_id, count)`` (to print progress, or time each merge
    as ``bench/bpe.py`` does).
    """
    num_merges = check_vocab_size(vocab_size, special_tokens)
    chunks = [list(chunk.encode("utf-8")) for chunk in compile_split_pattern(pattern).findall(text)]
    merges = naive_merges(chunks, num_merges, on_merge)
    return BPETokenizer.from_merges(merges, pattern, special_tokens)
