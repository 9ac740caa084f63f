"""Embeddings: from token ids to vectors (notebook 03).

A model cannot compute with an id such as ``1169``; it looks up a learned
vector for it instead. This module holds what notebook 03 builds:

- :class:`TokenAndPositionEmbedding`: the input layer of a GPT. A token
  embedding table (one row per token id) plus a learned *absolute position*
  embedding table (one row per position ``0..context_length-1``), added
  together. Attention on its own cannot tell positions apart; the position
  vectors are what let the model know where each token stands.
- :func:`sinusoidal_positions`: the fixed sine/cosine position vectors of
  "Attention Is All You Need", an alternative to learned positions.
- Word vectors learned from context, to *see* that "similar context gives
  nearby vectors": :func:`skipgram_pairs` turns a token stream into
  (center, context) pairs, :class:`SkipGram` scores them with negative
  sampling (word2vec), and :func:`train_skipgram` trains it.
- Tools to look at vectors: :func:`cosine_similarity_matrix`,
  :func:`nearest_neighbors` and :func:`pca` (a 2-D projection to plot).

Shapes: ``B`` batch, ``T`` time (positions), ``C`` channels (``d_model``), ``V`` vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SkipGram",
    "TokenAndPositionEmbedding",
    "check_token_ids",
    "cosine_similarity_matrix",
    "nearest_neighbors",
    "pca",
    "sinusoidal_positions",
    "skipgram_pairs",
    "train_skipgram",
    "unigram_noise",
]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ---------------------------------------------------------------------------
# The input layer of a GPT
# ---------------------------------------------------------------------------


def check_token_ids(ids: torch.Tensor, vocab_size: int) -> None:
    """Raise unless ``ids`` is an integer tensor with every id in ``0..vocab_size - 1``.

    One ``aminmax`` over the tensor: cheap next to the embedding lookup it guards.
    """
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype}")
    if ids.numel() == 0 or ids.device.type == "meta":
        return
    lo, hi = (int(v) for v in torch.aminmax(ids))
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"token id {bad} is outside the vocabulary: ids must be in 0..{vocab_size - 1} "
            f"(vocab_size={vocab_size})"
        )


class TokenAndPositionEmbedding(nn.Module):
    """Token embeddings plus learned absolute position embeddings.

    ``forward(ids)`` maps ids of shape ``(B, T)`` (or any ``(..., T)``) to
    vectors of shape ``(B, T, d_model)``: row ``ids[b, t]`` of the token table
    plus row ``t`` of the position table. ``forward(ids, start=s)`` uses rows
    ``s..s + T - 1`` of the position table instead (the tokens that follow
    ``s`` cached ones). ``start + T`` may be at most ``context_length``, and
    every id must be in ``0..vocab_size - 1``; otherwise ``ValueError`` names
    the numbers.
    """

    def __init__(self, vocab_size: int, context_length: int, d_model: int) -> None:
        super().__init__()
        _check_positive(vocab_size=vocab_size, context_length=context_length, d_model=d_model)
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.d_model = d_model
        self.token_embedding = nn.Embedding(vocab_size, d_model)  # (V, C)
        self.position_embedding = nn.Embedding(context_length, d_model)  # (context_length, C)

    def forward(self, ids: torch.Tensor, start: int = 0, check_ids: bool = True) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, d_model)``; ``start`` offsets the positions (a KV cache).

        ``check_ids=False`` skips the vocabulary check (one read of the ids' range,
        which waits for a GPU); use it only where the ids were checked before.
        """
        if ids.dim() == 0:
            raise ValueError("ids must have a time dimension: shape (T,) or (B, T), got a scalar")
        T = ids.shape[-1]
        if start + T > self.context_length:
            offset = f" after {start} earlier positions" if start else ""
            raise ValueError(
                f"the sequence has {T} tokens{offset}, more than context_length="
                f"{self.context_length} positions this embedding has vectors for; "
                f"truncate it to the last {self.context_length - start} tokens"
            )
        if check_ids:
            check_token_ids(ids, self.vocab_size)
        tok = self.token_embedding(ids)  # (B, T, C)
        pos = self.position_embedding(torch.arange(start, start + T, device=ids.device))  # (T, C)
        return tok + pos  # (B, T, C): pos is broadcast over the batch


