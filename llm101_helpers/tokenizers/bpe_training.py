"""Learning BPE merges: the two steps, the naive loop and the fast trainer.

Training repeats one step: find the most frequent pair of adjacent tokens and
merge it into a new token. :func:`naive_merges` does it directly (recount
every pair in the whole text after every merge: minutes for a megabyte);
:func:`train_merges` gives the same merges fast, by counting each distinct
chunk once and updating only the chunks a merge changes.

**Tie-breaking** (both): among the pairs with the highest count, the one that
occurs first in the training text (as currently tokenized) wins. This is what
``max(counts, key=counts.get)`` does over a dict filled by scanning the text
from the start, as in Karpathy's minbpe, so the merges match minbpe's
``RegexTokenizer``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from heapq import heapify, heappop, heappush, heapreplace

Pair = tuple[int, int]


def get_pair_counts(ids: Sequence[int], counts: dict[Pair, int] | None = None) -> dict[Pair, int]:
    """Count adjacent pairs in ``ids`` (into ``counts`` if given), in order of first appearance.

    >>> get_pair_counts([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:], strict=False):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_pair(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
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


def check_vocab_size(vocab_size: int, special_tokens: Sequence[str]) -> int:
    """Number of merges for ``vocab_size``, or ValueError naming the minimum."""
    minimum = 256 + len(special_tokens)
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ValueError(
            f"vocab_size={vocab_size!r} is too small: byte-level BPE needs the 256 byte tokens "
            f"plus {len(special_tokens)} special token(s), so vocab_size must be at least {minimum}"
        )
    return vocab_size - minimum


def warn_short(done: int, wanted: int) -> None:
    """Warn that training stopped after ``done`` of ``wanted`` merges."""
    warnings.warn(
        f"the training text ran out of pairs to merge after {done} of {wanted} merges; "
        f"the vocabulary has {wanted - done} fewer tokens than requested",
        stacklevel=4,
    )


def naive_merges(
    chunks: list[list[int]],
    num_merges: int,
    on_merge: Callable[[Pair, int, int], None] | None = None,
) -> dict[Pair, int]:
    """Up to ``num_merges`` merges of the byte ids ``chunks``, new ids from 256: the direct loop.

    Each merge counts all adjacent pairs (:func:`get_pair_counts`), takes the
    most frequent one (ties: the one seen first) and replaces it everywhere by
    a new id (:func:`merge_pair`). ``on_merge(pair, new_id, count)`` is called
    after each merge.
    """
    merges: dict[Pair, int] = {}
    for i in range(num_merges):
        counts: dict[Pair, int] = {}
        for chunk in chunks:
            get_pair_counts(chunk, counts)
        if not counts:
            warn_short(len(merges), num_merges)
            break
        pair = max(counts, key=counts.get)  # first of the most frequent, in text order
        chunks = [merge_pair(chunk, pair, 256 + i) for chunk in chunks]
        merges[pair] = 256 + i
        if on_merge is not None:
            on_merge(pair, 256 + i, counts[pair])
    return merges


class _PairIndex:
    """The fast trainer's state: pair counts over distinct chunks, kept up to date by merges.

    - ``words[w]``: the current token ids of distinct chunk ``w``; ``freq[w]`` its count;
    - ``counts[pair]``: occurrences of ``pair`` in the whole text;
    - ``where[pair]``: the chunks ``w`` that contain ``pair``;
    - ``heap``: ``(-count, chunk, offset, pair)``: the most frequent pair first and,
      among equally frequent pairs, the one that occurs first in the text (chunk
      ``chunk`` at byte ``offset``). An entry whose count is out of date is stale
      and skipped when popped.

    Why ties cost nothing: a merge only destroys occurrences of existing pairs
    (new occurrences involve the new token), so a pair's first position can
    only move later. A heap entry's position is therefore a lower bound: the
    top entry is checked against its true first position and re-filed if it
    moved; if it did not, no pair of that count comes earlier.
    """

    def __init__(self, chunk_counts: dict[tuple[int, ...], int], first_id: int) -> None:
        self.words = [list(w) for w in chunk_counts]
        self.freq = list(chunk_counts.values())
        self.length = [1] * first_id  # bytes in each token; grows with every merge
        self.counts: dict[Pair, int] = {}
        self.where: dict[Pair, set[int]] = {}
        self.position: dict[Pair, tuple[int, int]] = {}  # lower bound of the first occurrence
        for w, ids in enumerate(self.words):
            for i, pair in enumerate(zip(ids, ids[1:], strict=False)):
                self.counts[pair] = self.counts.get(pair, 0) + self.freq[w]
                self.where.setdefault(pair, set()).add(w)
                self.position.setdefault(pair, (w, i))  # bytes: token index == byte offset
        self.heap = [(-c, *self.position[pair], pair) for pair, c in self.counts.items()]
        heapify(self.heap)

    def first_position(self, pair: Pair) -> tuple[int, int]:
        """Where ``pair`` first occurs in the text: (first chunk containing it, byte offset)."""
        w = min(self.where[pair])
        ids, offset = self.words[w], 0
        for i in range(len(ids) - 1):
            if ids[i] == pair[0] and ids[i + 1] == pair[1]:
                return w, offset
            offset += self.length[ids[i]]
        raise AssertionError(f"index out of date for {pair}")  # pragma: no cover

    def pop_best(self) -> tuple[Pair, int] | None:
        """The most frequent pair that occurs first, with its count (None: no pairs left)."""
        heap = self.heap
        while heap:
            neg, w, offset, top = heap[0]
            if self.counts.get(top) != -neg:  # stale entry
                heappop(heap)
                continue
            true = self.first_position(top)
            if true != (w, offset):  # its first occurrence moved later: re-file it
                self.position[top] = true
                heapreplace(heap, (neg, *true, top))
                continue
            heappop(heap)
            return top, -neg
        return None

    def merge(self, pair: Pair, new_id: int) -> None:
        """Rewrite the chunks containing ``pair`` and update the counts they change."""
        self.length.append(self.length[pair[0]] + self.length[pair[1]])
        counts, where = self.counts, self.where
        changed: set[Pair] = set()
        for w in where.pop(pair):
            old = self.words[w]
            new = merge_pair(old, pair, new_id)
            self.words[w] = new
            f = self.freq[w]
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
        self.position.pop(pair, None)
        changed.discard(pair)
        self._refile(changed)

    def _refile(self, changed: set[Pair]) -> None:
        """Push the pairs whose counts changed onto the heap again; forget those now absent."""
        for p in changed:
            c = self.counts[p]
            if c > 0:
                if p not in self.position:  # a pair made by this merge: find where it starts
                    self.position[p] = self.first_position(p)
                heappush(self.heap, (-c, *self.position[p], p))
            else:
                del self.counts[p]
                self.where.pop(p, None)
                self.position.pop(p, None)


def train_merges(
    chunk_counts: dict[tuple[int, ...], int], num_merges: int, first_id: int = 256
) -> tuple[dict[Pair, int], list[int]]:
    """Up to ``num_merges`` merges learned from distinct chunks with their counts, fast.

    ``chunk_counts`` maps each distinct chunk (as byte ids) to how often it
    occurs, in order of first appearance in the text. Returns the merges (the
    same as :func:`naive_merges`) and how many times each merged pair occurred.
    A merge rewrites only the chunks that contain its pair.
    """
    index = _PairIndex(chunk_counts, first_id)
    merges: dict[Pair, int] = {}
    merge_counts: list[int] = []
    for k in range(num_merges):
        best = index.pop_best()
        if best is None:
            warn_short(len(merges), num_merges)
            break
        pair, count = best
        merges[pair] = first_id + k
        merge_counts.append(count)
        index.merge(pair, first_id + k)
    return merges, merge_counts
