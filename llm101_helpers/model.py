"""The GPT model: blocks put together, and text generation (notebook 09).

Everything before this module is a part; here the parts become a model.

GELU and the feed-forward network
---------------------------------
After attention has let every position gather information from the others,
a small two-layer network processes each position on its own:
``Linear(C, 4C) -> GELU -> Linear(4C, C)``. GELU is a smooth ReLU:

    GELU(x) = x * Phi(x)                      # Phi: the standard normal CDF
            = 0.5 * x * (1 + erf(x / sqrt(2)))                      (exact)
           ~= 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))  (tanh form, GPT-2's)

The transformer block (pre-LN, as in GPT-2)
-------------------------------------------
    x = x + Dropout(Attention(LayerNorm(x)))     # communicate
    x = x + Dropout(FeedForward(LayerNorm(x)))   # compute

The ``x + ...`` are residual (shortcut) connections: the gradient reaches
early layers through the additions unchanged, so deep stacks still train.

The GPT
-------
    ids (B, T) -> token embedding + position embedding -> Dropout
               -> N transformer blocks -> LayerNorm -> Linear(C, V) -> logits (B, T, V)

With ``tie_weights`` the output layer reuses the token embedding matrix (as
GPT-2 does), which saves ``V * C`` parameters.

Generation
----------
:func:`generate` appends one token at a time: run the model on the last
``context_length`` tokens, take the logits of the last position, and pick the
next token greedily (argmax) or by sampling from ``softmax(logits / T)``,
optionally restricted to the ``top_k`` most likely tokens or to the smallest
set whose probability reaches ``top_p`` (nucleus sampling).

With ``use_cache=True`` (the default) generation keeps each layer's keys and
values in a :class:`~llm101_helpers.attention.KVCache`: the prompt is run once
(the *prefill*), then every step feeds only the newest token. The tokens are
the same as without the cache (tested token for token); the work per step is
one position instead of the whole window. Once the sequence is longer than
``context_length`` the window slides, every token's position changes, and the
cache is rebuilt at each step: learned absolute positions cannot be shifted.

Shapes follow nanoGPT's names: ``B`` batch, ``T`` time, ``C`` channels
(``d_model``), ``V`` vocabulary size, ``H`` heads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn

from llm101_helpers.attention import KVCache, MultiHeadAttention
from llm101_helpers.normalization import LayerNorm

__all__ = [
    "GELU",
    "GPT",
    "PRESETS",
    "FeedForward",
    "GPTConfig",
    "TransformerBlock",
    "generate",
]


class GELU(nn.Module):
    """Gaussian error linear unit, ``x * Phi(x)``; equal to ``torch.nn.GELU(approximate)``.

    ``approximate="none"`` uses the exact ``erf`` form, ``"tanh"`` GPT-2's
    tanh approximation (they differ by less than 1e-3).
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.approximate == "tanh":
            inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))
            return 0.5 * x * (1.0 + torch.tanh(inner))
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class FeedForward(nn.Module):
    """Position-wise MLP: ``Linear(C, hidden) -> GELU -> Linear(hidden, C) -> Dropout``.

    ``hidden`` defaults to ``4 * C`` as in GPT-2.
    """

    def __init__(
        self,
        d_model: int,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        approximate: str = "tanh",
    ) -> None:
        super().__init__()
        hidden_dim = 4 * d_model if hidden_dim is None else hidden_dim
        self.fc = nn.Linear(d_model, hidden_dim, bias=bias)  # expand
        self.gelu = GELU(approximate)
        self.proj = nn.Linear(hidden_dim, d_model, bias=bias)  # back to the residual stream
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(self.gelu(self.fc(x))))  # (B, T, C)


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a GPT. Compare two with ``==``; ``asdict`` stores one in a checkpoint.

    Use :meth:`preset` for the named shapes in :data:`PRESETS`.
    """

    vocab_size: int = 512
    context_length: int = 64
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 4
    dropout: float = 0.0
    qkv_bias: bool = False
    tie_weights: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "d_model", "num_heads", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.d_model % self.num_heads:
            raise ValueError(
                f"GPTConfig: d_model ({self.d_model}) must be divisible by num_heads "
                f"({self.num_heads}); each head gets d_model // num_heads features"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> GPTConfig:
        """A named shape from :data:`PRESETS`, with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown GPTConfig preset {name!r}; choose one of {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"GPTConfig has no field(s) {sorted(unknown)}")
        return cls(**d)


