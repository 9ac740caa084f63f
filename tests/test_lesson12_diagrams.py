"""The numbers lesson 12's ``--train-only`` figure shows, against the model and ``freeze``.

``12_which_layers_train.png`` draws the shipped poets' GPT part by part, with each part's
parameter count, and colours the parts each ``--train-only`` mode trains. Here a real
``GPT(GPTConfig(**SHIPPED))`` is counted module by module, and ``training.cli.freeze``
decides which parameters train: the figure must agree with both.
"""

from __future__ import annotations

import pytest
import torch

from llm101_helpers.diagrams import DIAGRAMS, lesson_12
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.training.cli import freeze


def _parts(model: GPT) -> dict[str, torch.nn.Module]:
    """The figure's part names -> the model's modules."""
    blocks = {f"block {i}": block for i, block in enumerate(model.blocks)}
    return {"embedding": model.embedding, **blocks, "final_norm": model.final_norm,
            "out_head": model.out_head}


@pytest.fixture()
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**lesson_12.SHIPPED))


def test_the_parts_and_their_counts_are_the_models(model):
    parts = _parts(model)
    assert [name for name, _, _ in lesson_12.STACK] == list(parts)
    for name, _, count in lesson_12.STACK:
        assert count == sum(p.numel() for p in parts[name].parameters()), name
    assert lesson_12.TOTAL == sum(p.numel() for p in model.parameters()) == 1_062_144


@pytest.mark.parametrize("mode", ["all", "last-1", "head"])
def test_the_trained_parts_are_those_freeze_leaves_trainable(model, mode):
    trained = freeze(model, mode)
    assert lesson_12.trained_count(mode) == trained
    for name, module in _parts(model).items():
        flags = {p.requires_grad for p in module.parameters()}
        assert flags == {name in lesson_12.TRAINED[mode]}, (name, mode, flags)


@pytest.mark.parametrize("mode", ["all", "last-1", "head"])
def test_the_alt_text_states_freezes_counts(model, mode):
    trained = freeze(model, mode)
    alt = DIAGRAMS["12_which_layers_train.png"].alt
    assert f"--train-only {mode} trains" in alt
    assert f"{trained:,} ({trained / lesson_12.TOTAL:.1%})" in alt or (
        mode == "all" and f"{trained:,} of {trained:,} parameters (100.0%)" in alt
    )
