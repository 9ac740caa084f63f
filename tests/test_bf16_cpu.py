"""bfloat16 paths, on the CPU: what a GPU run uses, checked where CI runs.

CPU autocast supports bfloat16, so ``TrainConfig(autocast=True)`` trains under
the same autocast as CUDA's default. Checks against float32 computation: the
matrix multiplies really run in bfloat16 (hooks see their outputs), the losses
agree with float32 to bfloat16's precision, and generation with the KV cache
under autocast picks the same tokens as without it.
"""

from __future__ import annotations

import pytest
import torch

from llm101_helpers.generation import generate
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.training import TrainConfig, evaluate, train

TINY = GPTConfig(vocab_size=40, context_length=16, d_model=32, num_heads=2, num_layers=2)
DATA = torch.arange(400) % 7  # a periodic sequence: easy to learn
SHORT = TrainConfig(
    max_iters=20, batch_size=4, lr=5e-3, warmup_iters=2, eval_interval=20, eval_iters=2,
    progress=False,
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _linear_output_dtypes(model: torch.nn.Module) -> set[torch.dtype]:
    """Record the dtype of every nn.Linear output from now on (into the returned set)."""
    seen: set[torch.dtype] = set()
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    return seen


@pytest.mark.parametrize(("autocast", "expected"), [(True, torch.bfloat16), (None, torch.float32)])
def test_train_autocasts_on_the_cpu_only_when_asked(autocast, expected):
    torch.manual_seed(0)
    model = GPT(TINY)
    seen = _linear_output_dtypes(model)
    history = train(model, DATA, DATA, TrainConfig(**{**vars(SHORT), "autocast": autocast}))
    assert seen == {expected}  # None (the default) is float32 on a CPU, bf16 on CUDA
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
    assert all(torch.isfinite(torch.tensor(history.train_loss)))
    assert history.val_loss[-1] < history.val_loss[0]


def test_bf16_training_follows_float32_training():
    """Same seed, same batches: losses agree to bfloat16's precision, and both learn."""
    runs = {}
    for autocast in (False, True):
        torch.manual_seed(0)
        model = GPT(TINY)
        runs[autocast] = train(
            model, DATA, DATA, TrainConfig(**{**vars(SHORT), "autocast": autocast})
        )
    fp32, bf16 = runs[False], runs[True]
    assert bf16.val_loss[0] == pytest.approx(fp32.val_loss[0], abs=0.05)  # same untrained model
    assert bf16.train_loss[0] == pytest.approx(fp32.train_loss[0], abs=0.1)
    assert bf16.val_loss[-1] < bf16.val_loss[0] - 0.5
    assert bf16.val_loss[-1] == pytest.approx(fp32.val_loss[-1], abs=0.25)


def test_evaluate_under_autocast_matches_float32():
    torch.manual_seed(0)
    model = GPT(TINY)
    data = torch.randint(0, TINY.vocab_size, (300,))
    seen = _linear_output_dtypes(model)
    bf16 = evaluate(model, data, batch_size=4, eval_iters=3, autocast=True)
    assert seen == {torch.bfloat16}
    fp32 = evaluate(model, data, batch_size=4, eval_iters=3, autocast=False)
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, abs=0.05)


@pytest.mark.parametrize("new_tokens", [10, 30])  # 30: past context_length, the window slides
@pytest.mark.parametrize("greedy", [True, False])
def test_kv_cache_under_bf16_autocast_gives_the_uncached_tokens(greedy, new_tokens):
    torch.manual_seed(1)
    model = GPT(TINY).eval()
    prompt = torch.randint(0, TINY.vocab_size, (2, 5))
    kwargs = {"greedy": greedy, "temperature": 1.0, "seed": 3}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(prompt).dtype == torch.bfloat16  # autocast is on
        cached = generate(model, prompt, new_tokens, use_cache=True, **kwargs)
        uncached = generate(model, prompt, new_tokens, use_cache=False, **kwargs)
    assert cached.shape == (2, 5 + new_tokens)
    assert torch.equal(cached, uncached)
