"""Exercises that check themselves.

Each lesson ends with a few exercises: the learner writes a function, then runs
``check("05.scaled_scores", scaled_scores)``. The check calls the learner's
function on several inputs (edge cases included), compares every result with
the course's reference implementation and prints a short verdict:

- all passed: how many checks, and what they covered;
- a failure: the first input whose result differs, expected against got, and a hint;
- an exception in the learner's code: its type and message, and the input that caused it;
- a stub (raises ``NotImplementedError`` or returns ``None`` / ``...``): "not implemented yet".

The reference is never printed, only its results. Inputs are built from fixed
seeds and printed rounded, so a notebook's output is the same on every run.
Use :func:`evaluate` to get the verdict as a :class:`Verdict` without printing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.attention import (
    MultiHeadAttention,
    SelfAttention,
    causal_mask,
    simple_attention,
)
from llm101_helpers.data import SlidingWindowDataset
from llm101_helpers.embeddings import sinusoidal_positions
from llm101_helpers.generation import _filter_logits
from llm101_helpers.model import FeedForward
from llm101_helpers.normalization import LayerNorm, RMSNorm
from llm101_helpers.tokenizers import (
    ENDOFTEXT,
    UNK,
    BPETokenizer,
    WordTokenizer,
    get_pair_counts,
    merge_pair,
)
from llm101_helpers.training import TrainConfig, learning_rate

__all__ = ["EXERCISES", "Case", "Exercise", "Verdict", "check", "evaluate"]

#: Tolerances for comparing float tensors (as ``torch.testing.assert_close`` for float32).
RTOL, ATOL = 1.3e-6, 1e-5


@dataclass(frozen=True)
class Case:
    """One input to an exercise: a label for the verdict and the positional arguments."""

    label: str
    args: tuple


@dataclass(frozen=True)
class Exercise:
    """An exercise: its reference, its inputs and the hint shown when an answer is wrong."""

    name: str
    reference: Callable[..., Any]
    cases: Sequence[Case]
    hint: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``status`` is passed, failed, error or not_implemented."""

    name: str
    status: str
    passed: int
    total: int
    message: str = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "passed"


# ---------------------------------------------------------------------------
# Showing values: rounded, no memory addresses, short
# ---------------------------------------------------------------------------


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def _show(x: Any, limit: int = 300) -> str:
    """A stable, short text for ``x`` (tensors as shape, dtype and rounded values)."""
    if isinstance(x, torch.Tensor):
        values = _round(x.detach().cpu().tolist())
        dtype = str(x.dtype).removeprefix("torch.")
        text = f"tensor of shape {tuple(x.shape)}, {dtype}: {values}"
    elif isinstance(x, float) and 0 < abs(x) < 1e-3:
        text = repr(float(f"{x:.4g}"))  # eps = 1e-05, not 0.0
    elif isinstance(x, tuple):
        text = "(" + ", ".join(_show(v, limit) for v in x) + ("," if len(x) == 1 else "") + ")"
    elif isinstance(x, (dict, list, str, int, float, bool)) or x is None:
        text = repr(_round(x))
    else:
        text = f"a {type(x).__name__} object"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _difference(expected: Any, got: Any) -> str | None:
    """Why ``got`` is not ``expected`` (None when they agree)."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {type(got).__name__}"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
        if expected.dtype == torch.bool or not expected.is_floating_point():
            if got.dtype != expected.dtype:
                return f"expected dtype {expected.dtype}, got {got.dtype}"
            return None if torch.equal(got.cpu(), expected) else "values differ"
        if not got.is_floating_point():
            return f"expected a floating-point tensor, got dtype {got.dtype}"
        close = torch.allclose(got.detach().cpu().to(expected.dtype), expected, RTOL, ATOL)
        return None if close else "values differ"
    if isinstance(expected, tuple) and isinstance(got, tuple) and len(got) == len(expected):
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            why = _difference(e, g)
            if why:
                return f"item {i} of the result: {why}"
        return None
    if isinstance(expected, dict) and isinstance(got, dict):
        return None if got == expected else "the dictionaries differ"
    if isinstance(expected, float):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"expected a float, got {type(got).__name__}"
        return None if math.isclose(got, expected, rel_tol=RTOL, abs_tol=1e-9) else "values differ"
    return None if got == expected and type(got) is type(expected) else "values differ"


def _is_stub(result: Any) -> bool:
    return result is None or result is Ellipsis


def _clone(args: tuple) -> tuple:
    """Fresh copies: a learner's function that changes its inputs cannot change the reference's."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else _copy(a) for a in args)


