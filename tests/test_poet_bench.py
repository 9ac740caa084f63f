"""The poet's figures (``training.scoring``, which bench/poet.py reports) on cases whose
answer is known without the code that computes them.

Bits per character: a model whose every prediction is the same distribution (its
final norm's scale set to 0, so the output is ``W @ bias`` at every position) gives
``sum(-log2 p[token]) / characters``, computed here from that distribution; with
the output layer at zero the distribution is uniform and a character model gives
exactly ``log2(vocabulary)``; and a text that fits one window is one forward pass.
Known words: hand-counted cases.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import BPETokenizer, CharTokenizer
from llm101_helpers.training import scoring

TEXT = "".join(f"the {w} sat on a mat\n" for w in ("cat", "rat", "bat", "dog") * 12)


def _constant_model(vocab_size: int, seed: int = 0) -> tuple[GPT, torch.Tensor]:
    """A GPT (context 16) predicting the same distribution everywhere, and its log-probs."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=vocab_size, context_length=16, d_model=16, num_heads=2,
                          num_layers=1)).eval()  # fmt: skip
    with torch.no_grad():
        model.final_norm.weight.zero_()
        model.final_norm.bias.normal_()
        model.out_head.weight.normal_()
        logits = model.out_head.weight @ model.final_norm.bias  # (V,)
    return model, F.log_softmax(logits, dim=-1)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_bits_per_character_of_a_constant_distribution(kind):
    tokenizer = CharTokenizer.train(TEXT) if kind == "char" else BPETokenizer.train(TEXT, 270)
    model, log_p = _constant_model(tokenizer.vocab_size)
    held_out = TEXT[600:]  # many windows of 16 tokens
    ids = tokenizer.encode(held_out)
    expected = -log_p[ids].sum().item() / math.log(2) / len(held_out)
    got = scoring.bits_per_character(model, tokenizer, held_out, context=TEXT[:600])
    assert got["bits_per_char"] == pytest.approx(expected, rel=1e-5)
    assert got["tokens"] == len(ids) and got["chars"] == len(held_out)
    if kind == "bpe":
        assert len(ids) < len(held_out)  # tokens of several characters: per character differs


def test_a_uniform_character_model_scores_log2_of_its_vocabulary():
    tokenizer = CharTokenizer.train(TEXT)
    model, _ = _constant_model(tokenizer.vocab_size)
    with torch.no_grad():
        model.out_head.weight.zero_()
    got = scoring.bits_per_character(model, tokenizer, TEXT[100:], context=TEXT[:100])
    assert got["bits_per_char"] == pytest.approx(math.log2(tokenizer.vocab_size), rel=1e-6)


def test_a_text_within_one_window_is_one_forward_pass():
    tokenizer = CharTokenizer.train(TEXT)
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=64, d_model=16,
                          num_heads=2, num_layers=2)).eval()  # fmt: skip
    context, text = "the cat sat", " on a mat\nthe dog"
    ids = torch.tensor(tokenizer.encode(context + text))  # 28 tokens: one window
    with torch.no_grad():
        nll = F.cross_entropy(model(ids[None, :-1])[0], ids[1:], reduction="none")  # (27,)
    expected = nll[len(context) - 1 :].sum().item() / math.log(2) / len(text)
    got = scoring.bits_per_character(model, tokenizer, text, context)
    assert got["bits_per_char"] == pytest.approx(expected, rel=1e-5)


def test_words_and_the_share_of_known_words_counted_by_hand():
    assert scoring.words("The cat's hat, A-OK!") == ["the", "cat's", "hat", "a", "ok"]
    assert scoring.words("a cut-off wor", complete=True) == ["a", "cut", "off"]
    samples = ["the cat sat on the mat", "a dog's bone.\n", "Dog's bo"]
    got = scoring.word_share(samples, {"the", "cat", "dog's"})
    # kept: the cat sat on the | a dog's bone | dog's  ("mat" and "bo" are cut off)
    assert got == {"words": 9, "known": 5, "share": 5 / 9,
                   "unknown": ["sat", "on", "a", "bone"]}  # fmt: skip
    assert scoring.vocabulary(["The cat", "a Dog's"]) == {"the", "cat", "a", "dog's"}


def test_samples_reach_the_word_count_and_hold_only_what_the_model_can_write():
    tokenizer = CharTokenizer("ab \n")
    model, _ = _constant_model(tokenizer.vocab_size)
    with torch.no_grad():  # logits (0, -30, 0, -30): "a" and " " only
        model.final_norm.bias.copy_(torch.eye(16)[0])
        model.out_head.weight.zero_()
        model.out_head.weight[[1, 3], 0] = -30.0
    samples = scoring.sample_words(model, tokenizer, ("a ", "\n"), min_words=150, tokens=200)
    texts = [s["text"] for s in samples]
    assert [(s["prompt"], s["seed"]) for s in samples[:3]] == [("a ", 0), ("\n", 1), ("a ", 2)]
    assert all(len(t) == 200 and set(t) <= {"a", " "} for t in texts)
    counted = scoring.word_share(texts, {"a" * k for k in range(1, 300)})
    assert counted["words"] >= 150 and counted["share"] == 1.0
    assert scoring.word_share(texts, {"a"})["share"] < 1.0  # longer runs of "a" are not "a"
