"""The sliding-window data pipeline (llm101_helpers.data): windows, targets, loaders.

Windows are checked against an independent reference: a plain loop over start
positions ``0, stride, 2*stride, ...`` that keeps a window while its inputs and
its one extra target token fit in the sequence.
"""

import pytest
import tiktoken
import torch

from llm101_helpers.data import SlidingWindowDataset, create_dataloader, encode_text
from llm101_helpers.tokenizers import WordTokenizer


def reference_windows(ids: list[int], context_length: int, stride: int) -> list[tuple[list, list]]:
    windows = []
    start = 0
    while start + context_length + 1 <= len(ids):
        inputs = ids[start : start + context_length]
        windows.append((inputs, ids[start + 1 : start + context_length + 1]))
        start += stride
    return windows


# (number of ids, context_length, stride): overlapping, tiling, skipping windows, and
# lengths that leave 0, 1 or several ids after the last full window
CASES = [
    (10, 4, 3),
    (10, 4, 4),
    (10, 4, 1),
    (9, 4, 4),
    (13, 4, 4),
    (50, 8, 5),
    (50, 8, 8),
    (50, 8, 11),
    (51, 7, 2),
    (5, 4, 1),
    (5, 4, 100),
    (100, 1, 1),
]


@pytest.mark.parametrize(("n", "context_length", "stride"), CASES)
def test_windows_and_targets_match_the_reference(n, context_length, stride):
    ids = list(range(100, 100 + n))
    ds = SlidingWindowDataset(ids, context_length=context_length, stride=stride)
    expected = reference_windows(ids, context_length, stride)
    assert len(ds) == len(expected)
    for i, (x_ref, y_ref) in enumerate(expected):
        x, y = ds[i]
        assert x.dtype == y.dtype == torch.long
        assert x.shape == y.shape == (context_length,)
        assert x.tolist() == x_ref and y.tolist() == y_ref
        # the target is the input shifted by one: y[t] is the token after x[t]
        assert y[:-1].tolist() == x[1:].tolist()
        assert y[-1].item() == ids[i * stride + context_length]
    assert ds[-1][0].tolist() == expected[-1][0]  # negative indices count from the end


def test_the_docstring_picture():
    ids = list("abcdefghij")
    to_ids = {c: i for i, c in enumerate(ids)}
    ds = SlidingWindowDataset([to_ids[c] for c in ids], context_length=4, stride=3)
    letters = [["".join(ids[i] for i in t.tolist()) for t in ds[k]] for k in range(len(ds))]
    assert letters == [["abcd", "bcde"], ["defg", "efgh"]]


def test_the_last_partial_window_is_dropped():
    # 11 ids, windows of 4 (plus one target), stride 4: starts 0 and 4 fit, start 8 would
    # need ids 8..12. The last full window's target ends at id 8, so ids 9 and 10 are never seen.
    ids = list(range(11))
    ds = SlidingWindowDataset(ids, context_length=4, stride=4)
    assert len(ds) == 2
    seen = {t for k in range(len(ds)) for pair in ds[k] for t in pair.tolist()}
    assert seen == set(range(9))
    # one more id makes a third window
    assert len(SlidingWindowDataset(list(range(13)), context_length=4, stride=4)) == 3


def test_tiling_uses_every_input_token_once():
    ids = torch.arange(41)
    ds = SlidingWindowDataset(ids, context_length=8, stride=8)
    inputs = torch.cat([ds[k][0] for k in range(len(ds))])
    assert torch.equal(inputs, ids[: len(ds) * 8])
    assert len(ds) == 5


def test_exactly_one_window():
    ds = SlidingWindowDataset([7, 8, 9], context_length=2, stride=5)
    assert len(ds) == 1
    assert [t.tolist() for t in ds[0]] == [[7, 8], [8, 9]]
    with pytest.raises(IndexError, match="window 1 out of range for a dataset of 1 windows"):
        ds[1]


