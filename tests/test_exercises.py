"""The self-checking exercises: references pass, stubs are "not implemented yet",
and plausible wrong answers are caught with the failing input shown."""

from __future__ import annotations

import math
import re

import pytest
import regex
import torch
import torch.nn.functional as F

from llm101_helpers.data import load_poems
from llm101_helpers.exercises import EXERCISES, check, evaluate
from llm101_helpers.model import GPTConfig, TransformerBlock
from llm101_helpers.tokenizers import (
    ENDOFTEXT as EOT,
)
from llm101_helpers.tokenizers import (
    GPT2_SPLIT_PATTERN,
    UNK,
    WORD_SPLIT_PATTERN,
    BPETokenizer,
    merge_pair,
)

# Plausible mistakes a learner makes, per exercise (at least two each).
WRONG = {
    "01.build_vocab": {
        "specials first": lambda words, specials: {t: i for i, t in enumerate([*specials, *words])},
        "ids from 1": lambda words, specials: {t: i + 1 for i, t in enumerate([*words, *specials])},
        "specials forgotten": lambda words, specials: {t: i for i, t in enumerate(words)},
    },
    "01.encode_words": {
        "unknown words dropped": lambda words, vocab: [vocab[w] for w in words if w in vocab],
        "unknown as 0": lambda words, vocab: [vocab.get(w, 0) for w in words],
        "lower-cased": lambda words, vocab: [vocab.get(w.lower(), vocab[UNK]) for w in words],
        "no unk handling": lambda words, vocab: [vocab[w] for w in words],
    },
    "01.encode_documents": {
        "a separator after every document": lambda docs, vocab: [
            i for d in docs for i in [*_words(d, vocab), vocab[EOT]]
        ],
        "no separator": lambda docs, vocab: [i for d in docs for i in _words(d, vocab)],
        "separator split by the regex": lambda docs, vocab: _words(EOT.join(docs), vocab),
        "unknown words dropped": lambda docs, vocab: _words(
            EOT.join(docs), vocab, unknown=False, special=True
        ),
    },
    "02.bpe_encode": {
        "merges in text order": lambda ids, merges: _encode_leftmost(ids, merges),
        "latest merge first": lambda ids, merges: _encode(ids, merges, pick=max),
        "one round of merging": lambda ids, merges: _encode(ids, merges, rounds=1),
        "one left-to-right scan": lambda ids, merges: _encode_one_scan(ids, merges),
    },
    "02.bpe_decode": {
        "each token decoded on its own": lambda ids, merges: "".join(
            _vocab(merges)[i].decode("utf-8", errors="replace") for i in ids
        ),
        "strict UTF-8": lambda ids, merges: b"".join(_vocab(merges)[i] for i in ids).decode(),
        "bytes as Latin-1 characters": lambda ids, merges: b"".join(
            _vocab(merges)[i] for i in ids
        ).decode("latin-1"),
        "merges one level deep": lambda ids, merges: b"".join(
            bytes([i]) if i < 256 else bytes(_pair_of(merges, i)) for i in ids
        ).decode("utf-8", errors="replace"),
    },
    "03.sliding_windows": {
        "target not shifted": lambda ids, n, s: [
            (ids[i : i + n], ids[i : i + n]) for i in range(0, len(ids) - n, s)
        ],
        "keeps the partial window": lambda ids, n, s: [
            (ids[i : i + n], ids[i + 1 : i + n + 1]) for i in range(0, len(ids), s)
        ],
        "off-by-one: one window short": lambda ids, n, s: [
            (ids[i : i + n], ids[i + 1 : i + n + 1]) for i in range(0, len(ids) - n - 1, s)
        ],
    },
    "03.sinusoidal_positions": {
        "sin and cos swapped": lambda t, d: _sinusoid(t, d, swap=True),
        "i instead of 2i": lambda t, d: _sinusoid(t, d, two=1),
        "halves, not interleaved": lambda t, d: _sinusoid(t, d)[
            :, list(range(0, d, 2)) + list(range(1, d, 2))
        ],
    },
    "04.softmax": {
        "no max trick": lambda s: s.exp() / s.exp().sum(-1, keepdim=True),
        "wrong dimension": lambda s: torch.softmax(s, dim=0),
        "normalised by the max": lambda s: (s - s.max(-1, keepdim=True).values).exp(),
    },
    "04.simple_attention": {
        "returns the weights": lambda x: torch.softmax(x @ x.T, dim=-1),
        "softmax over columns": lambda x: torch.softmax(x @ x.T, dim=0) @ x,
        "no softmax": lambda x: (x @ x.T) @ x,
    },
    "05.scaled_scores": {
        "forgot 1/sqrt(d_k)": lambda q, k: q @ k.T,
        "divided by d_k": lambda q, k: q @ k.T / k.shape[-1],
        "keys times queries": lambda q, k: k @ q.T / math.sqrt(k.shape[-1]),
    },
    "05.self_attention": {
        "forgot 1/sqrt(d_k)": lambda x, wq, wk, wv: _attend(x, wq, wk, wv, scale=1.0),
        "divided by d_k": lambda x, wq, wk, wv: _attend(x, wq, wk, wv, scale=wk.shape[1]),
        "sqrt(d_in), not sqrt(d_out)": lambda x, wq, wk, wv: _attend(
            x, wq, wk, wv, scale=math.sqrt(wk.shape[0])
        ),
        "softmax over dim 0": lambda x, wq, wk, wv: _attend(x, wq, wk, wv, dim=0),
        "returns the weights": lambda x, wq, wk, wv: torch.softmax(
            (x @ wq) @ (x @ wk).T / math.sqrt(wk.shape[1]), -1
        ),
    },
    "06.causal_mask": {
        "diagonal masked too": lambda t: torch.triu(torch.ones(t, t, dtype=torch.bool)),
        "past masked (tril)": lambda t: torch.tril(torch.ones(t, t, dtype=torch.bool), -1),
        "float mask": lambda t: torch.triu(torch.ones(t, t), 1),
    },
    "06.causal_weights": {
        "masked with 0": lambda s: torch.softmax(s.masked_fill(_future(s), 0.0), -1),
        "masked after softmax": lambda s: torch.softmax(s, -1).masked_fill(_future(s), 0.0),
        "diagonal masked too": lambda s: torch.softmax(
            s.masked_fill(torch.triu(torch.ones_like(s, dtype=torch.bool)), -1e9), -1
        ),
    },
    "07.split_heads": {
        "view without transpose": lambda x, h: x.view(x.shape[0], h, x.shape[1], -1),
        "no transpose": lambda x, h: x.view(x.shape[0], x.shape[1], h, -1),
        "heads from the wrong end": lambda x, h: x.view(x.shape[0], x.shape[1], -1, h).permute(
            0, 3, 1, 2
        ),
    },
    "07.combine_heads": {
        "reshape without transpose": lambda c: c.reshape(c.shape[0], c.shape[2], -1),
        "heads summed": lambda c: c.sum(1),
        "heads averaged, repeated": lambda c: c.mean(1).repeat(1, 1, c.shape[1]),
    },
    "08.layer_norm": {
        "sample variance (unbiased)": lambda x, w, b, eps: _ln(x, w, b, eps, unbiased=True),
        "eps outside the sqrt": lambda x, w, b, eps: (
            (x - x.mean(-1, keepdim=True))
            / (x.var(-1, keepdim=True, unbiased=False).sqrt() + eps)
            * w
            + b
        ),
        "normalised over the wrong dim": lambda x, w, b, eps: _ln(x, w, b, eps, dim=0),
        "scale and shift swapped": lambda x, w, b, eps: _ln(x, b, w, eps),
    },
    "08.rms_norm": {
        "mean subtracted": lambda x, w, eps: _rms(x - x.mean(-1, keepdim=True), w, eps),
        "eps forgotten": lambda x, w, eps: _rms(x, w, 0.0),
        "mean of |x|": lambda x, w, eps: x / (x.abs().mean(-1, keepdim=True) + eps) * w,
        "eps outside the sqrt": lambda x, w, eps: (
            x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w
        ),
    },
    "09.top_p_filter": {
        "drops the token that crosses p": lambda z, p: _top_p(z, p, keep_crossing=False),
        "sorted ascending": lambda z, p: _top_p(z, p, descending=False),
        "logits, not probabilities": lambda z, p: _top_p(z, p, probs=False),
        "mask left in sorted order": lambda z, p: _top_p(z, p, unsort=False),
    },
    "09.block_forward": {
        "post-LN": lambda x, n1, a, n2, f: n2(n1(x + a(x)) + f(n1(x + a(x)))),
        "no residual": lambda x, n1, a, n2, f: f(n2(a(n1(x)))),
        "parallel sub-layers": lambda x, n1, a, n2, f: x + a(n1(x)) + f(n2(x)),
        "one norm for both": lambda x, n1, a, n2, f: _pre_ln(x, n1, a, n1, f),
    },
    "10.learning_rate": {
        "warmup off by one (step / warmup)": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, plus=0),
        "warmup boundary <=": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, boundary=1),
        "decays to 0, not min_lr": lambda s, lr, lo, w, m: _lr(s, lr, 0.0, w, m),
        "no clamp past max_iters": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, clamp=False),
        "progress from step 0": lambda s, lr, lo, w, m: _lr(s, lr, lo, w, m, from_warmup=False),
    },
    "10.cross_entropy": {
        "no log-softmax": lambda z, t: -z.gather(-1, t[..., None]).mean(),
        "log of softmax": lambda z, t: -torch.softmax(z, -1).log().gather(-1, t[..., None]).mean(),
        "sum, not mean": lambda z, t: F.cross_entropy(
            z.flatten(0, 1), t.flatten(), reduction="sum"
        ),
        "softmax over the tokens (dim 1)": lambda z, t: (
            -torch.log_softmax(z, 1).gather(-1, t[..., None]).mean()
        ),
    },
    "11.cached_mask": {
        "top-left aligned (is_causal)": lambda c, n: torch.ones(n, c + n, dtype=torch.bool).triu(1),
        "diagonal masked too": lambda c, n: torch.ones(c + n, c + n, dtype=torch.bool).triu(0)[c:],
        "the top rows": lambda c, n: torch.ones(c + n, c + n, dtype=torch.bool).triu(1)[:n],
        "allowed instead of future": lambda c, n: (
            ~torch.ones(c + n, c + n, dtype=torch.bool).triu(1)[c:]
        ),
    },
    "11.decode_step": {
        "new token left out of the keys": lambda q, kc, vc, kn, vn: _step(
            q, kc, vc, kn, vn, own=False
        ),
        "no 1/sqrt(hd)": lambda q, kc, vc, kn, vn: _step(q, kc, vc, kn, vn, scale=1.0),
        "is_causal with one query": lambda q, kc, vc, kn, vn: _step(q, kc, vc, kn, vn, causal=True),
        "cache not returned grown": lambda q, kc, vc, kn, vn: (_step(q, kc, vc, kn, vn)[0], kc, vc),
    },
    "11.kv_cache_bytes": {
        "keys only": lambda L, B, T, C, b: L * B * T * C * b,
        "per head, not per layer": lambda L, B, T, C, b: 2 * L * B * T * (C // 12 or 1) * b,
        "layers forgotten": lambda L, B, T, C, b: 2 * B * T * C * b,
        "returns MiB": lambda L, B, T, C, b: 2 * L * B * T * C * b / 2**20,
    },
}


