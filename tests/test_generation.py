"""Tests for llm101_helpers.generation.

References are independent of the code under test: the argmax of the model's
own logits step by step, the sets a top-k or nucleus filter may keep, and
``torch`` computing the same quantities directly.
"""

from __future__ import annotations

import pytest
import torch

from llm101_helpers.generation import generate, write_text
from llm101_helpers.model import GPT, GPTConfig

TINY = GPTConfig(vocab_size=50, context_length=16, d_model=32, num_heads=4, num_layers=2)


def _model(cfg: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(cfg).eval()


def test_generate_length_and_seeded_determinism():
    model = _model()
    prompt = torch.tensor([1, 2, 3])
    a = generate(model, prompt, 10, seed=7, top_k=20)
    b = generate(model, prompt, 10, seed=7, top_k=20)
    c = generate(model, prompt, 10, seed=8, top_k=20)
    assert a.shape == (13,) and torch.equal(a[:3], prompt)
    assert torch.equal(a, b) and not torch.equal(a, c)
    batch = generate(model, torch.tensor([[1, 2], [3, 4]]), 5, seed=0)
    assert batch.shape == (2, 7)
    assert generate(model, prompt, 0).tolist() == [1, 2, 3]


def test_greedy_is_argmax_step_by_step():
    model = _model()
    ids = [4, 5]
    for _ in range(6):
        logits = model(torch.tensor([ids]))[0, -1]
        ids.append(int(logits.argmax()))
    assert generate(model, torch.tensor([4, 5]), 6, greedy=True).tolist() == ids
    assert generate(model, torch.tensor([4, 5]), 6, top_k=1, seed=3).tolist() == ids
    assert generate(model, torch.tensor([4, 5]), 6, top_p=1e-6, seed=3).tolist() == ids


def test_top_k_and_top_p_stay_inside_their_sets():
    cfg = GPTConfig(vocab_size=50, context_length=16, d_model=32, num_heads=4, num_layers=2)
    model = _model(cfg, seed=3)
    with torch.no_grad():  # sharpen the output so the nucleus is small
        model.out_head.weight.mul_(40)
    prompt = torch.tensor([[7, 8, 9]]).repeat(400, 1)
    probs = torch.softmax(model(prompt[:1])[0, -1], -1)
    top5 = set(torch.topk(probs, 5).indices.tolist())
    nxt = generate(model, prompt, 1, top_k=5, seed=0)[:, -1]
    assert set(nxt.tolist()) <= top5 and len(set(nxt.tolist())) > 1

    p_sorted, order = torch.sort(probs, descending=True)
    n_keep = int((p_sorted.cumsum(0) < 0.8).sum()) + 1  # smallest set reaching 0.8
    nucleus = set(order[:n_keep].tolist())
    nxt = generate(model, prompt, 1, top_p=0.8, seed=0)[:, -1]
    assert set(nxt.tolist()) <= nucleus


def test_generate_crops_to_the_context_or_raises():
    model = _model()
    long_prompt = torch.arange(40) % 50  # longer than context_length=16
    out = generate(model, long_prompt, 5, greedy=True)
    assert out.shape == (45,)
    # with cropping the first new token only depends on the last 16 tokens
    tail = generate(model, long_prompt[-16:], 1, greedy=True)
    assert out[40] == tail[16]
    with pytest.raises(ValueError, match=r"40 tokens.*context_length 16.*crop=False"):
        generate(model, long_prompt, 1, crop=False)
    with pytest.raises(ValueError, match=r"10 tokens and 7 new.*17 in all"):
        generate(model, torch.arange(10), 7, crop=False)
    assert generate(model, torch.arange(10), 6, crop=False).shape == (16,)


def test_generate_errors_and_mode_restored():
    model = _model().train()
    p = torch.tensor([1])
    with pytest.raises(ValueError, match="temperature must be a positive"):
        generate(model, p, 3, temperature=0)
    with pytest.raises(ValueError, match="temperature must be a positive"):
        generate(model, p, 3, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_k=51 is larger than the vocabulary \(50 tokens\)"):
        generate(model, p, 3, top_k=51)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, p, 3, top_p=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, p, -1)
    with pytest.raises(ValueError, match="prompt"):
        generate(model, torch.tensor([], dtype=torch.long), 3)
    generate(model, p, 3, seed=0)
    assert model.training


def test_generate_stops_at_eos():
    model = _model()
    greedy = generate(model, torch.tensor([1, 2]), 8, greedy=True)
    eos = int(greedy[3])  # the second generated token
    out = generate(model, torch.tensor([1, 2]), 8, greedy=True, eos_id=eos)
    assert out.tolist() == greedy[: 2 + greedy[2:].tolist().index(eos) + 1].tolist()



# --- Bad input ------------------------------------------------------------------


def test_a_list_prompt_is_refused_with_what_to_pass():
    with pytest.raises(
        TypeError, match=r"tensor of token ids.*got a list.*torch.tensor\(\[1, 2\]\)"
    ):
        generate(_model(), [1, 2], 3)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        generate(_model(), torch.tensor([1.0, 2.0]), 3)


@pytest.mark.parametrize("bad", [50, -3])
def test_prompt_ids_outside_the_vocabulary_are_named(bad):
    for n in (0, 3):  # also when nothing would be generated
        with pytest.raises(ValueError, match=rf"token id {bad} is outside.*\(vocab_size=50\)"):
            generate(_model(), torch.tensor([1, bad]), n)


def test_greedy_ignores_the_temperature_and_zero_points_to_greedy():
    model = _model()
    p = torch.tensor([4, 5])
    greedy = generate(model, p, 6, greedy=True)
    assert torch.equal(generate(model, p, 6, greedy=True, temperature=0), greedy)
    with pytest.raises(
        ValueError, match=r"got 0; for the single most likely token use greedy=True"
    ):
        generate(model, p, 6, temperature=0)
    with pytest.raises(ValueError, match="temperature must be a positive number, got nan"):
        generate(model, p, 6, temperature=float("nan"))


def test_a_tiny_temperature_samples_the_argmax_instead_of_nan():
    model = _model(seed=3)
    with torch.no_grad():
        model.out_head.weight.mul_(40)  # logits large enough for logits / T to overflow
    p = torch.tensor([[7, 8, 9], [1, 2, 3]])
    logits = model(p)[:, -1].float()
    assert torch.isinf(logits / 2e-38).any()  # the division alone overflows...
    with pytest.raises(RuntimeError, match="inf|nan"):  # ...and torch cannot sample from it
        torch.multinomial(torch.softmax(logits / 2e-38, dim=-1), 1)
    greedy = generate(model, p, 5, greedy=True)
    assert torch.equal(generate(model, p, 5, temperature=2e-38, seed=0), greedy)
    with pytest.raises(ValueError, match=r"temperature=1e-45 is below 1.18e-38.*greedy=True"):
        generate(model, p, 5, temperature=1e-45)


class _Letters:
    """A tokenizer of the letters a..z (ids 0..25), enough for write_text."""

    vocab_size = 26

    def encode(self, text: str) -> list[int]:
        return [ord(c) - ord("a") for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(ord("a") + i) for i in ids)


def test_write_text_lowers_top_k_to_a_small_vocabulary():
    cfg = GPTConfig(vocab_size=26, context_length=16, d_model=16, num_heads=2, num_layers=1)
    model, tok = _model(cfg), _Letters()
    with pytest.raises(ValueError, match="top_k=40 is larger than the vocabulary"):
        generate(model, torch.tensor([0]), 5, top_k=40)
    text = write_text(model, tok, "ab", length=12, seed=4)  # the default top_k=40 > 26
    out = generate(model, torch.tensor([0, 1]), 12, temperature=0.8, top_k=None, seed=4)
    assert text == tok.decode(out.tolist())  # all 26 tokens kept: no filtering at all
    small = write_text(model, tok, "ab", top_k=3, length=12, seed=4)
    assert small == tok.decode(generate(model, torch.tensor([0, 1]), 12, temperature=0.8,
                                        top_k=3, seed=4).tolist())  # fmt: skip
