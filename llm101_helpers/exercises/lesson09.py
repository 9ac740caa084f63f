"""Lesson 09 exercises: top-p filtering, a sequence's log-probability, a Llama's parameters."""

from __future__ import annotations

import torch
from torch import nn

from llm101_helpers.exercises.checker import Case, Exercise, randn, register
from llm101_helpers.generation import _filter_logits
from llm101_helpers.model import GPT, GPTConfig


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """The package's nucleus filter: (B, V) logits, -inf outside each row's nucleus."""
    return _filter_logits(logits, top_k=None, top_p=top_p)


_TOY_LOGITS = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0, -1.0, -2.0]  # the notebook's, sorted

register(Exercise(
    "09.top_p_filter",
    top_p_filter,
    [
        Case("sorted logits, p = 0.9", (torch.tensor([_TOY_LOGITS]), 0.9)),
        Case("shuffled logits, p = 0.6",
             (torch.tensor([[_TOY_LOGITS[i] for i in (5, 1, 7, 0, 3, 6, 2, 4)]]), 0.6)),
        Case("a batch of 2 rows, p = 0.8", (randn(2, 6, seed=901) * 2, 0.8)),
        Case("tiny p keeps only the top token", (torch.tensor([[0.5, 2.0, 1.0]]), 0.01)),
        Case("p = 1 keeps every token", (torch.tensor([[1.0, 0.0, -1.0, 2.0]]), 1.0)),
    ],
    "work in probabilities, most likely first: a token stays when the tokens ranked above it do "
    "not yet add up to top_p (so the one that crosses top_p stays, and the top token always "
    "does). Decide per row in sorted order, then put each decision back at the token's ORIGINAL "
    "position before setting the others to -inf.",
))  # fmt: skip


def sequence_log_prob(model: GPT, ids: torch.Tensor) -> torch.Tensor:
    """(B,) log-probability the model gives to each row of ids after its first token."""
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids), dim=-1)  # (B, T, V)
    nexts = ids[:, 1:].unsqueeze(-1)  # (B, T - 1, 1): the token that followed each position
    picked = log_probs[:, :-1].gather(-1, nexts).squeeze(-1)  # (B, T - 1)
    return picked.sum(dim=-1)  # (B,)


def _tiny_gpt(seed: int) -> GPT:
    """A small GPT with confident random logits, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=12, context_length=8, d_model=16, num_heads=2,
                              num_layers=1))  # fmt: skip
        nn.init.normal_(model.out_head.weight, std=0.5)  # spread out the next-token guesses
    return model.eval()


def _ids(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows)


register(Exercise(
    "09.sequence_log_prob",
    sequence_log_prob,
    [
        Case("two tokens", (_tiny_gpt(911), _ids([[3, 7]]))),
        Case("one sequence of 5 tokens", (_tiny_gpt(911), _ids([[1, 5, 5, 0, 11]]))),
        Case("a batch of 2", (_tiny_gpt(912), _ids([[2, 4, 6, 8], [9, 9, 1, 0]]))),
        Case("a full context of 8", (_tiny_gpt(913), _ids([[0, 1, 2, 3, 4, 5, 6, 7]]))),
        Case("one token: nothing to predict", (_tiny_gpt(914), _ids([[4], [10]]))),
    ],
    "the logits at position t are the model's guess for the token at position t + 1. So each "
    "position except the last scores the token that really came next, and the first token is "
    "never scored (nothing came before it). Turn the logits into log-probabilities over the "
    "vocabulary, pick the right entry at each position, and ADD them up per sequence: the "
    "log of a product of probabilities is the sum of their logs.",
))  # fmt: skip


def llama_parameters(
    vocab_size: int, d_model: int, num_layers: int, num_heads: int, num_kv_heads: int,
    hidden: int,
) -> int:  # fmt: skip
    """Parameters of a Llama-style model (no biases, RMSNorm, SwiGLU, grouped KV, untied head)."""
    C, head_dim = d_model, d_model // num_heads
    kv_width = num_kv_heads * head_dim  # keys and values are narrower than the queries
    attention = C * C + 2 * C * kv_width + C * C  # W_q, W_k and W_v, W_o
    feed_forward = 3 * C * hidden  # gate and up (C -> hidden), down (hidden -> C)
    block = attention + feed_forward + 2 * C  # two RMSNorms, a scale each
    embeddings, final_norm, head = vocab_size * C, C, C * vocab_size
    return embeddings + num_layers * block + final_norm + head


register(Exercise(
    "09.llama_parameters",
    llama_parameters,
    [
        Case("a toy: V=10, C=8, 1 layer, 2 heads, 1 kv head, hidden 16", (10, 8, 1, 2, 1, 16)),
        Case("Llama 2 7B: 32 heads, 32 kv heads", (32000, 4096, 32, 32, 32, 11008)),
        Case("TinyLlama 1.1B: 32 heads, 4 kv heads", (32000, 2048, 22, 32, 4, 5632)),
        Case("Llama 2 70B: 64 heads, 8 kv heads", (32000, 8192, 80, 64, 8, 28672)),
        Case("multi-query: 1 kv head", (1000, 64, 2, 4, 1, 128)),
    ],
    "go through the model part by part: a token table (no position table: Llama rotates the "
    "queries and keys instead, which has no parameters); per block, the four attention matrices, "
    "where keys and values are only num_kv_heads * head_dim wide; a feed-forward network of "
    "THREE matrices (gate, up, down); two norms that have a scale and no shift; then a final norm "
    "and an output head that is not tied. No layer has a bias.",
))  # fmt: skip