def _step(q, k_cache, v_cache, k_new, v_new, own=True, scale=None, causal=False):
    keys = torch.cat([k_cache, k_new], dim=2) if own else k_cache
    values = torch.cat([v_cache, v_new], dim=2) if own else v_cache
    if causal:
        out = F.scaled_dot_product_attention(q, keys, values, is_causal=True)
    else:
        scale = q.shape[-1] ** -0.5 if scale is None else scale
        out = torch.softmax(q @ keys.transpose(-2, -1) * scale, dim=-1) @ values
    return out, torch.cat([k_cache, k_new], dim=2), torch.cat([v_cache, v_new], dim=2)


def _ln(x, w, b, eps, unbiased=False, dim=-1):
    mean = x.mean(dim, keepdim=True)
    var = x.var(dim, keepdim=True, unbiased=unbiased)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def _rms(x, w, eps):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _top_p(logits, p, keep_crossing=True, descending=True, probs=True, unsort=True):
    """Nucleus filtering written out, with a chosen mistake."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=descending)
    values = torch.softmax(sorted_logits, dim=-1) if probs else sorted_logits
    cumulative = values.cumsum(-1)
    drop = (cumulative - values >= p) if keep_crossing else (cumulative > p)
    if unsort:
        drop = drop.scatter(-1, order, drop)
    return logits.masked_fill(drop, float("-inf"))


def _pre_ln(x, norm1, attn, norm2, ff):
    x = x + attn(norm1(x))
    return x + ff(norm2(x))


def _lr(step, lr, min_lr, warmup, max_iters, plus=1, boundary=0, clamp=True, from_warmup=True):
    """Warmup + cosine written from the formula, with a chosen mistake."""
    if step < warmup + boundary:
        return lr * (step + plus) / warmup
    start = warmup if from_warmup else 0
    progress = (step - start) / (max_iters - start)
    progress = min(progress, 1.0) if clamp else progress
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


def _sinusoid(t: int, d: int, swap: bool = False, two: int = 2) -> torch.Tensor:
    """Sine/cosine positions written out with a loop, with a chosen mistake."""
    pe = torch.zeros(t, d)
    for pos in range(t):
        for i in range(d // 2):
            angle = pos / 10_000 ** (two * i / d)
            first, second = (math.cos, math.sin) if swap else (math.sin, math.cos)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = first(angle), second(angle)
    return pe


def _attend(x, wq, wk, wv, scale=None, dim=-1):
    """Scaled dot-product self-attention written out, with a chosen mistake."""
    queries, keys, values = x @ wq, x @ wk, x @ wv
    scale = math.sqrt(keys.shape[-1]) if scale is None else scale
    return torch.softmax(queries @ keys.T / scale, dim=dim) @ values


def _future(s: torch.Tensor) -> torch.Tensor:
    return torch.triu(torch.ones_like(s, dtype=torch.bool), 1)


def _words(text, vocab, unknown=True, special=False):
    """Word ids of text by the notebook's regex (optionally <|endoftext|> first), with mistakes."""
    pattern = rf"{re.escape(EOT)}|{WORD_SPLIT_PATTERN}" if special else WORD_SPLIT_PATTERN
    words = re.findall(pattern, text)
    if unknown:
        return [vocab.get(w, vocab[UNK]) for w in words]
    return [vocab[w] for w in words if w in vocab]