#: Named shapes. ``tiny`` runs in seconds on a CPU; ``small`` is nanoGPT's CPU
#: configuration for character-level Shakespeare; ``base`` is nanoGPT's GPU one;
#: ``gpt2-small`` is GPT-2 small's shape (124M parameters), to count, not to train here.
PRESETS: dict[str, GPTConfig] = {
    "tiny": GPTConfig(vocab_size=512, context_length=32, d_model=32, num_heads=2, num_layers=2),
    "small": GPTConfig(vocab_size=512, context_length=64, d_model=128, num_heads=4, num_layers=4),
    "base": GPTConfig(
        vocab_size=512, context_length=256, d_model=384, num_heads=6, num_layers=6, dropout=0.2
    ),
    "gpt2-small": GPTConfig(
        vocab_size=50257,
        context_length=1024,
        d_model=768,
        num_heads=12,
        num_layers=12,
        dropout=0.1,
        qkv_bias=True,
        tie_weights=True,
    ),
}


class TransformerBlock(nn.Module):
    """Pre-LN transformer block: ``x + attn(norm1(x))``, then ``x + ff(norm2(x))``.

    ``forward(x, return_weights=True)`` also returns the attention weights
    ``(B, H, T, S)``; with ``kv_cache`` the attention also sees the cached
    positions (``S = cached + T``).
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.norm1 = LayerNorm(cfg.d_model)
        self.attn = MultiHeadAttention(
            d_in=cfg.d_model,
            d_out=cfg.d_model,
            context_length=cfg.context_length,
            dropout=cfg.dropout,
            num_heads=cfg.num_heads,
            qkv_bias=cfg.qkv_bias,
        )
        self.norm2 = LayerNorm(cfg.d_model)
        self.ff = FeedForward(cfg.d_model, dropout=cfg.dropout)
        self.drop_shortcut = nn.Dropout(cfg.dropout)

    def forward(
        self, x: torch.Tensor, return_weights: bool = False, kv_cache: KVCache | None = None
    ):
        weights = None
        if return_weights:
            a, weights = self.attn(self.norm1(x), return_weights=True, kv_cache=kv_cache)
        else:
            a = self.attn(self.norm1(x), kv_cache=kv_cache)
        x = x + self.drop_shortcut(a)  # (B, T, C): communicate
        x = x + self.ff(self.norm2(x))  # (B, T, C): compute (ff ends with its own dropout)
        return (x, weights) if return_weights else x


class GPT(nn.Module):
    """A GPT: embeddings, ``num_layers`` transformer blocks, final LayerNorm, output head.

    ``model(ids)`` maps ids ``(B, T)`` with ``T <= context_length`` to logits
    ``(B, T, V)``; ``model(ids, return_weights=True)`` returns
    ``(logits, weights)`` with one ``(B, H, T, T)`` tensor per layer.
    ``model(ids, kv_cache=model.new_kv_cache(B))`` stores every layer's keys
    and values; the next call with the same cache takes only the new tokens,
    which are placed at the positions after the cached ones.
    Weights start as in GPT-2: normal with std 0.02, and the projections that
    write into the residual stream scaled by ``1 / sqrt(2 * num_layers)``.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.d_model)
        self.drop_emb = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.num_layers))
        self.final_norm = LayerNorm(cfg.d_model)
        self.out_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.out_head.weight = self.tok_emb.weight  # one matrix, two uses
        self.apply(self._init_weights)
        residual_std = 0.02 / math.sqrt(2 * cfg.num_layers)
        for block in self.blocks:
            nn.init.normal_(block.attn.out_proj.weight, std=residual_std)
            nn.init.normal_(block.ff.proj.weight, std=residual_std)
        self.register_buffer("positions", torch.arange(cfg.context_length), persistent=False)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def new_kv_cache(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[KVCache]:
        """An empty :class:`KVCache` per layer, on the model's device and dtype by default."""
        cfg = self.config
        weight = self.tok_emb.weight
        return [
            KVCache(
                batch_size, cfg.num_heads, cfg.context_length, cfg.d_model // cfg.num_heads,
                device=weight.device if device is None else device,
                dtype=weight.dtype if dtype is None else dtype,
            )
            for _ in self.blocks
        ]  # fmt: skip

    def forward(
        self,
        ids: torch.Tensor,
        return_weights: bool = False,
        kv_cache: list[KVCache] | None = None,
    ):
        if ids.dim() != 2:
            raise ValueError(f"GPT expects token ids of shape (B, T), got {tuple(ids.shape)}")
        B, T = ids.shape
        ctx = self.config.context_length
        if kv_cache is not None and len(kv_cache) != len(self.blocks):
            raise ValueError(
                f"kv_cache has {len(kv_cache)} layers but the model has {len(self.blocks)}; "
                "make one with model.new_kv_cache(batch_size)"
            )
        start = 0 if kv_cache is None else kv_cache[0].length  # positions already cached
        if start + T > ctx and start:
            raise ValueError(
                f"{start} tokens are cached and {T} more were given, {start + T} in all, "
                f"more than the model's context_length {ctx}; start a new cache "
                f"(model.new_kv_cache) and feed it the last {ctx} tokens"
            )
        if T > ctx:
            raise ValueError(
                f"the input has {T} tokens but the model's context_length is "
                f"{ctx}; crop it to the last {ctx} tokens"
            )
        pos = self.pos_emb(self.positions[start : start + T])  # (T, C)
        x = self.drop_emb(self.tok_emb(ids) + pos)  # (B, T, C)
        all_weights = []
        for i, block in enumerate(self.blocks):
            cache = None if kv_cache is None else kv_cache[i]
            if return_weights:
                x, w = block(x, return_weights=True, kv_cache=cache)  # w: (B, H, T, S)
                all_weights.append(w)
            else:
                x = block(x, kv_cache=cache)
        logits = self.out_head(self.final_norm(x))  # (B, T, V)
        return (logits, all_weights) if return_weights else logits

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of distinct parameters (a tied matrix counts once).

        ``exclude_embeddings=True`` leaves out the position embeddings and the
        token embeddings (unless they are tied to the output head, which uses
        them as real weights), the convention of the scaling-law papers.
        """
        n = sum(p.numel() for p in self.parameters())  # parameters() yields a tied tensor once
        if exclude_embeddings:
            n -= self.pos_emb.weight.numel()
            if not self.config.tie_weights:
                n -= self.tok_emb.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token (forward + backward), as in the PaLM paper's appendix.

        ``6 * N`` for the matrix multiplications with the ``N`` non-embedding
        weights and the output head, plus ``6 * L * T * C`` for attention's
        scores and weighted sums (``T`` = ``seq_len``, default the context).
        """
        cfg = self.config
        T = cfg.context_length if seq_len is None else seq_len
        n = self.num_parameters(exclude_embeddings=True)
        if not cfg.tie_weights:  # tied, the head's matrix is already in n
            n += self.out_head.weight.numel()
        return 6 * n + 6 * cfg.num_layers * T * cfg.d_model


def _check_sampling(vocab_size: int, temperature: float, top_k: int | None, top_p: float | None):
    number = isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
    if not (number and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(
            f"temperature must be a positive number, got {temperature!r}; "
            "for the single most likely token use greedy=True"
        )
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

    ``greedy=True`` always takes the most likely token; otherwise the next
    token is sampled from ``softmax(logits / temperature)`` restricted to the
    ``top_k`` most likely tokens and/or the nucleus of probability ``top_p``.
    With ``crop=True`` the model sees only the last ``context_length`` tokens;
    with ``crop=False`` a sequence that would exceed the context raises
    ``ValueError``. ``seed`` makes sampling reproducible without touching the
    global random state. Generation stops early once every row has produced
    ``eos_id``. ``use_cache=True`` keeps the keys and values of the tokens
    already seen (a KV cache) and gives the same tokens as ``use_cache=False``,
    faster. The model is put in eval mode and restored afterwards.
    """
    cfg = model.config
    _check_sampling(cfg.vocab_size, temperature, top_k, top_p)
    n = max_new_tokens
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}")
    one_d = ids.dim() == 1
    idx = ids.unsqueeze(0) if one_d else ids  # (B, T)
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise ValueError(f"the prompt must be (T,) or (B, T) with T >= 1, got {tuple(ids.shape)}")
    if not crop and idx.shape[1] + max_new_tokens > cfg.context_length:
        raise ValueError(
            f"the prompt has {idx.shape[1]} tokens and {max_new_tokens} new ones were asked "
            f"for, {idx.shape[1] + max_new_tokens} in all, more than the context_length "
            f"{cfg.context_length}, and crop=False; pass crop=True to keep only the last "
            f"{cfg.context_length} tokens, or shorten the prompt"
        )
    device = next(model.parameters()).device
    idx = idx.to(device)
    generator = None
    if seed is not None and not greedy:
        generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    finished = torch.zeros(idx.shape[0], dtype=torch.bool, device=device)
    cache = model.new_kv_cache(idx.shape[0]) if use_cache and max_new_tokens else None
    try:
        for _ in range(max_new_tokens):
            logits = _last_logits(model, idx, cache).float()  # (B, V)
            if greedy:
                next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = _filter_logits(logits / temperature, top_k, top_p)
                probs = torch.softmax(logits, dim=-1)
                next_id = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            if eos_id is not None:
                next_id = next_id.masked_fill(finished.unsqueeze(1), eos_id)
                finished |= next_id.squeeze(1) == eos_id
            idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
            if eos_id is not None and bool(finished.all()):
                break
    finally:
        model.train(was_training)
    return idx[0] if one_d else idx
