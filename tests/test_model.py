"""Tests for llm101_helpers.model.

References are independent of the code under test: ``torch.nn.GELU``, a
functional re-implementation of the pre-LN block with ``torch.nn.functional``
(``layer_norm``, ``scaled_dot_product_attention``), GPT-2 small's published
parameter count, and properties that any correct GPT has (causality, greedy
equals argmax, top-k never leaves the k most likely tokens).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.embeddings import TokenAndPositionEmbedding
from llm101_helpers.model import (
    GELU,
    GPT,
    PRESETS,
    FeedForward,
    GPTConfig,
    TransformerBlock,
)

TINY = GPTConfig(vocab_size=50, context_length=16, d_model=32, num_heads=4, num_layers=2)


def _model(cfg: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(cfg).eval()


# --- GELU and FeedForward -------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch_forward_and_backward(approximate):
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64, requires_grad=True)
    ours = GELU(approximate)(x)
    ours.sum().backward()
    grad_ours = x.grad.clone()
    x.grad = None
    ref = nn.GELU(approximate=approximate)(x)
    ref.sum().backward()
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(grad_ours, x.grad)


def test_gelu_forms_differ_a_little_and_unknown_form_raises():
    x = torch.linspace(-4, 4, 401)
    diff = (GELU("none")(x) - GELU("tanh")(x)).abs().max().item()
    assert 0 < diff < 1e-3
    with pytest.raises(ValueError, match="approximate"):
        GELU("sigmoid")


def test_feedforward_is_linear_gelu_linear():
    torch.manual_seed(0)
    ff = FeedForward(8, dropout=0.0)
    assert ff.fc.out_features == 32 and ff.proj.in_features == 32
    x = torch.randn(2, 3, 8)
    h = F.gelu(x @ ff.fc.weight.T + ff.fc.bias, approximate="tanh")
    torch.testing.assert_close(ff(x), h @ ff.proj.weight.T + ff.proj.bias)


# --- The transformer block ------------------------------------------------------


def _reference_block(block: TransformerBlock, x: torch.Tensor) -> torch.Tensor:
    """Pre-LN block written with torch.nn.functional only, reading the block's weights."""
    a = block.attn
    B, T, C = x.shape
    H = a.num_heads
    h = F.layer_norm(x, (C,), block.norm1.weight, block.norm1.bias, eps=block.norm1.eps)

    def heads(w: nn.Linear) -> torch.Tensor:
        return F.linear(h, w.weight, w.bias).view(B, T, H, C // H).transpose(1, 2)

    ctx = F.scaled_dot_product_attention(
        heads(a.W_query), heads(a.W_key), heads(a.W_value), is_causal=True
    )
    ctx = F.linear(ctx.transpose(1, 2).reshape(B, T, C), a.out_proj.weight, a.out_proj.bias)
    x = x + ctx
    h = F.layer_norm(x, (C,), block.norm2.weight, block.norm2.bias, eps=block.norm2.eps)
    ff = block.ff
    h = F.linear(F.gelu(F.linear(h, ff.fc.weight, ff.fc.bias), approximate="tanh"), ff.proj.weight)
    return x + h + ff.proj.bias


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_block_matches_functional_reference(qkv_bias):
    cfg = GPTConfig(vocab_size=10, context_length=8, d_model=16, num_heads=4, qkv_bias=qkv_bias)
    torch.manual_seed(1)
    block = TransformerBlock(cfg).eval()
    with torch.no_grad():  # non-trivial norm parameters so a mix-up would show
        for norm in (block.norm1, block.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(3, 7, 16)
    torch.testing.assert_close(block(x), _reference_block(block, x))
    out, w = block(x, return_weights=True)
    torch.testing.assert_close(out, block(x))
    assert w.shape == (3, 4, 7, 7)


# --- The GPT --------------------------------------------------------------------


def test_gpt_shapes_and_weights_per_layer():
    model = _model()
    ids = torch.randint(0, 50, (2, 11))
    logits = model(ids)
    assert logits.shape == (2, 11, 50)
    logits2, weights = model(ids, return_weights=True)
    torch.testing.assert_close(logits2, logits)
    assert len(weights) == TINY.num_layers
    for w in weights:
        assert w.shape == (2, 4, 11, 11)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 11))
        assert torch.all(w.triu(1) == 0)  # no weight on the future


def test_gpt_is_causal():
    model = _model()
    ids = torch.randint(0, 50, (1, 12))
    changed = ids.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 50
    torch.testing.assert_close(model(ids)[:, :8], model(changed)[:, :8])
    assert not torch.allclose(model(ids)[:, 8:], model(changed)[:, 8:])