def _encode_documents(docs, vocab):
    """Written out: each document's words, the separator between documents."""
    ids = []
    for k, doc in enumerate(docs):
        ids += ([vocab[EOT]] if k else []) + _words(doc, vocab)
    return ids


def _encode(ids, merges, pick=min, rounds=None):
    """BPE encoding by merges, written out, with a chosen mistake."""
    ids, done = list(ids), 0
    while len(ids) >= 2 and (rounds is None or done < rounds):
        present = [p for p in zip(ids, ids[1:], strict=False) if p in merges]
        if not present:
            break
        pair = pick(present, key=merges.get)
        ids = merge_pair(ids, pair, merges[pair])
        done += 1
    return ids


def _encode_leftmost(ids, merges):
    """Wrong: always merges the leftmost pair that is in merges, whatever its rank."""
    ids = list(ids)
    while True:
        at = next((i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) in merges), None)
        if at is None:
            return ids
        ids[at : at + 2] = [merges[(ids[at], ids[at + 1])]]


def _encode_one_scan(ids, merges):
    """Wrong: one pass left to right, merging any known pair as it is met."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) in merges:
            out.append(merges[(ids[i], ids[i + 1])])
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _vocab(merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new] = vocab[a] + vocab[b]
    return vocab


def _pair_of(merges, new):
    return next(pair for pair, i in merges.items() if i == new)


def _decode(ids, merges):
    return b"".join(_vocab(merges)[i] for i in ids).decode("utf-8", errors="replace")


def test_every_exercise_has_wrong_answers():
    assert set(WRONG) == set(EXERCISES)
    assert all(len(w) >= 2 for w in WRONG.values())


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes(name):
    """The references, and for 03's positions also a loop written from the formula."""
    verdict = evaluate(name, EXERCISES[name].reference)
    assert verdict.ok, verdict.message
    assert verdict.passed == verdict.total >= 3
    assert "all" in verdict.message and "passed" in verdict.message


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_stubs_are_not_implemented(name):
    def raises(*args):
        raise NotImplementedError

    def returns_none(*args):
        pass

    def returns_ellipsis(*args):
        return ...

    for stub in (raises, returns_none, returns_ellipsis):
        verdict = evaluate(name, stub)
        assert verdict.status == "not_implemented", verdict.message
        assert verdict.message == evaluate(name, raises).message  # stable text
        assert "not implemented yet" in verdict.message


