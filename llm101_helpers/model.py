"""The GPT model: the parts of notebooks 03-08 put together (notebook 09).

- :class:`GELU` and :class:`FeedForward`: ``Linear(C, 4C) -> GELU -> Linear(4C, C)``,
  applied to each position on its own.
- :class:`TransformerBlock` (pre-LN, as in GPT-2)::

      x = x + Dropout(Attention(LayerNorm(x)))     # communicate
      x = x + Dropout(FeedForward(LayerNorm(x)))   # compute

- :class:`GPT`::

      ids (B, T) -> TokenAndPositionEmbedding -> Dropout
                 -> num_layers blocks -> LayerNorm -> Linear(C, V) -> logits (B, T, V)

  :meth:`GPT.state_dict_keys` declares the parameter names that checkpoints,
  the optimizer's groups (:meth:`GPT.optimizer_groups`) and the notebooks rely on.

Text generation is in :mod:`llm101_helpers.generation`. Shapes follow nanoGPT's
names: ``B`` batch, ``T`` time, ``C`` channels (``d_model``), ``V`` vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.attention import KVCache, MultiHeadAttention
from llm101_helpers.embeddings import TokenAndPositionEmbedding
from llm101_helpers.normalization import LayerNorm

__all__ = [
    "GELU",
    "GPT",
    "PRESETS",
    "FeedForward",
    "GPTConfig",
    "TransformerBlock",
]


class GELU(nn.Module):
    """Gaussian error linear unit, ``x * Phi(x)``; equal to ``torch.nn.GELU(approximate)``.

    ``approximate="none"`` is the exact form, ``"tanh"`` GPT-2's approximation
    (they differ by less than 1e-3)::

        none:  0.5 * x * (1 + erf(x / sqrt(2)))
        tanh:  0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))

    Computed by PyTorch's fused ``F.gelu`` (one kernel forward and one backward
    instead of about eight); the tests check it against these formulas.
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate=self.approximate)

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
        """The config stored by :meth:`to_dict`; older field names are read too."""
        d = dict(d)
        for old, new in _RENAMED_FIELDS.items():
            if old in d:
                if new in d:
                    raise ValueError(f"GPTConfig: got both {old!r} (its old name) and {new!r}")
                d[new] = d.pop(old)
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"GPTConfig has no field(s) {sorted(unknown)}")
        return cls(**d)


