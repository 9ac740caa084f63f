"""Embeddings (llm101_helpers.embeddings), checked against independent references:
one-hot matrix products, the sinusoid closed form computed with ``math``, brute-force
pair lists and neighbour searches, NumPy's eigendecomposition, PyTorch's own
``F.cosine_similarity``.
"""

import math
import random
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.embeddings import (
    SkipGram,
    TokenAndPositionEmbedding,
    cosine_similarity_matrix,
    nearest_neighbors,
    pca,
    sinusoidal_positions,
    skipgram_pairs,
    train_skipgram,
    unigram_noise,
)

# ---------------------------------------------------------------------------
# Lookup tables
# ---------------------------------------------------------------------------


def test_embedding_lookup_equals_one_hot_times_the_weights():
    torch.manual_seed(0)
    emb = nn.Embedding(11, 5)
    ids = torch.tensor([[3, 0, 10, 3], [7, 7, 1, 2]])  # (B, T)
    one_hot = F.one_hot(ids, num_classes=11).float()  # (B, T, V)
    torch.testing.assert_close(emb(ids), one_hot @ emb.weight)


def test_token_and_position_embedding_adds_the_two_rows():
    torch.manual_seed(0)
    layer = TokenAndPositionEmbedding(vocab_size=20, context_length=6, d_model=4)
    ids = torch.tensor([[1, 5, 5, 19], [0, 2, 4, 6]])  # (B=2, T=4)
    out = layer(ids)
    assert out.shape == (2, 4, 4)
    tok, pos = layer.token_embedding.weight, layer.position_embedding.weight
    for b in range(2):
        for t in range(4):
            torch.testing.assert_close(out[b, t], tok[ids[b, t]] + pos[t])
    # the same token at two positions gets two different vectors
    assert not torch.allclose(out[0, 1], out[0, 2])
    # a single sequence (T,) works too, and the full context length is allowed
    assert layer(torch.arange(6)).shape == (6, 4)
    # gradients reach both tables
    out.sum().backward()
    assert tok.grad is not None and pos.grad is not None
    assert pos.grad[:4].abs().sum() > 0 and pos.grad[4:].abs().sum() == 0


def test_positions_can_start_after_cached_tokens():
    torch.manual_seed(0)
    layer = TokenAndPositionEmbedding(vocab_size=20, context_length=6, d_model=4)
    ids = torch.tensor([[3, 9]])
    tok, pos = layer.token_embedding.weight, layer.position_embedding.weight
    torch.testing.assert_close(layer(ids, start=4)[0], tok[[3, 9]] + pos[[4, 5]])
    with pytest.raises(ValueError, match=r"2 tokens after 5 earlier positions.*context_length=6"):
        layer(ids, start=5)


@pytest.mark.parametrize("bad", [20, -1, 1000])
def test_ids_outside_the_vocabulary_name_the_id_and_the_size(bad):
    layer = TokenAndPositionEmbedding(vocab_size=20, context_length=6, d_model=4)
    ids = torch.tensor([[1, bad, 2]])
    with pytest.raises(IndexError):  # what nn.Embedding says on its own (or nothing, on a GPU)
        layer.token_embedding(ids)
    with pytest.raises(ValueError, match=rf"token id {bad} is outside.*0..19 \(vocab_size=20\)"):
        layer(ids)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        layer(torch.tensor([[1.0, 2.0]]))


def test_a_sequence_longer_than_the_context_names_both_numbers():
    layer = TokenAndPositionEmbedding(vocab_size=10, context_length=8, d_model=4)
    with pytest.raises(ValueError, match=r"the sequence has 9 tokens, more than context_length=8"):
        layer(torch.zeros(2, 9, dtype=torch.long))


@pytest.mark.parametrize("bad", [{"vocab_size": 0}, {"context_length": -1}, {"d_model": 2.0}])
def test_token_and_position_embedding_sizes_must_be_positive(bad):
    sizes = {"vocab_size": 10, "context_length": 8, "d_model": 4, **bad}
    name, value = next(iter(bad.items()))
    with pytest.raises(ValueError, match=f"{name} must be a positive integer, got {value}"):
        TokenAndPositionEmbedding(**sizes)