@pytest.mark.parametrize(
    "name, mistake", [(n, m) for n in sorted(WRONG) for m in WRONG[n]], ids=lambda x: str(x)
)
def test_wrong_answers_are_caught(name, mistake):
    verdict = evaluate(name, WRONG[name][mistake])
    assert verdict.status in ("failed", "error"), f"{mistake!r} passed: {verdict.message}"
    assert verdict.passed < verdict.total
    assert "input:" in verdict.message
    assert "Hint:" in verdict.message
    if verdict.status == "failed":
        assert "expected:" in verdict.message and "got:" in verdict.message
    # the failing input is the first that differs: the checks before it passed
    label = EXERCISES[name].cases[verdict.passed].label
    assert f"check {verdict.passed + 1} ({label})" in verdict.message


def test_sinusoid_written_out_passes():
    assert evaluate("03.sinusoidal_positions", _sinusoid).ok


def test_answers_written_from_the_formulas_pass():
    """Independent of the package: the formulas written out, without their mistakes."""
    assert evaluate("01.encode_documents", _encode_documents).ok
    assert evaluate("02.bpe_encode", _encode).ok
    assert evaluate("02.bpe_decode", _decode).ok
    assert evaluate("05.self_attention", _attend).ok
    assert evaluate("08.layer_norm", _ln).ok
    assert evaluate("08.rms_norm", _rms).ok
    assert evaluate("09.top_p_filter", _top_p).ok
    assert evaluate("09.block_forward", _pre_ln).ok
    assert evaluate("10.learning_rate", _lr).ok
    assert evaluate(
        "10.cross_entropy", lambda z, t: -torch.log_softmax(z, -1).gather(-1, t[..., None]).mean()
    ).ok


