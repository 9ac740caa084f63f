"""Text generation with a GPT (notebooks 09-11).

:func:`generate` appends one token at a time: run the model on the last
``context_length`` tokens, take the logits of the last position, and pick the
next token greedily (argmax) or by sampling from ``softmax(logits / T)``,
optionally restricted to the ``top_k`` most likely tokens or to the smallest
set whose probability reaches ``top_p`` (nucleus sampling).

With ``use_cache=True`` (the default) each layer's keys and values are kept in
a :class:`~llm101_helpers.attention.KVCache`: the prompt is run once (the
*prefill*), then every step feeds only the newest token, with the same tokens
as without the cache. Once the sequence is longer than ``context_length`` the
window slides, every position changes, and the cache is rebuilt at each step.

:func:`write_text` is the string-in, string-out version used by notebook 10.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from llm101_helpers.embeddings import check_token_ids

if TYPE_CHECKING:  # only for type hints: a GPT is passed in, never built here
    from llm101_helpers.attention import KVCache
    from llm101_helpers.model import GPT

__all__ = ["generate", "write_text"]

#: The smallest temperature sampling accepts: below float32's smallest normal
#: number, ``logits / temperature`` cannot be computed.
MIN_TEMPERATURE = torch.finfo(torch.float32).tiny


def _check_temperature(temperature: float, greedy: bool) -> None:
    if greedy:
        return  # greedy decoding does not use the temperature
    number = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not (number and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(
            f"temperature must be a positive number, got {temperature!r}; "
            "for the single most likely token use greedy=True"
        )
    if temperature < MIN_TEMPERATURE:
        raise ValueError(
            f"temperature={temperature!r} is below {MIN_TEMPERATURE:.3g}, the smallest normal "
            "float32, so logits / temperature cannot be computed; use greedy=True for the "
            "single most likely token"
        )


def _check_sampling(vocab_size: int, top_k: int | None, top_p: float | None) -> None:
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
        if top_k > vocab_size:
            raise ValueError(
                f"top_k={top_k} is larger than the vocabulary ({vocab_size} tokens); "
                f"use at most {vocab_size}, or None for no limit"
            )
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def _check_prompt(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The prompt as ``(B, T)``; raises ``TypeError``/``ValueError`` for anything else."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(
            f"the prompt must be a tensor of token ids, (T,) or (B, T), got a "
            f"{type(ids).__name__}; wrap it, e.g. torch.tensor([1, 2])"
        )
    idx = ids.unsqueeze(0) if ids.dim() == 1 else ids  # (B, T)
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise ValueError(f"the prompt must be (T,) or (B, T) with T >= 1, got {tuple(ids.shape)}")
    check_token_ids(idx, vocab_size)
    return idx


def _check_fits(prompt_length: int, max_new_tokens: int, context_length: int) -> None:
    """With ``crop=False`` the prompt and the new tokens must fit in the context."""
    total = prompt_length + max_new_tokens
    if total > context_length:
        raise ValueError(
            f"the prompt has {prompt_length} tokens and {max_new_tokens} new ones were asked "
            f"for, {total} in all, more than the context_length {context_length}, and "
            f"crop=False; pass crop=True to keep only the last {context_length} tokens, or "
            "shorten the prompt"
        )


def _filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Set every logit outside the top-k / nucleus to -inf. ``logits``: ``(B, V)``."""
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token when the tokens before it already reach top_p (the first always stays)
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _scale(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` ``(B, V)``, shifted by the row maximum where it would overflow.

    Softmax does not change when a row is shifted; shifting first keeps every
    value <= 0, so a tiny temperature gives (nearly) one-hot probabilities
    instead of ``inf - inf = nan``. Rows that do not overflow are left as they were.
    """
    scaled = logits / temperature
    shifted = (logits - logits.amax(dim=-1, keepdim=True)) / temperature
    return torch.where(torch.isinf(scaled).any(dim=-1, keepdim=True), shifted, scaled)


def _last_logits(model: GPT, idx: torch.Tensor, cache: list[KVCache] | None) -> torch.Tensor:
    """Logits ``(B, V)`` for the token after ``idx`` ``(B, T)``, seen through the last window."""
    ctx = model.config.context_length
    if cache is None:
        return model(idx[:, -ctx:])[:, -1, :]
    seen = cache[0].length
    if seen and idx.shape[1] <= ctx:
        new = idx[:, seen:]  # (B, 1) after the prefill: only the newest token
    else:  # the first step (prefill), or the window has slid and every position changed
        for layer in cache:
            layer.reset()
        new = idx[:, -ctx:]
    return model(new, kv_cache=cache)[:, -1, :]


def _next_token(
    logits: torch.Tensor,
    greedy: bool,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The next token ``(B, 1)`` chosen from float logits ``(B, V)``."""
    if greedy:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    logits = _filter_logits(_scale(logits, temperature), top_k, top_p)
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator)  # (B, 1)


@torch.no_grad()
def generate(
    model: GPT,
    ids: torch.Tensor,
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    crop: bool = True,
    seed: int | None = None,
    eos_id: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Append ``max_new_tokens`` tokens to ``ids`` (``(T,)`` or ``(B, T)``) and return them all.

    ``ids`` is a tensor of token ids (a list raises ``TypeError``: wrap it in
    ``torch.tensor``). ``greedy=True`` always takes the most likely token (the
    temperature is then ignored); otherwise the next token is sampled from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely
    tokens and/or the nucleus of probability ``top_p``. With ``crop=True`` the
    model sees only the last ``context_length`` tokens; with ``crop=False`` a
    sequence that would exceed the context raises ``ValueError``. ``seed`` makes
    sampling reproducible without touching the global random state. Generation
    stops early once every row has produced ``eos_id``. ``use_cache=True``
    keeps the keys and values of the tokens already seen (a KV cache) and gives
    the same tokens as ``use_cache=False``, faster. The model is put in eval
    mode and restored afterwards.
    """
    cfg = model.config
    _check_temperature(temperature, greedy)
    _check_sampling(cfg.vocab_size, top_k, top_p)
    n = max_new_tokens
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    idx = _check_prompt(ids, cfg.vocab_size)  # (B, T)
    if not crop:
        _check_fits(idx.shape[1], n, cfg.context_length)
    device = next(model.parameters()).device
    idx = idx.to(device)
    generator = None
    if seed is not None and not greedy:
        generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=device)
    cache = model.new_kv_cache(idx.shape[0]) if use_cache and n else None
    try:
        for _ in range(n):
            logits = _last_logits(model, idx, cache).float()  # (B, V)
            next_id = _next_token(logits, greedy, temperature, top_k, top_p, generator)
            if eos_id is not None:
                next_id = next_id.masked_fill(finished.unsqueeze(1), eos_id)
                finished |= next_id.squeeze(1) == eos_id
            idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
            if eos_id is not None and bool(finished.all()):
                break
    finally:
        model.train(was_training)
    return idx[0] if ids.dim() == 1 else idx


def write_text(
    model: GPT,
    tokenizer,
    prompt: str,
    temperature: float = 0.8,
    top_k: int = 40,
    length: int = 80,
    seed: int = 0,
) -> str:
    """Sample ``length`` tokens after ``prompt`` and return the whole text, decoded.

    ``top_k=0`` means no limit, and a ``top_k`` larger than the model's
    vocabulary is lowered to it (the default 40 also works for a 30-token
    model); an empty prompt starts from a newline. ``seed`` makes the sample
    reproducible (see :func:`generate`).
    """
    ids = torch.tensor(tokenizer.encode(prompt or "\n"))
    k = min(top_k, model.config.vocab_size) if top_k else None
    out = generate(model, ids, length, temperature=temperature, top_k=k, seed=seed)
    return tokenizer.decode(out.tolist())