def _copy(a: Any) -> Any:
    if isinstance(a, list):
        return [_copy(v) for v in a]
    if isinstance(a, dict):
        return {k: _copy(v) for k, v in a.items()}
    return a


# ---------------------------------------------------------------------------
# Running a check
# ---------------------------------------------------------------------------


def evaluate(name: str, learner: Callable[..., Any]) -> Verdict:
    """Run exercise ``name`` on ``learner`` and return the verdict (nothing printed)."""
    if name not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise KeyError(f"no exercise called {name!r}; the exercises are: {known}")
    ex = EXERCISES[name]
    total = len(ex.cases)
    if not callable(learner):
        return Verdict(
            name, "error", 0, total,
            f"{name}: expected a function, got {_show(learner)}. Pass the function itself "
            f"(check({name!r}, my_function)), without calling it.",
        )  # fmt: skip
    for passed, case in enumerate(ex.cases):
        expected = ex.reference(*_clone(case.args))
        shown = ", ".join(_show(a) for a in case.args)
        try:
            got = learner(*_clone(case.args))
        except NotImplementedError:
            return _not_implemented(name, total)
        except Exception as e:  # the learner's code: report, never crash the notebook
            message = (
                f"{name}: {passed} of {total} checks passed.\n"
                f"✗ check {passed + 1} ({case.label}) raised {type(e).__name__}: {e}\n"
                f"  input:    {shown}\n"
                f"  Hint: {ex.hint}"
            )
            return Verdict(name, "error", passed, total, message)
        if _is_stub(got) and passed == 0:
            return _not_implemented(name, total)
        why = _difference(expected, got)
        if why:
            message = (
                f"{name}: {passed} of {total} checks passed.\n"
                f"✗ check {passed + 1} ({case.label}): {why}.\n"
                f"  input:    {shown}\n"
                f"  expected: {_show(expected)}\n"
                f"  got:      {_show(got)}\n"
                f"  Hint: {ex.hint}"
            )
            return Verdict(name, "failed", passed, total, message)
    labels = "; ".join(c.label for c in ex.cases)
    message = f"{name}: all {total} checks passed ✓ ({labels})"
    return Verdict(name, "passed", total, total, message)


def _not_implemented(name: str, total: int) -> Verdict:
    message = (
        f"{name}: not implemented yet. Replace `raise NotImplementedError` with your code "
        f"and run the cell again ({total} checks are waiting)."
    )
    return Verdict(name, "not_implemented", 0, total, message)


def check(name: str, learner: Callable[..., Any]) -> None:
    """Check the learner's answer to exercise ``name`` and print a friendly verdict."""
    print(evaluate(name, learner).message)


# ---------------------------------------------------------------------------
# The exercises. References come from the package (or are written here when the
# package has no function of that shape); inputs use fixed seeds.
# ---------------------------------------------------------------------------


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# 01 · word tokenizer ---------------------------------------------------------


def _build_vocab(words: list[str], special_tokens: list[str]) -> dict[str, int]:
    return WordTokenizer(words, special_tokens).token_to_id


def _encode_words(words: list[str], token_to_id: dict[str, int]) -> list[int]:
    tok = WordTokenizer([w for w in token_to_id if w != UNK], [UNK])
    return [tok.token_to_id.get(w, tok.token_to_id[UNK]) for w in words]