def sinusoidal_positions(context_length: int, d_model: int, base: float = 10_000.0) -> torch.Tensor:
    """Fixed sine/cosine position vectors, shape ``(context_length, d_model)``.

    From "Attention Is All You Need" (Vaswani et al., 2017)::

        PE[pos, 2i]     = sin(pos / base ** (2i / d_model))
        PE[pos, 2i + 1] = cos(pos / base ** (2i / d_model))

    Each pair of dimensions is a clock hand turning at its own speed, from one
    radian per position (``i = 0``) to almost still. ``d_model`` must be even.
    """
    _check_positive(context_length=context_length, d_model=d_model)
    if d_model % 2:
        raise ValueError(f"d_model must be even (sines and cosines come in pairs), got {d_model}")
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not 0 < base < math.inf:
        raise ValueError(f"base must be a positive finite number, got {base!r}")
    pos = torch.arange(context_length, dtype=torch.float64).unsqueeze(1)  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (C/2,)
    angle = pos / base ** (two_i / d_model)  # (T, C/2)
    pe = torch.empty(context_length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()  # (T, C)


# ---------------------------------------------------------------------------
# Word vectors from context: skip-gram with negative sampling (word2vec)
# ---------------------------------------------------------------------------


def skipgram_pairs(
    ids: Sequence[int] | torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (center, context) pairs of tokens at most ``window`` positions apart.

    Returns two tensors of shape ``(P,)`` with ``P = 2 * sum(N - d for d in
    1..window)`` for ``N`` ids: for each distance ``d``, every token is paired
    with the token ``d`` to its right, and every token with the token ``d`` to
    its left. Pairs are grouped by distance, not by position.
    """
    _check_positive(window=window)
    ids = torch.as_tensor(ids, dtype=torch.long)
    centers, contexts = [], []
    for d in range(1, min(window, len(ids) - 1) + 1):
        centers += [ids[:-d], ids[d:]]  # look right, then look left
        contexts += [ids[d:], ids[:-d]]
    if not centers:
        raise ValueError(f"need at least 2 token ids to make a pair, got {len(ids)}")
    return torch.cat(centers), torch.cat(contexts)  # (P,), (P,)


def unigram_noise(
    ids: Sequence[int] | torch.Tensor, vocab_size: int, power: float = 0.75
) -> torch.Tensor:
    """word2vec's negative-sampling distribution, shape ``(vocab_size,)``.

    Each token's count in ``ids`` raised to ``power`` (0.75 flattens it: rare
    words are drawn more often than their share, frequent ones less), then
    normalised to sum to 1. Empty ``ids``, or ids outside ``0..vocab_size - 1``,
    raise ``ValueError``.
    """
    _check_positive(vocab_size=vocab_size)
    ids = torch.as_tensor(ids)
    if ids.numel() == 0:
        raise ValueError("unigram_noise needs at least one token id to count, got none")
    if not 0 <= power < math.inf:
        raise ValueError(f"power must be a non-negative finite number, got {power!r}")
    check_token_ids(ids, vocab_size)
    counts = torch.bincount(ids.long().flatten(), minlength=vocab_size)
    weights = counts.double() ** power
    return (weights / weights.sum()).float()  # (V,)


class SkipGram(nn.Module):
    """Skip-gram with negative sampling: word vectors that predict their neighbours.

    Every token has two vectors: ``word_embedding`` (the one we keep and look
    at) and ``context_embedding`` (used when the token is someone else's
    neighbour). The score of a (center, context) pair is the dot product of the
    center's word vector and the context's context vector. ``forward`` returns
    the mean over the batch of::

        -log sigmoid(score(center, context)) - sum_k log sigmoid(-score(center, negative_k))

    so training pushes the scores of real neighbours up and the scores of
    ``K`` random "negative" tokens down. Two words that appear next to the same
    neighbours get pushed towards the same context vectors, so their word
    vectors end up close: similar context, nearby vectors.
    """

    def __init__(self, vocab_size: int, d_model: int) -> None:
        super().__init__()
        self.word_embedding = nn.Embedding(vocab_size, d_model)  # (V, D)
        self.context_embedding = nn.Embedding(vocab_size, d_model)  # (V, D)
        for table in (self.word_embedding, self.context_embedding):
            nn.init.normal_(table.weight, std=d_model**-0.5)  # scores start near 0

    def forward(
        self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        w = self.word_embedding(centers)  # (B, D)
        c = self.context_embedding(contexts)  # (B, D)
        n = self.context_embedding(negatives)  # (B, K, D)
        pos_score = (w * c).sum(-1)  # (B,)
        neg_score = (n @ w.unsqueeze(-1)).squeeze(-1)  # (B, K)
        loss = -F.logsigmoid(pos_score) - F.logsigmoid(-neg_score).sum(-1)  # (B,)
        return loss.mean()


def train_skipgram(
    ids: Sequence[int] | torch.Tensor,
    vocab_size: int,
    d_model: int = 32,
    window: int = 2,
    negatives: int = 5,
    epochs: int = 10,
    batch_size: int = 512,
    lr: float = 0.01,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> tuple[SkipGram, list[float]]:
    """Train a :class:`SkipGram` model on a token stream; return it and its losses.

    Pairs come from :func:`skipgram_pairs` (``window``), negatives from
    :func:`unigram_noise`; Adam with learning rate ``lr``. Returns the model
    (on ``device``, default CPU) and the loss of every step (a list of
    ``epochs * ceil(P / batch_size)`` floats). Weights, the order of pairs and
    the negatives all come from CPU generators seeded with ``seed``, so a run
    is repeatable. ``progress`` shows a ``tqdm.auto`` progress bar.
    """
    from tqdm.auto import tqdm  # imported here: only training needs it

    _check_positive(
        vocab_size=vocab_size,
        d_model=d_model,
        window=window,
        negatives=negatives,
        epochs=epochs,
        batch_size=batch_size,
    )
    device = torch.device("cpu") if device is None else torch.device(device)
    ids = torch.as_tensor(ids, dtype=torch.long)
    centers, contexts = skipgram_pairs(ids, window)  # (P,), (P,)
    noise = unigram_noise(ids, vocab_size)  # (V,)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seed the initial weights, leave the global RNG be
        torch.manual_seed(seed)
        model = SkipGram(vocab_size, d_model).to(device)  # created on the CPU, then moved
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    n_pairs = len(centers)
    steps_per_epoch = math.ceil(n_pairs / batch_size)
    losses: list[float] = []
    with tqdm(total=epochs * steps_per_epoch, desc="training", disable=not progress) as bar:
        for _ in range(epochs):
            order = torch.randperm(n_pairs, generator=generator)
            for start in range(0, n_pairs, batch_size):
                batch = order[start : start + batch_size]  # (B,)
                negs = torch.multinomial(
                    noise, len(batch) * negatives, replacement=True, generator=generator
                ).view(len(batch), negatives)  # (B, K)
                loss = model(centers[batch].to(device), contexts[batch].to(device), negs.to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                bar.update()
    return model, losses


# ---------------------------------------------------------------------------
# Looking at vectors
# ---------------------------------------------------------------------------


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` (N, D) with every row of ``b`` (M, D).

    Returns ``(N, M)`` (``(N, N)`` when ``b`` is omitted), each entry in
    ``[-1, 1]``: 1 for vectors pointing the same way, 0 for orthogonal ones.
    """
    b = a if b is None else b
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"expected two matrices of row vectors with the same width, got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T  # (N, M)


def nearest_neighbors(
    vectors: torch.Tensor,
    query: int,
    k: int = 5,
    candidates: torch.Tensor | Sequence[int] | None = None,
) -> list[tuple[int, float]]:
    """The ``k`` rows of ``vectors`` (V, D) most cosine-similar to row ``query``.

    Returns ``[(row, similarity), ...]``, most similar first, never ``query``
    itself; ties go to the lower row. ``candidates`` (row indices, or a boolean
    mask of shape ``(V,)``) limits the search, for example to frequent words; a
    row outside ``0..V - 1`` raises ``IndexError`` (no wrapping of negative rows).
    A NaN similarity (from a vector holding NaN or inf) raises ``ValueError``.
    """
    _check_positive(k=k)
    V = vectors.shape[0]
    if not 0 <= query < V:
        raise IndexError(f"query row {query} is outside the {V} vectors")
    sims = cosine_similarity_matrix(vectors[query : query + 1], vectors)[0].detach().cpu()  # (V,)
    allowed = torch.zeros(V, dtype=torch.bool)
    if candidates is None:
        allowed[:] = True
    else:
        candidates = torch.as_tensor(candidates)
        if candidates.dtype == torch.bool:
            if candidates.shape != (V,):
                raise ValueError(
                    f"a boolean candidates mask must have shape ({V},), one entry per "
                    f"vector, got {tuple(candidates.shape)}"
                )
            allowed = candidates.cpu().clone()
        else:
            allowed[_check_rows(candidates, V).cpu()] = True
    allowed[query] = False
    rows = allowed.nonzero().squeeze(1)  # (M,) ascending
    if sims[rows].isnan().any():
        bad = rows[sims[rows].isnan()].tolist()
        where = [query] if sims[rows].isnan().all() else bad[:10]
        raise ValueError(
            f"the similarities cannot be ranked: they are NaN for {len(bad)} of {len(rows)} "
            f"candidates; vectors holds NaN or inf (look at rows {where})"
        )
    order = torch.sort(sims[rows], descending=True, stable=True).indices[:k]
    return [(int(rows[i]), float(sims[rows[i]])) for i in order]


def _check_rows(candidates: torch.Tensor, V: int) -> torch.Tensor:
    """``candidates`` as row indices, refusing non-integers and rows outside ``0..V - 1``."""
    if candidates.dtype.is_floating_point or candidates.dtype.is_complex:
        raise TypeError(f"candidates must be integer row indices, got dtype {candidates.dtype}")
    candidates = candidates.long().flatten()
    outside = candidates[(candidates < 0) | (candidates >= V)]
    if len(outside):
        raise IndexError(
            f"candidate row {int(outside[0])} is outside the {V} vectors (rows 0..{V - 1})"
        )
    return candidates


def pca(vectors: torch.Tensor, k: int = 2) -> torch.Tensor:
    """Project ``vectors`` (N, D) onto their ``k`` principal components: ``(N, k)``.

    Centres the rows, then projects them onto the ``k`` directions of largest
    variance (the top right-singular vectors). Column ``j`` has the ``j``-th
    largest variance. Each direction's sign is fixed so that the point farthest
    along it has a positive coordinate, so plots do not flip between runs.
    """
    _check_positive(k=k)
    if vectors.dim() != 2 or k > min(vectors.shape):
        raise ValueError(
            f"need a matrix (N, D) with k={k} <= min(N, D), got shape {tuple(vectors.shape)}"
        )
    x = vectors.detach().cpu().double()
    x = x - x.mean(0)  # (N, D)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)  # vh: (min(N, D), D)
    proj = x @ vh[:k].T  # (N, k)
    far = proj.abs().argmax(0)  # (k,)
    signs = torch.sign(proj[far, torch.arange(k)])
    signs[signs == 0] = 1
    return (proj * signs).float()  # (N, k)