def test_bpe_references_agree_with_the_tokenizer():
    """With merges learned from the poems, the references give BPETokenizer's ids and text."""
    text = load_poems()[:20_000]
    tok = BPETokenizer.train(text, 320)
    encode, decode = (EXERCISES[f"02.bpe_{n}"].reference for n in ("encode", "decode"))
    for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
        assert encode(list(chunk.encode("utf-8")), tok.merges) == tok.encode_ordinary(chunk)
    ids = tok.encode_ordinary(text)
    assert decode(ids, tok.merges) == text
    assert decode(ids[:7] + [0xE2], tok.merges) == tok.decode(ids[:7] + [0xE2])  # half a character


def test_block_forward_is_the_package_block():
    """The reference equals TransformerBlock's forward with the same sub-modules."""
    cfg = GPTConfig(vocab_size=8, context_length=16, d_model=8, num_heads=2, num_layers=1)
    torch.manual_seed(0)
    block = TransformerBlock(cfg).eval()
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        expected = block(x)
    got = EXERCISES["09.block_forward"].reference(x, block.norm1, block.attn, block.norm2, block.ff)
    torch.testing.assert_close(got, expected)


def test_floats_compare_with_a_tolerance():
    assert evaluate("10.learning_rate", lambda *a: _lr(*a) * (1 + 1e-9)).ok
    verdict = evaluate("10.learning_rate", lambda *a: torch.tensor(_lr(*a)))
    assert verdict.status == "failed" and "expected a float, got Tensor" in verdict.message