#: Field names of older checkpoints' configs, and the names they have now.
_RENAMED_FIELDS = {"emb_dim": "d_model", "n_heads": "num_heads", "n_layers": "num_layers"}


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
    which are placed at the positions after the cached ones. Ids outside the
    vocabulary raise ``ValueError``; ``check_ids=False`` skips that check (for
    ids already checked: it costs a GPU synchronisation per call).
    Weights start as in GPT-2: normal with std 0.02, and the projections that
    write into the residual stream scaled by ``1 / sqrt(2 * num_layers)``.

    The parameter names are a contract (checkpoints, optimizer groups and the
    notebooks use them): :meth:`state_dict_keys` lists them, :data:`TIED_WEIGHTS`
    names the output head and the token table it shares with ``tie_weights``,
    and :meth:`load_state_dict` also reads the older names in :data:`RENAMED_KEYS`.
    """

    TOKEN_TABLE = "embedding.token_embedding.weight"
    POSITION_TABLE = "embedding.position_embedding.weight"
    OUT_HEAD = "out_head.weight"
    #: With ``tie_weights``: (the alias, the matrix it is). A checkpoint may store the second only.
    TIED_WEIGHTS = (OUT_HEAD, TOKEN_TABLE)
    #: Older parameter names, and the names they have now.
    RENAMED_KEYS = {"tok_emb.weight": TOKEN_TABLE, "pos_emb.weight": POSITION_TABLE}

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embedding = TokenAndPositionEmbedding(cfg.vocab_size, cfg.context_length, cfg.d_model)
        self.drop_emb = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.num_layers))
        self.final_norm = LayerNorm(cfg.d_model)
        self.out_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.out_head.weight = self.embedding.token_embedding.weight  # one matrix, two uses
        self.apply(self._init_weights)
        residual_std = 0.02 / math.sqrt(2 * cfg.num_layers)
        for block in self.blocks:
            nn.init.normal_(block.attn.out_proj.weight, std=residual_std)
            nn.init.normal_(block.ff.proj.weight, std=residual_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    # --- the names of the parameters ---------------------------------------------

    @classmethod
    def state_dict_keys(cls, cfg: GPTConfig) -> list[str]:
        """Every key of ``GPT(cfg).state_dict()``, in order (tied or not, the keys are the same)."""
        qkv_params = ("weight", "bias") if cfg.qkv_bias else ("weight",)
        block = [
            "norm1.weight", "norm1.bias",
            *(f"attn.{w}.{p}" for w in ("W_query", "W_key", "W_value") for p in qkv_params),
            "attn.out_proj.weight", "attn.out_proj.bias",
            "norm2.weight", "norm2.bias",
            "ff.fc.weight", "ff.fc.bias", "ff.proj.weight", "ff.proj.bias",
        ]  # fmt: skip
        blocks = [f"blocks.{i}.{name}" for i in range(cfg.num_layers) for name in block]
        return [cls.TOKEN_TABLE, cls.POSITION_TABLE, *blocks, "final_norm.weight",
                "final_norm.bias", cls.OUT_HEAD]  # fmt: skip

    def upgrade_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict:
        """``state_dict`` with the current names, and with a tied model's output head filled in.

        Renames the keys in :data:`RENAMED_KEYS`. With ``tie_weights`` a state
        holding only the token table gets ``out_head.weight`` (the same
        matrix); one holding two different matrices raises ``ValueError``.
        """
        new = {self.RENAMED_KEYS.get(k, k): v for k, v in state_dict.items()}
        if len(new) < len(state_dict):
            both = [f"{old!r} and {now!r}" for old, now in self.RENAMED_KEYS.items()
                    if old in state_dict and now in state_dict]  # fmt: skip
            raise ValueError(f"the state_dict holds a weight under its old and new name: {both}")
        alias, source = self.TIED_WEIGHTS
        if self.config.tie_weights and source in new:
            if alias not in new:
                new[alias] = new[source]
            elif new[alias] is not new[source] and not torch.equal(new[alias], new[source]):
                raise ValueError(
                    f"the model ties {alias} to {source} (tie_weights=True), but the "
                    "state_dict holds two different matrices for them: it comes from an "
                    "untied model"
                )
        return new

    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor], strict: bool = True,
                        assign: bool = False):  # fmt: skip
        """``nn.Module.load_state_dict`` after :meth:`upgrade_state_dict`."""
        return super().load_state_dict(self.upgrade_state_dict(state_dict), strict, assign)

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """AdamW parameter groups: decay the matrices that multiply, not the rest.

        ``[{"params": decayed, "weight_decay": weight_decay}, {"params": others,
        "weight_decay": 0.0}]``. Chosen by module: the weight of every
        ``nn.Linear`` and the token table decay; biases, norms and the position
        table do not. A tied matrix appears once; frozen parameters
        (``requires_grad=False``) are left out, and so is a group left empty.
        """
        chosen = {id(m.weight) for m in self.modules() if isinstance(m, nn.Linear)}
        chosen.add(id(self.embedding.token_embedding.weight))
        decay, no_decay = [], []
        for p in self.parameters():  # each tensor once, in registration order
            if p.requires_grad:
                (decay if id(p) in chosen else no_decay).append(p)
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return [g for g in groups if g["params"]]

    # --- running it --------------------------------------------------------------

    def new_kv_cache(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[KVCache]:
        """An empty :class:`KVCache` per layer, on the model's device and dtype by default."""
        cfg = self.config
        weight = self.embedding.token_embedding.weight
        return [
            KVCache(
                batch_size, cfg.num_heads, cfg.context_length, cfg.d_model // cfg.num_heads,
                device=weight.device if device is None else device,
                dtype=weight.dtype if dtype is None else dtype,
            )
            for _ in self.blocks
        ]  # fmt: skip

    def _cached_length(self, ids: torch.Tensor, kv_cache: list[KVCache] | None) -> int:
        """Check ``ids`` ``(B, T)`` against the context and the cache; return the cached length."""
        if ids.dim() != 2:
            raise ValueError(f"GPT expects token ids of shape (B, T), got {tuple(ids.shape)}")
        T, ctx = ids.shape[1], self.config.context_length
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
        return start

    def forward(
        self,
        ids: torch.Tensor,
        return_weights: bool = False,
        kv_cache: list[KVCache] | None = None,
        check_ids: bool = True,
    ):
        start = self._cached_length(ids, kv_cache)
        x = self.drop_emb(self._embed(ids, start, check_ids))  # (B, T, C)
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

    def _embed(self, ids: torch.Tensor, start: int, check_ids: bool) -> torch.Tensor:
        """Token plus position vectors ``(B, T, C)``; ``check_ids=False`` skips the id check.

        The check reads the ids' smallest and largest value, which on a GPU waits
        for the device; :func:`~llm101_helpers.training.train` checks its data
        once before training and then skips it at every step.
        """
        return self.embedding(ids, start=start, check_ids=check_ids)

    # --- counting ----------------------------------------------------------------

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of distinct parameters (a tied matrix counts once).

        ``exclude_embeddings=True`` leaves out the position embeddings and the
        token embeddings (unless they are tied to the output head, which uses
        them as real weights), the convention of the scaling-law papers.
        """
        n = sum(p.numel() for p in self.parameters())  # parameters() yields a tied tensor once
        if exclude_embeddings:
            n -= self.embedding.position_embedding.weight.numel()
            if not self.config.tie_weights:
                n -= self.embedding.token_embedding.weight.numel()
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