# ---------------------------------------------------------------------------
# Sinusoidal positions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("T", "d"), [(1, 2), (7, 4), (50, 16), (128, 64)])
def test_sinusoidal_positions_match_the_closed_form(T, d):
    pe = sinusoidal_positions(T, d)
    assert pe.shape == (T, d) and pe.dtype == torch.float32
    expected = torch.empty(T, d)
    for pos in range(T):
        for i in range(d // 2):
            angle = pos / 10_000 ** (2 * i / d)
            expected[pos, 2 * i] = math.sin(angle)
            expected[pos, 2 * i + 1] = math.cos(angle)
    torch.testing.assert_close(pe, expected)


def test_sinusoidal_positions_properties():
    pe = sinusoidal_positions(64, 32)
    # position 0: every sine is 0 and every cosine is 1
    torch.testing.assert_close(pe[0, 0::2], torch.zeros(16))
    torch.testing.assert_close(pe[0, 1::2], torch.ones(16))
    # each (sin, cos) pair lies on the unit circle
    torch.testing.assert_close(pe[:, 0::2] ** 2 + pe[:, 1::2] ** 2, torch.ones(64, 16))
    # no two positions share a vector
    assert torch.cdist(pe, pe).add(torch.eye(64)).min() > 0.1


@pytest.mark.parametrize("base", [0, -10.0, float("nan"), float("inf")])
def test_sinusoidal_positions_need_a_positive_finite_base(base):
    with pytest.raises(ValueError, match=f"base must be a positive finite number, got {base}"):
        sinusoidal_positions(8, 4, base=base)


def test_sinusoidal_positions_need_an_even_width():
    with pytest.raises(ValueError, match="d_model must be even.*got 5"):
        sinusoidal_positions(10, 5)
    with pytest.raises(ValueError, match="context_length must be a positive integer, got 0"):
        sinusoidal_positions(0, 4)


# ---------------------------------------------------------------------------
# Skip-gram pieces
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", [1, 2, 3, 10])
def test_skipgram_pairs_are_all_neighbours_within_the_window(window):
    ids = [4, 1, 4, 2, 0, 3, 3]
    centers, contexts = skipgram_pairs(ids, window)
    expected = Counter(
        (ids[i], ids[j])
        for i in range(len(ids))
        for j in range(len(ids))
        if i != j and abs(i - j) <= window
    )
    assert Counter(zip(centers.tolist(), contexts.tolist(), strict=True)) == expected


def test_skipgram_pairs_need_two_ids():
    with pytest.raises(ValueError, match="at least 2 token ids.*got 1"):
        skipgram_pairs([5], 2)


def test_unigram_noise_is_counts_to_the_three_quarters():
    ids = [0, 0, 0, 0, 1, 1, 3]
    weights = torch.tensor([4**0.75, 2**0.75, 0.0, 1.0, 0.0])
    torch.testing.assert_close(unigram_noise(ids, 5), weights / weights.sum())
    with pytest.raises(ValueError, match=r"token id 3 is outside the vocabulary.*vocab_size=3"):
        unigram_noise(ids, 3)


def test_unigram_noise_refuses_what_would_give_nans_or_wrap():
    with pytest.raises(ValueError, match="at least one token id"):
        unigram_noise([], 5)
    with pytest.raises(
        ValueError, match=r"token id -1 is outside the vocabulary: ids must be in 0..4"
    ):
        unigram_noise([0, -1], 5)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        unigram_noise([0.5, 1.7], 5)  # would have been truncated to [0, 1]
    with pytest.raises(ValueError, match="power must be a non-negative finite number, got -1"):
        unigram_noise([0, 1], 5, power=-1)  # 0 ** -1 = inf


def test_skipgram_loss_matches_a_loop():
    torch.manual_seed(0)
    model = SkipGram(vocab_size=9, d_model=4)
    centers, contexts = torch.tensor([0, 3, 8]), torch.tensor([1, 1, 2])
    negatives = torch.tensor([[4, 5], [6, 7], [0, 0]])
    W, C = model.word_embedding.weight, model.context_embedding.weight
    total = 0.0
    for b in range(3):
        w = W[centers[b]]
        total -= math.log(torch.sigmoid(w @ C[contexts[b]]).item())
        for k in range(2):
            total -= math.log(torch.sigmoid(-(w @ C[negatives[b, k]])).item())
    loss = model(centers, contexts, negatives)
    assert loss.item() == pytest.approx(total / 3, rel=1e-5)


# ---------------------------------------------------------------------------
# "Similar context, nearby vectors" on a corpus built for the purpose
# ---------------------------------------------------------------------------

TOPICS = {
    # context words of a topic, and two related words that appear only among them
    "sea": (["wave", "salt", "tide", "shore", "gull", "foam"], ("boat", "ship")),
    "hill": (["stone", "moss", "pine", "ridge", "fern", "goat"], ("path", "track")),
}
RELATED = [("boat", "ship"), ("path", "track")]
UNRELATED = [("boat", "path"), ("boat", "track"), ("ship", "path"), ("ship", "track")]


def topic_corpus(n_sentences: int = 400, seed: int = 0) -> list[str]:
    """Sentences of 4 context words of one topic and one of its two related words, then '.'.

    The related word never sits at a sentence's edge, so two related words are always
    at least 3 positions apart: "boat" and "ship" never meet inside a window of 2, they
    only share neighbours.
    """
    rng = random.Random(seed)
    words: list[str] = []
    for _ in range(n_sentences):
        context, related = TOPICS[rng.choice(sorted(TOPICS))]
        sentence = rng.sample(context, 4)
        sentence.insert(rng.randrange(1, 4), rng.choice(related))
        words += [*sentence, "."]
    return words


def similarities(W: torch.Tensor, index: dict[str, int], pairs) -> list[float]:
    S = cosine_similarity_matrix(W)
    return [S[index[a], index[b]].item() for a, b in pairs]


def test_words_with_the_same_neighbours_end_up_close():
    words = topic_corpus()
    vocab = sorted(set(words))
    index = {w: i for i, w in enumerate(vocab)}
    ids = [index[w] for w in words]
    window = 2
    # the related words never co-occur: only their contexts make them similar
    for a, b in RELATED:
        positions = {w: [i for i, x in enumerate(words) if x == w] for w in (a, b)}
        gaps = [abs(i - j) for i in positions[a] for j in positions[b]]
        assert min(gaps) > window

    kwargs = dict(
        d_model=16, window=window, epochs=5, batch_size=256, lr=0.02, seed=0, progress=False
    )
    model, losses = train_skipgram(ids, len(vocab), **kwargs)
    first_epoch, last_epoch = losses[: len(losses) // 5], losses[-len(losses) // 5 :]
    assert sum(last_epoch) / len(last_epoch) < 0.8 * sum(first_epoch) / len(first_epoch)

    trained = model.word_embedding.weight.detach()
    related = similarities(trained, index, RELATED)
    unrelated = similarities(trained, index, UNRELATED)
    assert min(related) > 0.7
    assert min(related) - max(unrelated) > 0.4

    # the same check fails for the untrained vectors: it is the training that did it
    torch.manual_seed(0)
    untrained = SkipGram(len(vocab), 16).word_embedding.weight.detach()
    r, u = similarities(untrained, index, RELATED), similarities(untrained, index, UNRELATED)
    assert not (min(r) > 0.7 and min(r) - max(u) > 0.4)

    # nearest neighbours agree: each related word's nearest word is its partner
    for a, b in RELATED:
        assert nearest_neighbors(trained, index[a], k=1)[0][0] == index[b]

    # same seed, same model
    again, losses_again = train_skipgram(ids, len(vocab), **kwargs)
    assert losses_again == losses
    assert torch.equal(again.word_embedding.weight, model.word_embedding.weight)


def test_train_skipgram_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    state = torch.get_rng_state()
    train_skipgram([0, 1, 2, 1, 0, 2] * 5, 3, d_model=4, epochs=1, progress=False)
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------------------
# Looking at vectors
# ---------------------------------------------------------------------------


def test_cosine_similarity_matrix_matches_pytorch():
    torch.manual_seed(0)
    a, b = torch.randn(5, 3), torch.randn(4, 3)
    expected = F.cosine_similarity(a[:, None, :], b[None, :, :], dim=-1)  # (5, 4)
    torch.testing.assert_close(cosine_similarity_matrix(a, b), expected)
    S = cosine_similarity_matrix(a)
    torch.testing.assert_close(S.diagonal(), torch.ones(5))
    torch.testing.assert_close(S, S.T)
    with pytest.raises(ValueError, match=r"same width, got shapes \(5, 3\) and \(4, 2\)"):
        cosine_similarity_matrix(a, torch.randn(4, 2))


def test_nearest_neighbors_match_a_brute_force_search():
    torch.manual_seed(0)
    vectors = torch.randn(30, 6)
    for query in (0, 7, 29):
        sims = [
            (F.cosine_similarity(vectors[query], vectors[j], dim=0).item(), j)
            for j in range(30)
            if j != query
        ]
        expected = [j for _, j in sorted(sims, key=lambda s: -s[0])[:5]]
        found = nearest_neighbors(vectors, query, k=5)
        assert [j for j, _ in found] == expected
        assert [s for _, s in found] == pytest.approx([s for s, _ in sorted(sims)[::-1][:5]])


def test_nearest_neighbors_candidates_and_ties():
    vectors = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [-1.0, 0.0]])
    # rows 1 and 3 tie with similarity 1: the lower row comes first; the query is never listed
    assert [j for j, _ in nearest_neighbors(vectors, 0, k=4)] == [1, 3, 2, 4]
    assert [j for j, _ in nearest_neighbors(vectors, 0, k=2, candidates=[2, 3])] == [3, 2]
    mask = torch.tensor([True, False, True, False, True])
    assert [j for j, _ in nearest_neighbors(vectors, 0, k=5, candidates=mask)] == [2, 4]
    with pytest.raises(ValueError, match=r"shape \(5,\).*got \(3,\)"):
        nearest_neighbors(vectors, 0, candidates=torch.tensor([True, False, True]))
    with pytest.raises(IndexError, match="query row 5 is outside the 5 vectors"):
        nearest_neighbors(vectors, 5)


