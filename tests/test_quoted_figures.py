"""Figures that notebook prose quotes from the stored benchmark results equal those results.

The tables themselves are checked in test_bench_results.py; this file covers the sentences
that pick single figures out of them (a quoted figure must change when the JSON does).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _json(name: str) -> dict:
    return json.loads((ROOT / "bench" / "results" / name).read_text(encoding="utf-8"))


def _markdown_containing(notebook: str, text: str) -> str:
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    folded = [" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown"]
    hits = [s for s in folded if text in s]  # line breaks folded: a phrase may span lines
    assert len(hits) == 1, f"{notebook}: {len(hits)} markdown cells contain {text!r}"
    return hits[0]


def _ms(row: dict, which: str) -> str:
    return f"{row[which]['median'] * 1e3:.1f}"


@pytest.fixture(scope="module")
def implementations() -> dict[str, dict]:
    rows = _json("attention_cpu.json")["implementations"][0]["rows"]
    return {r["name"]: r for r in rows}


def test_notebook_11_quotes_the_stored_implementation_timings(implementations):
    text = _markdown_containing("11_attention_performance.ipynb", "Fusing QKV")
    fwd = {name: _ms(row, "forward") for name, row in implementations.items()}
    both = {name: _ms(row, "forward_backward") for name, row in implementations.items()}
    for phrase in [
        f"({fwd['MHA explicit']} → {fwd['fused QKV explicit']} ms forward)",
        f"({fwd['MHA + SDPA']} → {fwd['fused QKV + SDPA']} ms)",
        f"its forward pass ({fwd['nn.MultiheadAttention']} ms)",
        f"not with SDPA ({fwd['MHA + SDPA']} ms)",
        f"forward + backward ({both['wrapper of heads']} ms)",
        f"forward alone ({fwd['wrapper of heads']} ms)",
        f"`MultiHeadAttention` ({fwd['MHA explicit']} ms)",
    ]:
        assert phrase in text, phrase
    # and the comparisons the sentences draw hold in the stored run
    assert float(fwd["fused QKV explicit"]) < float(fwd["MHA explicit"])
    assert float(fwd["fused QKV + SDPA"]) > float(fwd["MHA + SDPA"])
    assert float(fwd["wrapper of heads"]) < float(fwd["MHA explicit"])
    assert max(both.values(), key=float) == both["wrapper of heads"]


def test_notebook_07_quotes_the_wrapper_against_the_explicit_module(implementations):
    text = _markdown_containing("07_multi_head_attention.ipynb", "The heads run one after another")
    assert "in its stored CPU table the wrapper's forward pass is the faster of the two" in text
    wrapper = implementations["wrapper of heads"]["forward"]["median"]
    assert wrapper < implementations["MHA explicit"]["forward"]["median"]


def test_notebook_11_quotes_the_stored_generation_rates():
    rows = _json("generate_cpu.json")["rows"]
    text = _markdown_containing("11_attention_performance.ipynb", "does not fall with length")
    cached = [r["cached"]["tokens_per_s"] for r in rows]
    assert f"{min(cached):.0f}-{max(cached):.0f} tokens/s" in text
    by_length = {r["new_tokens"]: r["speedup"] for r in rows}
    assert f"{by_length[32]:.1f}x at 32" in text and f"{by_length[256]:.1f}x at 256" in text


def test_notebook_02_quotes_tiktoken_against_the_warm_encoder():
    ratios = [
        r["encode"]["tiktoken_MBps"] / r["encode"]["course_warm_MBps"]
        for r in _json("bpe.json")["results"]
    ]
    text = _markdown_containing("02_byte_pair_encoding.ipynb", "tiktoken's encoder is")
    assert f"{min(ratios):.1f}-{max(ratios):.1f} times as fast" in text