_VOCAB = {"the": 0, "moon": 1, "sings": 2, ".": 3, UNK: 4}


def _encode_documents(documents: list[str], token_to_id: dict[str, int]) -> list[int]:
    """The package's WordTokenizer on the documents joined by <|endoftext|>."""
    specials = [ENDOFTEXT, UNK]
    words = [t for t in sorted(token_to_id, key=token_to_id.get) if t not in specials]
    tok = WordTokenizer(words, specials)
    if tok.token_to_id != token_to_id:
        raise ValueError("the exercise's vocabulary must list the special tokens last")
    return tok.encode(ENDOFTEXT.join(documents), allowed_special={ENDOFTEXT})


_DOC_VOCAB = {"the": 0, "tide": 1, "went": 2, "out": 3, ".": 4, ENDOFTEXT: 5, UNK: 6}

# 02 · byte-pair encoding ----------------------------------------------------------


def _bpe_encode(ids: list[int], merges: dict[tuple[int, int], int]) -> list[int]:
    """Merge the earliest-learned pair present (lowest new id), everywhere; repeat until none."""
    ids = list(ids)
    while len(ids) >= 2:
        pairs = get_pair_counts(ids)
        pair = min(pairs, key=lambda p: merges.get(p, math.inf))
        if pair not in merges:
            break  # no adjacent pair was ever merged
        ids = merge_pair(ids, pair, merges[pair])
    return ids


def _bpe_decode(ids: list[int], merges: dict[tuple[int, int], int]) -> str:
    return BPETokenizer.from_merges(merges).decode(ids)


_MERGES_THE = {(104, 101): 256, (116, 256): 257, (32, 257): 258}  # "he", "the", " the"

# 03 · embeddings ---------------------------------------------------------------


def _sliding_windows(ids: list[int], context_length: int, stride: int) -> list[tuple[list, list]]:
    windows = SlidingWindowDataset(ids, context_length, stride)
    return [(x.tolist(), y.tolist()) for x, y in windows]


# 04-07 · attention -------------------------------------------------------------


def _softmax(scores: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores, dim=-1)