def test_nearest_neighbors_refuse_rows_that_would_wrap_or_truncate():
    vectors = torch.eye(5)
    assert vectors[torch.tensor([-1])].tolist() == [vectors[4].tolist()]  # indexing would wrap
    with pytest.raises(
        IndexError, match=r"candidate row -1 is outside the 5 vectors \(rows 0..4\)"
    ):
        nearest_neighbors(vectors, 0, candidates=[-1])
    with pytest.raises(IndexError, match="candidate row 5 is outside the 5 vectors"):
        nearest_neighbors(vectors, 0, candidates=[1, 5])
    with pytest.raises(TypeError, match="integer row indices, got dtype torch.float32"):
        nearest_neighbors(vectors, 0, candidates=[1.9])


def test_nearest_neighbors_refuse_nan_similarities():
    vectors = torch.tensor([[1.0, 0.0], [0.9, 0.1], [float("nan"), 1.0], [0.0, 1.0]])
    sims = F.cosine_similarity(vectors[:1], vectors)
    assert torch.isnan(sims[2])  # torch's own answer for the bad row
    with pytest.raises(ValueError, match=r"NaN for 1 of 3 candidates.*rows \[2\]"):
        nearest_neighbors(vectors, 0, k=3)
    assert [j for j, _ in nearest_neighbors(vectors, 0, k=2, candidates=[1, 3])] == [1, 3]
    with pytest.raises(ValueError, match=r"NaN for 3 of 3 candidates.*rows \[2\]"):
        nearest_neighbors(vectors, 2, k=3)  # the query itself holds NaN


def test_pca_matches_the_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    proj = pca(torch.tensor(x, dtype=torch.float32), k=2)
    assert proj.shape == (40, 2)
    centred = x - x.mean(0)
    eigvals, eigvecs = np.linalg.eigh(np.cov(centred, rowvar=False))
    top = eigvecs[:, np.argsort(eigvals)[::-1][:2]]  # (6, 2)
    expected = centred @ top
    for j in range(2):  # eigenvectors are defined up to sign
        sign = np.sign(expected[:, j] @ proj[:, j].numpy())
        np.testing.assert_allclose(proj[:, j].numpy(), sign * expected[:, j], atol=1e-4)
        # the sign convention: the point farthest along a direction is on its positive side
        far = np.abs(proj[:, j].numpy()).argmax()
        assert proj[far, j] > 0
    assert proj[:, 0].var() > proj[:, 1].var()
    with pytest.raises(ValueError, match=r"k=7 <= min\(N, D\), got shape \(40, 6\)"):
        pca(torch.tensor(x), k=7)
