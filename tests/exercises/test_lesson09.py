"""Lesson 09's exercises: plausible mistakes are caught; answers written another way pass."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.exercises import EXERCISES
from tests.exercises.common import assert_caught, assert_passes, wrong_answer_cases


def _top_p(logits, p, keep_crossing=True, descending=True, probs=True, unsort=True):
    """Nucleus filtering written out, with a chosen mistake."""
    sorted_logits, order = torch.sort(logits, dim=-1, descending=descending)
    values = torch.softmax(sorted_logits, dim=-1) if probs else sorted_logits
    cumulative = values.cumsum(-1)
    drop = (cumulative - values >= p) if keep_crossing else (cumulative > p)
    if unsort:
        drop = drop.scatter(-1, order, drop)
    return logits.masked_fill(drop, float("-inf"))


def _logprob(model, ids, shift=1, reduce="sum", dim=-1, prob=False):
    """Summed log-probabilities via cross_entropy, with a chosen mistake."""
    with torch.no_grad():
        logits = model(ids)  # (B, T, V)
    B, T, V = logits.shape
    if dim != -1:
        logp = torch.log_softmax(logits, dim=dim)
        return logp[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1).sum(-1)
    scored = logits[:, : T - shift] if shift else logits
    targets = ids[:, shift:]
    nll = F.cross_entropy(scored.reshape(-1, V), targets.reshape(-1), reduction="none")
    logp = -nll.view(B, -1)
    if reduce == "mean":
        return logp.mean(-1)
    total = logp.sum(-1)
    return total.exp() if prob else total


def _llama(V, C, L, H, G, hidden, kv_heads=None, mlp=3, tied=False, norms=2, bias=False):
    """Parameters counted by building the model's layers on the meta device, with mistakes."""
    hd = C // H
    kv = (kv_heads or G) * hd
    with torch.device("meta"):
        block = nn.ModuleList([
            nn.Linear(C, C, bias=bias), nn.Linear(C, kv, bias=bias), nn.Linear(C, kv, bias=bias),
            nn.Linear(C, C, bias=bias), *[nn.Linear(C, hidden, bias=False) for _ in range(mlp - 1)],
            nn.Linear(hidden, C, bias=False), *[nn.RMSNorm(C) for _ in range(norms)],
        ])  # fmt: skip
    per_block = sum(p.numel() for p in block.parameters())
    return V * C + L * per_block + C + (0 if tied else V * C)


WRONG = {
    "09.top_p_filter": {
        "drops the token that crosses p": lambda z, p: _top_p(z, p, keep_crossing=False),
        "sorted ascending": lambda z, p: _top_p(z, p, descending=False),
        "logits, not probabilities": lambda z, p: _top_p(z, p, probs=False),
        "mask left in sorted order": lambda z, p: _top_p(z, p, unsort=False),
    },
    "09.sequence_log_prob": {
        "no shift: position t scores token t": lambda m, ids: _logprob(m, ids, shift=0),
        "mean, not sum": lambda m, ids: _logprob(m, ids, reduce="mean"),
        "the probability, not its log": lambda m, ids: _logprob(m, ids, prob=True),
        "softmax over the positions": lambda m, ids: _logprob(m, ids, dim=1),
    },
    "09.llama_parameters": {
        "keys and values as wide as the queries": lambda V, C, L, H, G, h: _llama(
            V, C, L, H, G, h, kv_heads=H
        ),
        "a GPT-style feed-forward (2 matrices)": lambda V, C, L, H, G, h: _llama(
            V, C, L, H, G, h, mlp=2
        ),
        "output head tied": lambda V, C, L, H, G, h: _llama(V, C, L, H, G, h, tied=True),
        "norms forgotten": lambda V, C, L, H, G, h: _llama(V, C, L, H, G, h, norms=0),
        "biases counted": lambda V, C, L, H, G, h: _llama(V, C, L, H, G, h, bias=True),
    },
}


@pytest.mark.parametrize("name, mistake", wrong_answer_cases(WRONG))
def test_wrong_answers_are_caught(name, mistake):
    assert_caught(name, WRONG[name][mistake])


def test_answers_written_another_way_pass():
    assert_passes("09.top_p_filter", lambda z, p: _top_p(z, p))
    assert_passes("09.sequence_log_prob", lambda m, ids: _logprob(m, ids))
    assert_passes("09.llama_parameters", lambda V, C, L, H, G, h: _llama(V, C, L, H, G, h))


def test_published_parameter_counts():
    """The model cards' totals: Llama 2 7B and 70B, TinyLlama 1.1B."""
    ref = EXERCISES["09.llama_parameters"].reference
    assert ref(32000, 4096, 32, 32, 32, 11008) == 6_738_415_616
    assert ref(32000, 8192, 80, 64, 8, 28672) == 68_976_648_192
    assert ref(32000, 2048, 22, 32, 4, 5632) == 1_100_048_384


def test_log_prob_is_the_chain_rule_of_next_token_predictions():
    """Token by token on growing prefixes (each a separate forward pass) gives the same sum."""
    ref = EXERCISES["09.sequence_log_prob"].reference
    model, ids = EXERCISES["09.sequence_log_prob"].cases[2].args
    total = torch.zeros(ids.shape[0])
    with torch.no_grad():
        for t in range(1, ids.shape[1]):
            last = model(ids[:, :t])[:, -1]  # (B, V): the guess for token t
            total += torch.log_softmax(last, dim=-1).gather(-1, ids[:, t : t + 1]).squeeze(-1)
    torch.testing.assert_close(ref(model, ids), total)