def _scaled_scores(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    return queries @ keys.transpose(-2, -1) / math.sqrt(keys.shape[-1])  # (T, T)


def _self_attention(
    x: torch.Tensor, W_query: torch.Tensor, W_key: torch.Tensor, W_value: torch.Tensor
) -> torch.Tensor:
    """The package's SelfAttention with these (d_in, d_out) matrices (nn.Linear keeps W.T)."""
    d_in, d_out = W_query.shape
    attention = SelfAttention(d_in, d_out)
    weights = {"W_query.weight": W_query.T, "W_key.weight": W_key.T, "W_value.weight": W_value.T}
    attention.load_state_dict(weights)
    with torch.no_grad():
        return attention(x)  # (T, d_out)


_HI_I_AM_GOOD = torch.tensor([[0.9, 0.1, 0.4], [0.1, 0.9, 0.2], [0.2, 0.8, 0.3], [0.8, 0.2, 0.7]])


def _causal_weights(scores: torch.Tensor) -> torch.Tensor:
    mask = causal_mask(scores.shape[-1])
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    B, T, d_out = x.shape
    return x.view(B, T, num_heads, d_out // num_heads).transpose(1, 2)  # (B, H, T, hd)


def _combine_heads(context: torch.Tensor) -> torch.Tensor:
    B, H, T, hd = context.shape
    return context.transpose(1, 2).reshape(B, T, H * hd)  # (B, T, d_out)


# 08 · layer normalization -------------------------------------------------------


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    norm = LayerNorm(x.shape[-1], eps=eps)
    norm.load_state_dict({"weight": weight, "bias": bias})
    with torch.no_grad():
        return norm(x)  # (..., d)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    norm = RMSNorm(x.shape[-1], eps=eps)
    norm.load_state_dict({"weight": weight})
    with torch.no_grad():
        return norm(x)  # (..., d)


_TOY_LOGITS = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0, -1.0, -2.0]  # notebook 09's, sorted

# 09 · transformer block and GPT -------------------------------------------------


def _top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    return _filter_logits(logits, top_k=None, top_p=top_p)  # (B, V)


def _block_forward(
    x: torch.Tensor, norm1: nn.Module, attn: nn.Module, norm2: nn.Module, ff: nn.Module
) -> torch.Tensor:
    """The pre-LN block of ``llm101_helpers.model.TransformerBlock`` (no dropout)."""
    with torch.no_grad():
        x = x + attn(norm1(x))  # (B, T, C): communicate
        return x + ff(norm2(x))  # (B, T, C): compute


def _block_parts(d_model: int, num_heads: int, seed: int) -> tuple[nn.Module, ...]:
    """norm1, attn, norm2, ff with random weights (the norms too, so mixing them up shows)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        norm1, norm2 = LayerNorm(d_model), LayerNorm(d_model)
        for norm in (norm1, norm2):
            nn.init.normal_(norm.weight, 1.0, 0.5)
            nn.init.normal_(norm.bias, 0.0, 0.5)
        attn = MultiHeadAttention(d_model, d_model, 16, 0.0, num_heads)
        ff = FeedForward(d_model)
    return tuple(m.eval() for m in (norm1, attn, norm2, ff))


# 10 · training ------------------------------------------------------------------


def _learning_rate(step: int, lr: float, min_lr: float, warmup_iters: int, max_iters: int):
    cfg = TrainConfig(max_iters=max_iters, lr=lr, min_lr=min_lr, warmup_iters=warmup_iters)
    return learning_rate(step, cfg)


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # (B * T, V), (B * T,)


_LR = (1.0, 0.1, 10, 110)  # lr, min_lr, warmup_iters, max_iters


# 11 · performance --------------------------------------------------------------


def _cached_mask(cached: int, new: int) -> torch.Tensor:
    return causal_mask(cached + new)[cached:]  # (new, cached + new): the bottom rows


def _decode_step(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, k_new: torch.Tensor,
    v_new: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    keys = torch.cat([k_cache, k_new], dim=2)  # (B, H, S + 1, hd)
    values = torch.cat([v_cache, v_new], dim=2)
    weights = torch.softmax(q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return weights @ values, keys, values  # (B, H, 1, hd), the grown cache


def _kv_cache_bytes(
    num_layers: int, batch_size: int, context_length: int, d_model: int, bytes_per_number: int
) -> int:
    return 2 * num_layers * batch_size * context_length * d_model * bytes_per_number


def _step_inputs(B: int, H: int, S: int, hd: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    q, k_new, v_new = (torch.randn(B, H, 1, hd, generator=g) for _ in range(3))
    k_cache, v_cache = (torch.randn(B, H, S, hd, generator=g) for _ in range(2))
    return q, k_cache, v_cache, k_new, v_new


EXERCISES: dict[str, Exercise] = {
    ex.name: ex
    for ex in [
        Exercise(
            "01.build_vocab",
            _build_vocab,
            [
                Case("three words, one special token", (["the", "moon", "sings"], [UNK])),
                Case("two special tokens", (["a", "b"], ["<|endoftext|>", UNK])),
                Case("no words yet", ([], [UNK])),
                Case("no special tokens", (["night"], [])),
            ],
            "words get ids 0, 1, 2, ... in order; the special tokens take the next ids after them.",
        ),
        Exercise(
            "01.encode_words",
            _encode_words,
            [
                Case("all words known", (["the", "moon", "sings", "."], _VOCAB)),
                Case("one unknown word", (["the", "sun", "sings"], _VOCAB)),
                Case("only unknown words", (["sun", "rain"], _VOCAB)),
                Case("empty list", ([], _VOCAB)),
                Case("case matters", (["The", "moon"], _VOCAB)),
            ],
            f"look each word up in token_to_id; a word that is not there becomes the id of {UNK!r} "
            "(exact spelling: 'The' is not 'the').",
        ),
        Exercise(
            "01.encode_documents",
            _encode_documents,
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
        ),
        Exercise(
            "02.bpe_encode",
            _bpe_encode,
            [
                Case("no merge applies", ([1, 2, 3], {(3, 1): 256})),
                Case("one merge, twice", ([1, 2, 3, 1, 2], {(1, 2): 256})),
                Case("the earlier merge first", ([1, 2, 3], {(2, 3): 256, (1, 2): 257})),
                Case("a merge of merges", ([1, 2, 3, 1, 2, 3], {(1, 2): 256, (256, 3): 257})),
                Case(
                    "aaabdaaabac",
                    (list(b"aaabdaaabac"), {(97, 97): 256, (97, 98): 257, (256, 257): 258}),
                ),
                Case("a run of one id", ([5, 5, 5, 5, 5], {(5, 5): 256, (256, 256): 257})),
                Case("one id", ([7], {(7, 7): 256})),
                Case("empty", ([], {(1, 2): 256})),
            ],
            "repeat: among the adjacent pairs that are in merges, take the one with the LOWEST new "
            "id (learned first, whatever its place in the text), replace all its occurrences left "
            "to right, and look again; stop when no adjacent pair is in merges.",
        ),
        Exercise(
            "02.bpe_decode",
            _bpe_decode,
            [
                Case("bytes only", (list(b"tide"), {})),
                Case("merged tokens", ([257, 258], _MERGES_THE)),
                Case("é as one merged token", ([99, 97, 102, 256], {(195, 169): 256})),
                Case("é split across two tokens", ([99, 97, 102, 195, 169], {})),
                Case("half a character", ([99, 195], {})),
                Case("empty", ([], _MERGES_THE)),
            ],
            "bytes of ids 0-255 are bytes([i]); a merged token's bytes are its two parts' bytes "
            "joined (build them in merge order). Join the bytes of ALL ids first, then decode once "
            "with .decode('utf-8', errors='replace').",
        ),
        Exercise(
            "03.sliding_windows",
            _sliding_windows,
            [
                Case("overlapping windows", (list(range(10)), 4, 3)),
                Case("exactly one window", ([5, 6, 7], 2, 1)),
                Case("stride = context_length", (list(range(9)), 2, 2)),
                Case("stride > context_length (skips ids)", (list(range(12)), 2, 5)),
            ],
            "window i starts at i * stride: input ids[s : s + context_length], target "
            "ids[s + 1 : s + context_length + 1]. A window needs context_length + 1 ids, so drop "
            "the last partial one.",
        ),
        Exercise(
            "03.sinusoidal_positions",
            sinusoidal_positions,
            [
                Case("one position", (1, 4)),
                Case("4 positions, d_model=2", (4, 2)),
                Case("6 positions, d_model=8", (6, 8)),
            ],
            "PE[pos, 2i] = sin(pos / 10000 ** (2i / d_model)), PE[pos, 2i + 1] = cos(same angle): "
            "sines in the even columns, cosines in the odd ones; return float32.",
        ),
        Exercise(
            "04.softmax",
            _softmax,
            [
                Case("one row", (torch.tensor([[1.0, 2.0, 3.0]]),)),
                Case("random 3x4", (_randn(3, 4, seed=4),)),
                Case(
                    "large scores (overflow without the max trick)",
                    (torch.tensor([[1000.0, 1001.0]]),),
                ),
                Case("one column", (torch.tensor([[0.5], [-2.0]]),)),
            ],
            "softmax over the LAST dimension (each row sums to 1); subtract the row's max "
            "before exp so large scores do not overflow to inf.",
        ),  # fmt: skip
        Exercise(
            "04.simple_attention",
            lambda x: simple_attention(x)[0],
            [
                Case("3 tokens, d=2", (torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),)),
                Case("random 4x3", (_randn(4, 3, seed=5),)),
                Case("a single token", (torch.tensor([[0.3, -0.7]]),)),
            ],
            "scores = x @ x.T, weights = softmax over each row (dim=-1), context = weights @ x.",
        ),
        Exercise(
            "05.scaled_scores",
            _scaled_scores,
            [
                Case("d_k=1", (torch.tensor([[1.0], [2.0]]), torch.tensor([[3.0], [-1.0]]))),
                Case("random, d_k=4", (_randn(3, 4, seed=6), _randn(3, 4, seed=7))),
                Case("random, d_k=16", (_randn(2, 16, seed=8), _randn(2, 16, seed=9))),
                Case("more keys than queries", (_randn(1, 9, seed=10), _randn(4, 9, seed=11))),
            ],
            "scores = queries @ keys.T divided by sqrt(d_k), where d_k = keys.shape[-1] "
            "(the square root, not d_k itself).",
        ),
        Exercise(
            "05.self_attention",
            _self_attention,
            [
                Case(
                    "one token: its own value",
                    (_randn(1, 3, seed=33), *(_randn(3, 2, seed=34 + i) for i in range(3))),
                ),
                Case(
                    "Hi I Am Good, d_out=2",
                    (_HI_I_AM_GOOD, *(_randn(3, 2, seed=37 + i) for i in range(3))),
                ),
                Case(
                    "d_in=3, d_out=8",
                    (_randn(3, 3, seed=40), *(_randn(3, 8, seed=41 + i) for i in range(3))),
                ),
                Case(
                    "d_in=4, d_out=16",
                    (_randn(5, 4, seed=44), *(_randn(4, 16, seed=45 + i) for i in range(3))),
                ),
            ],
            "queries = x @ W_query (likewise keys and values), weights = softmax(queries @ keys.T "
            "/ sqrt(d_k)) over each row (dim=-1), with d_k = d_out, the size of the keys (not "
            "d_in); return weights @ values, shape (T, d_out).",
        ),
        Exercise(
            "06.causal_mask",
            causal_mask,
            [
                Case("one token", (1,)),
                Case("three tokens", (3,)),
                Case("five tokens", (5,)),
            ],
            "True marks the future: entry (i, j) is True when j > i. torch.triu(..., diagonal=1) "
            "keeps the diagonal itself False (a token may look at itself); return a bool tensor.",
        ),
        Exercise(
            "06.causal_weights",
            _causal_weights,
            [
                Case("2x2 zeros", (torch.zeros(2, 2),)),
                Case("random 4x4", (_randn(4, 4, seed=12),)),
                Case("one token", (torch.tensor([[3.0]]),)),
            ],
            "fill the scores above the diagonal with -inf (not 0) BEFORE the softmax, then softmax "
            "each row; row i then spreads its weight over tokens 0..i only.",
        ),
        Exercise(
            "07.split_heads",
            _split_heads,
            [
                Case("1 head", (_randn(1, 2, 3, seed=13), 1)),
                Case("2 heads", (_randn(1, 3, 4, seed=14), 2)),
                Case("batch of 2, 3 heads", (_randn(2, 2, 6, seed=15), 3)),
            ],
            "view (B, T, d_out) as (B, T, num_heads, head_dim), THEN transpose(1, 2) to "
            "(B, num_heads, T, head_dim); viewing straight to that shape mixes up the tokens.",
        ),
        Exercise(
            "07.combine_heads",
            _combine_heads,
            [
                Case("1 head", (_randn(1, 1, 2, 3, seed=16),)),
                Case("2 heads", (_randn(1, 2, 3, 2, seed=17),)),
                Case("batch of 2, 3 heads", (_randn(2, 3, 2, 2, seed=18),)),
            ],
            "transpose(1, 2) back to (B, T, num_heads, head_dim), then reshape to "
            "(B, T, num_heads * head_dim): each token's heads side by side.",
        ),
        Exercise(
            "08.layer_norm",
            _layer_norm,
            [
                Case(
                    "one vector, scale 1, shift 0",
                    (
                        torch.tensor([2.0, -1.0, 0.5, 4.0, 3.5, -3.0]),
                        torch.ones(6),
                        torch.zeros(6),
                        1e-5,
                    ),
                ),
                Case(
                    "a (2, 3, 4) batch, random scale and shift",
                    (_randn(2, 3, 4, seed=19), _randn(4, seed=20), _randn(4, seed=21), 1e-5),
                ),
                Case(
                    "two features",
                    (torch.tensor([[1.0, 3.0], [-2.0, 0.0]]), torch.ones(2), torch.zeros(2), 1e-5),
                ),
                Case(
                    "a constant vector (variance 0)",
                    (
                        torch.full((4,), 3.0),
                        torch.ones(4),
                        torch.tensor([0.0, 1.0, 2.0, 3.0]),
                        1e-5,
                    ),
                ),
                Case(
                    "a large eps = 0.5",
                    (torch.tensor([0.0, 1.0]), torch.ones(2), torch.zeros(2), 0.5),
                ),
            ],
            "mean and variance over the LAST dimension (keepdim=True), the biased variance "
            "(divide by d: unbiased=False), then (x - mean) / sqrt(var + eps), times weight "
            "plus bias.",
        ),
        Exercise(
            "08.rms_norm",
            _rms_norm,
            [
                Case("x = (3, 4): the closed form", (torch.tensor([3.0, 4.0]), torch.ones(2), 0.0)),
                Case(
                    "a (2, 3, 5) batch, random scale",
                    (_randn(2, 3, 5, seed=22) + 1.0, _randn(5, seed=23), 1e-6),
                ),
                Case("all zeros", (torch.zeros(2, 3), torch.ones(3), 1e-6)),
                Case("a large eps = 1", (torch.tensor([1.0, -1.0]), torch.ones(2), 1.0)),
            ],
            "no mean is subtracted: divide x by sqrt(mean(x ** 2) + eps), the mean over the last "
            "dimension (keepdim=True), then multiply by weight.",
        ),
        Exercise(
            "09.top_p_filter",
            _top_p_filter,
            [
                Case("sorted logits, p = 0.9", (torch.tensor([_TOY_LOGITS]), 0.9)),
                Case(
                    "shuffled logits, p = 0.6",
                    (torch.tensor([[_TOY_LOGITS[i] for i in (5, 1, 7, 0, 3, 6, 2, 4)]]), 0.6),
                ),
                Case("a batch of 2 rows, p = 0.8", (_randn(2, 6, seed=24) * 2, 0.8)),
                Case("tiny p keeps only the top token", (torch.tensor([[0.5, 2.0, 1.0]]), 0.01)),
                Case("p = 1 keeps every token", (torch.tensor([[1.0, 0.0, -1.0, 2.0]]), 1.0)),
            ],
            "softmax the logits, sort the probabilities in DESCENDING order, and keep a token "
            "while the tokens before it add up to less than top_p (so the one that crosses top_p "
            "stays); set the others to float('-inf') at their original positions, row by row.",
        ),
        Exercise(
            "09.block_forward",
            _block_forward,
            [
                Case("one token", (_randn(1, 1, 8, seed=25), *_block_parts(8, 2, seed=26))),
                Case("3 tokens", (_randn(1, 3, 8, seed=27), *_block_parts(8, 2, seed=28))),
                Case("a batch of 2", (_randn(2, 4, 8, seed=29), *_block_parts(8, 4, seed=30))),
            ],
            "pre-LN: x = x + attn(norm1(x)), then x = x + ff(norm2(x)); each sub-layer reads a "
            "normalized copy, and its output is ADDED to the stream (the stream itself is not "
            "normalized).",
        ),
        Exercise(
            "10.learning_rate",
            _learning_rate,
            [
                Case("step 0, the first warmup step", (0, *_LR)),
                Case("step 4, warming up", (4, *_LR)),
                Case("step 9, the last warmup step", (9, *_LR)),
                Case("step 10, the decay starts", (10, *_LR)),
                Case("step 60, half way down", (60, *_LR)),
                Case("step 110 = max_iters", (110, *_LR)),
                Case("step 150, past max_iters", (150, *_LR)),
                Case("no warmup", (0, 1.0, 0.1, 0, 100)),
            ],
            "while step < warmup_iters: lr * (step + 1) / warmup_iters. Then progress = "
            "(step - warmup_iters) / (max_iters - warmup_iters), at most 1, and "
            "min_lr + 0.5 * (1 + cos(pi * progress)) * (lr - min_lr); return a float.",
        ),
        Exercise(
            "10.cross_entropy",
            _cross_entropy,
            [
                Case(
                    "equal logits: the loss is ln V",
                    (torch.zeros(1, 2, 4), torch.tensor([[0, 3]])),
                ),
                Case("random (1, 3, 5)", (_randn(1, 3, 5, seed=31), torch.tensor([[4, 0, 2]]))),
                Case(
                    "a batch of 2, random (2, 4, 6)",
                    (_randn(2, 4, 6, seed=32) * 2, torch.tensor([[0, 5, 1, 1], [3, 2, 4, 0]])),
                ),
                Case(
                    "large logits (exp overflows)",
                    (torch.tensor([[[1000.0, 0.0, -1000.0]]]), torch.tensor([[1]])),
                ),
            ],
            "flatten to (B * T, V) logits and (B * T,) targets; the loss is the MEAN over all "
            "positions of -log_softmax(logits)[target] (log_softmax, not log(softmax), stays "
            "finite for large logits); return a 0-dimensional tensor.",
        ),
        Exercise(
            "11.cached_mask",
            _cached_mask,
            [
                Case("no cache: the square mask", (0, 3)),
                Case("4 cached, 2 new", (4, 2)),
                Case("one new token", (5, 1)),
                Case("2 cached, 4 new", (2, 4)),
            ],
            "new query i sits at position cached + i and may see keys 0..cached + i: the mask is "
            "the BOTTOM `new` rows of the (cached + new) square causal mask, True above the "
            "shifted diagonal (is_causal's top-left alignment is the classic bug).",
        ),
        Exercise(
            "11.decode_step",
            _decode_step,
            [
                Case("empty cache", _step_inputs(1, 1, 0, 2, seed=41)),
                Case("3 cached tokens, 2 heads", _step_inputs(1, 2, 3, 4, seed=42)),
                Case("batch of 2, 3 heads, 5 cached", _step_inputs(2, 3, 5, 8, seed=43)),
            ],
            "append k_new and v_new to the caches along the positions (dim 2) FIRST, then one "
            "query attends over every stored key, its own included: softmax(q K^T / sqrt(hd)) V, "
            "no mask needed. Return (context, keys, values).",
        ),
        Exercise(
            "11.kv_cache_bytes",
            _kv_cache_bytes,
            [
                Case("GPT base, float32", (6, 1, 256, 384, 4)),
                Case("GPT-2 small, float32", (12, 1, 1024, 768, 4)),
                Case("GPT-2 small, bfloat16, batch 8", (12, 8, 1024, 768, 2)),
                Case("the smallest", (1, 1, 1, 1, 1)),
            ],
            "each layer stores keys AND values (2 tensors) of batch_size x context_length x "
            "d_model numbers (the heads split d_model, they do not add to it); return an int.",
        ),
    ]
}