def test_gpt_rejects_too_long_input_and_wrong_rank():
    model = _model()
    with pytest.raises(ValueError, match=r"17 tokens.*context_length is 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(5, dtype=torch.long))


def test_gpt2_small_parameter_count_is_the_published_one():
    cfg = GPTConfig.preset("gpt2-small")
    with torch.device("meta"):  # count without allocating 0.5 GB
        tied = GPT(cfg)
        untied = GPT(GPTConfig.preset("gpt2-small", tie_weights=False))
    assert tied.num_parameters() == 124_439_808  # GPT-2 small ("124M")
    assert untied.num_parameters() == 124_439_808 + 50257 * 768
    assert tied.out_head.weight is tied.embedding.token_embedding.weight
    # without embeddings: the 85M of the transformer blocks plus the final norm
    assert tied.num_parameters(exclude_embeddings=True) == 124_439_808 - 1024 * 768


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match=r"d_model \(30\).*num_heads \(4\)"):
        GPTConfig(d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="vocab_size"):
        GPTConfig(vocab_size=0)
    with pytest.raises(ValueError, match="unknown GPTConfig preset 'huge'"):
        GPTConfig.preset("huge")
    assert set(PRESETS) >= {"tiny", "small", "base", "gpt2-small"}
    cfg = GPTConfig.preset("tiny", vocab_size=65)
    assert cfg.vocab_size == 65 and GPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="no field"):
        GPTConfig.from_dict({**cfg.to_dict(), "n_embd": 3})


# --- Built from the course's parts; the names of the parameters -----------------

CHECKPOINT = Path(__file__).resolve().parents[1] / "notebooks" / "checkpoints" / "poet_finetuned.pt"


def test_gpt_embeds_with_token_and_position_embedding_then_dropout():
    model = _model()
    assert type(model.embedding) is TokenAndPositionEmbedding
    ids = torch.randint(0, 50, (2, 7))
    seen = []
    model.drop_emb.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    model(ids)
    tok, pos = model.embedding.token_embedding.weight, model.embedding.position_embedding.weight
    torch.testing.assert_close(seen[0], tok[ids] + pos[:7])  # the dropout gets tok + pos


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_state_dict_keys_are_the_declared_ones(tie, qkv_bias):
    cfg = GPTConfig(vocab_size=11, context_length=4, d_model=8, num_heads=2, num_layers=3,
                    qkv_bias=qkv_bias, tie_weights=tie)  # fmt: skip
    assert list(GPT(cfg).state_dict()) == GPT.state_dict_keys(cfg)


def test_the_declared_keys_spelled_out_for_one_layer():
    """The contract written by hand: renaming a submodule must change this test too."""
    cfg = GPTConfig(vocab_size=11, context_length=4, d_model=8, num_heads=2, num_layers=1)
    assert GPT.state_dict_keys(cfg) == [
        "embedding.token_embedding.weight", "embedding.position_embedding.weight",
        "blocks.0.norm1.weight", "blocks.0.norm1.bias",
        "blocks.0.attn.W_query.weight", "blocks.0.attn.W_key.weight",
        "blocks.0.attn.W_value.weight",
        "blocks.0.attn.out_proj.weight", "blocks.0.attn.out_proj.bias",
        "blocks.0.norm2.weight", "blocks.0.norm2.bias",
        "blocks.0.ff.fc.weight", "blocks.0.ff.fc.bias",
        "blocks.0.ff.proj.weight", "blocks.0.ff.proj.bias",
        "final_norm.weight", "final_norm.bias", "out_head.weight",
    ]  # fmt: skip
    assert GPT.TIED_WEIGHTS == ("out_head.weight", "embedding.token_embedding.weight")


def _old_names(state_dict: dict) -> dict:
    """A state_dict as the first GPT named it: raw tables called tok_emb and pos_emb."""
    old = {"embedding.token_embedding.weight": "tok_emb.weight",
           "embedding.position_embedding.weight": "pos_emb.weight"}  # fmt: skip
    return {old.get(k, k): v for k, v in state_dict.items()}


@pytest.mark.parametrize("tie", [False, True])
def test_old_parameter_names_still_load(tie):
    cfg = GPTConfig(vocab_size=30, context_length=8, d_model=16, num_heads=2, tie_weights=tie)
    source, target = _model(cfg, seed=1), _model(cfg, seed=2)
    state = _old_names(source.state_dict())
    assert "tok_emb.weight" in state and "embedding.token_embedding.weight" not in state
    target.load_state_dict(state)
    ids = torch.randint(0, 30, (2, 8))
    torch.testing.assert_close(target(ids), source(ids), rtol=0, atol=0)
    if tie:  # a tied checkpoint may store the shared matrix once
        del state["out_head.weight"]
        _model(cfg, seed=3).load_state_dict(state)
        assert target.out_head.weight is target.embedding.token_embedding.weight