def test_text_shorter_than_one_window_names_the_numbers():
    with pytest.raises(ValueError, match=r"4 tokens long.*context_length=4 needs at least 5"):
        SlidingWindowDataset([1, 2, 3, 4], context_length=4, stride=1)
    with pytest.raises(ValueError, match="0 tokens long"):
        create_dataloader([], context_length=2, stride=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"context_length": 0, "stride": 1}, "context_length must be a positive integer, got 0"),
        ({"context_length": 4, "stride": 0}, "stride must be a positive integer, got 0"),
        ({"context_length": -3, "stride": 1}, "context_length must be a positive integer, got -3"),
        ({"context_length": 2.5, "stride": 1}, "context_length must be a positive integer, "
         "got 2.5"),
        ({"context_length": True, "stride": 1}, "context_length must be a positive integer, "
         "got True"),
    ],
)
def test_parameters_must_be_positive_integers(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SlidingWindowDataset(list(range(20)), **kwargs)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        create_dataloader(list(range(20)), context_length=4, stride=4, batch_size=0)


def test_ids_must_be_a_flat_integer_sequence():
    with pytest.raises(TypeError, match="dtype torch.float32"):
        SlidingWindowDataset(torch.rand(20), context_length=4, stride=4)
    with pytest.raises(ValueError, match=r"one flat sequence, got shape \(2, 10\)"):
        SlidingWindowDataset(torch.zeros(2, 10, dtype=torch.long), context_length=4, stride=4)


def test_loader_batches_are_windows_stacked():
    ids = list(range(200))
    loader = create_dataloader(ids, context_length=6, stride=3, batch_size=4, shuffle=False)
    ds = SlidingWindowDataset(ids, context_length=6, stride=3)
    batches = list(loader)
    assert len(batches) == len(ds) // 4
    for b, (x, y) in enumerate(batches):
        assert x.shape == y.shape == (4, 6)
        for row in range(4):
            x_ref, y_ref = ds[4 * b + row]
            assert torch.equal(x[row], x_ref) and torch.equal(y[row], y_ref)
        assert torch.equal(y[:, :-1], x[:, 1:])


def test_drop_last():
    ids = list(range(23))  # 22 // 2 = 11 windows of length 2, stride 2
    kept = list(create_dataloader(ids, context_length=2, stride=2, batch_size=4, drop_last=False))
    dropped = list(create_dataloader(ids, context_length=2, stride=2, batch_size=4, drop_last=True))
    assert [len(x) for x, _ in kept] == [4, 4, 3]
    assert [len(x) for x, _ in dropped] == [4, 4]
    with pytest.raises(ValueError, match=r"gives 2 windows, fewer than one batch of batch_size=4"):
        create_dataloader(list(range(5)), context_length=2, stride=2, batch_size=4)


def test_shuffling_is_seeded_and_leaves_the_global_rng_alone():
    ids = list(range(300))

    def order(seed):
        loader = create_dataloader(ids, context_length=4, stride=4, batch_size=5, seed=seed)
        return [x[:, 0].tolist() for x, _ in loader]

    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = order(0)
    assert torch.equal(torch.get_rng_state(), state)
    assert order(0) == first  # same seed, same order
    assert order(1) != first  # another seed, another order
    # 74 windows start at 0, 4, ..., 292; 14 batches of 5 use 70 distinct ones (drop_last)
    starts = [s for batch in first for s in batch]
    assert len(starts) == len(set(starts)) == 70
    assert set(starts) <= set(range(0, 293, 4))
    assert starts != sorted(starts)
    # an epoch is a fresh shuffle: iterating the same loader twice gives two orders
    loader = create_dataloader(ids, context_length=4, stride=4, batch_size=5, seed=0)
    epochs = [[x[:, 0].tolist() for x, _ in loader] for _ in range(2)]
    assert epochs[0] == first and epochs[1] != first


def test_text_is_encoded_with_the_tokenizer():
    text = "the sea, the sky. the sea again! " * 10
    tok = WordTokenizer.train(text)
    loader = create_dataloader(text, tok, context_length=5, stride=5, batch_size=2, shuffle=False)
    x, y = next(iter(loader))
    ids = tok.encode(text)
    assert x[0].tolist() == ids[:5] and y[0].tolist() == ids[1:6]
    with pytest.raises(ValueError, match="without a tokenizer"):
        create_dataloader(text, context_length=5, stride=5)


@pytest.fixture(scope="module")
def gpt2():
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as exc:  # no network and no cache
        pytest.skip(f"tiktoken's gpt2 files are unavailable (set TIKTOKEN_CACHE_DIR): {exc}")


def test_tiktoken_gpt2_with_endoftext(gpt2):
    text = "The tide went out.<|endoftext|>The town woke up."
    ids = encode_text(text, gpt2)
    assert ids == gpt2.encode(text, allowed_special={"<|endoftext|>"})
    assert 50256 in ids
    loader = create_dataloader(text, gpt2, context_length=4, stride=2, batch_size=2, shuffle=False)
    x, y = next(iter(loader))
    assert x[0].tolist() == ids[:4] and y[0].tolist() == ids[1:5]