def test_small_scalars_are_shown_not_rounded_to_zero():
    verdict = evaluate("08.layer_norm", WRONG["08.layer_norm"]["sample variance (unbiased)"])
    assert verdict.message.splitlines()[2].endswith(", 1e-05")  # eps, not 0.0


def test_failure_shows_expected_against_got():
    verdict = evaluate("05.scaled_scores", lambda q, k: q @ k.T)
    lines = verdict.message.splitlines()
    assert lines[0] == "05.scaled_scores: 1 of 4 checks passed."
    assert "random, d_k=4" in lines[1]
    assert lines[3].startswith("  expected: tensor of shape (3, 3), float32: [[")
    assert lines[4].startswith("  got:      tensor of shape (3, 3), float32: [[")
    assert "sqrt(d_k)" in lines[5]


def test_exceptions_are_reported_not_raised():
    verdict = evaluate("01.encode_words", lambda words, vocab: [vocab[w] for w in words])
    assert verdict.status == "error"
    assert "raised KeyError: 'sun'" in verdict.message
    assert "one unknown word" in verdict.message


def test_wrong_shape_and_non_callable():
    verdict = evaluate("06.causal_mask", lambda t: torch.zeros(t, t + 1, dtype=torch.bool))
    assert "expected shape (1, 1), got shape (1, 2)" in verdict.message
    verdict = evaluate("06.causal_mask", 3)
    assert verdict.status == "error" and "without calling it" in verdict.message
    with pytest.raises(KeyError, match="no exercise called '99.nothing'"):
        evaluate("99.nothing", print)


def test_learner_cannot_change_the_reference_inputs():
    def mutates(scores):
        scores.fill_(0.0)
        return torch.softmax(scores, dim=-1)

    verdict = evaluate("04.softmax", mutates)
    assert verdict.status == "failed"
    assert evaluate("04.softmax", EXERCISES["04.softmax"].reference).ok


def test_output_is_deterministic_and_has_no_addresses(capsys):
    for name in EXERCISES:
        for answer in [EXERCISES[name].reference, *WRONG[name].values()]:
            check(name, answer)
    first = capsys.readouterr().out
    for name in EXERCISES:
        for answer in [EXERCISES[name].reference, *WRONG[name].values()]:
            check(name, answer)
    assert capsys.readouterr().out == first
    assert " at 0x" not in first and "<function" not in first


def test_reference_code_is_never_shown(capsys):
    for name in EXERCISES:
        check(name, WRONG[name][next(iter(WRONG[name]))])
    out = capsys.readouterr().out
    assert "def " not in out and "lambda" not in out and "_scaled_scores" not in out


def test_decode_step_reference_is_the_package_cache():
    """11.decode_step's reference agrees with MultiHeadAttention fed through a KVCache."""
    from llm101_helpers.attention import KVCache, MultiHeadAttention

    torch.manual_seed(11)
    mha = MultiHeadAttention(8, 8, 6, num_heads=2).eval()
    x = torch.randn(1, 4, 8)
    cache = KVCache(1, 2, 6, 4)
    with torch.no_grad():
        mha(x[:, :3], kv_cache=cache)
        k_cache, v_cache = cache.keys[:, :, :3].clone(), cache.values[:, :, :3].clone()
        q, k_new, v_new = mha._project_qkv(x[:, 3:])
        context, keys, values = EXERCISES["11.decode_step"].reference(
            q, k_cache, v_cache, k_new, v_new
        )
        expected = mha(x[:, 3:], kv_cache=cache)
    got = mha.out_proj(context.transpose(1, 2).reshape(1, 1, 8))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(keys, cache.keys[:, :, :4])