def test_loading_refuses_a_name_twice_and_untied_weights_into_a_tied_model():
    model = _model()
    state = model.state_dict()
    with pytest.raises(ValueError, match=r"old and new name.*'tok_emb.weight'"):
        model.load_state_dict(
            {**state, "tok_emb.weight": state["embedding.token_embedding.weight"]}
        )
    tied = _model(GPTConfig(**{**TINY.to_dict(), "tie_weights": True}))
    with pytest.raises(ValueError, match="two different matrices.*untied model"):
        tied.load_state_dict(state)  # state has its own out_head, not the token table
    with pytest.raises(RuntimeError, match="Missing key.*out_head.weight"):  # untied: no filling in
        model.load_state_dict({k: v for k, v in state.items() if k != "out_head.weight"})


def test_the_shipped_checkpoint_loads_by_its_old_names_and_computes_the_same():
    """The shipped poet, written back under the names it was first saved with, loads the same."""
    payload = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    new_names = {"d_model": "emb_dim", "num_heads": "n_heads", "num_layers": "n_layers"}
    stored = {new_names.get(k, k): v for k, v in payload["config"].items()}
    old_keys = {GPT.TOKEN_TABLE: "tok_emb.weight", GPT.POSITION_TABLE: "pos_emb.weight"}
    state = {old_keys.get(k, k): v for k, v in payload["state_dict"].items()}
    assert {"emb_dim", "n_heads", "n_layers"} <= set(stored)
    assert {"tok_emb.weight", "pos_emb.weight"} <= set(state)
    cfg = GPTConfig.from_dict(stored)
    assert (cfg.d_model, cfg.num_heads, cfg.num_layers) == (
        stored["emb_dim"],
        stored["n_heads"],
        stored["n_layers"],
    )
    model = GPT(cfg).eval()
    model.load_state_dict(state)
    # reference: embeddings and head straight from the stored tensors, blocks as tested above
    ids = torch.randint(0, cfg.vocab_size, (2, 20), generator=torch.Generator().manual_seed(0))
    x = state["tok_emb.weight"][ids] + state["pos_emb.weight"][:20]
    for block in model.blocks:
        x = _reference_block(block, x)
    x = F.layer_norm(x, (cfg.d_model,), state["final_norm.weight"], state["final_norm.bias"])
    torch.testing.assert_close(model(ids), x @ state["out_head.weight"].T)


def test_config_from_dict_refuses_old_and_new_name_together():
    with pytest.raises(ValueError, match="both 'n_heads' .*and 'num_heads'"):
        GPTConfig.from_dict({**TINY.to_dict(), "n_heads": 4})


@pytest.mark.parametrize("tie", [False, True])
def test_optimizer_groups_by_module_are_the_old_rule_by_name(tie):
    """The rule they replace: decay every >= 2-D parameter except the position table."""
    model = GPT(GPTConfig(**{**TINY.to_dict(), "qkv_bias": True, "tie_weights": tie}))
    decay, no_decay = model.optimizer_groups(0.1)
    by_name = [n for n, p in model.named_parameters() if p.dim() >= 2 and n != GPT.POSITION_TABLE]
    names = {id(p): n for n, p in model.named_parameters()}
    assert [names[id(p)] for p in decay["params"]] == by_name
    assert [names[id(p)] for p in no_decay["params"]] == [
        n for n, _ in model.named_parameters() if n not in by_name
    ]
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    torch.optim.AdamW(model.optimizer_groups(0.1))  # each tensor once, tied or not


# --- Bad input ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [50, -1])
def test_gpt_names_a_token_id_outside_the_vocabulary(bad):
    model = _model()
    ids = torch.tensor([[3, bad, 4]])
    with pytest.raises(ValueError, match=rf"token id {bad} is outside.*0..49 \(vocab_size=50\)"):
        model(ids)
    cache = model.new_kv_cache(1)
    model(torch.tensor([[1, 2]]), kv_cache=cache)
    with pytest.raises(ValueError, match=rf"token id {bad} is outside"):
        model(torch.tensor([[bad]]), kv_cache=cache)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        model(torch.tensor([[1.0, 2.0]]))


def test_optimizer_groups_leave_out_frozen_parameters_and_empty_groups():
    model = _model()
    for p in model.parameters():
        p.requires_grad_(False)
    model.out_head.weight.requires_grad_(True)  # fine-tune the head alone
    groups = model.optimizer_groups(0.1)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.1
    assert [id(p) for p in groups[0]["params"]] == [id(model.out_head.weight)]
