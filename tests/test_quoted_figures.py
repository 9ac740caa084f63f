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


def _heads_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_heads", ROOT / "bench" / "heads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_heads_table_in_bench_readme_matches_the_json():
    report = _json("heads_cpu.json")
    readme = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    assert _heads_module().markdown_table(report) in readme
    assert {name for name in report["results"]} == {"default", "no-mmap"}


def test_notebook_11_and_bench_readme_quote_the_heads_run():
    results = _json("heads_cpu.json")["results"]

    def ms(allocator: str, key: str) -> str:
        row = next(r for r in results[allocator] if r["seq"] == 512)
        return f"{row[key]['median'] * 1e3:.1f}"

    default = (ms("default", "explicit_forward"), ms("default", "wrapper_forward"))
    kept = (ms("no-mmap", "explicit_forward"), ms("no-mmap", "wrapper_forward"))
    text = _markdown_containing("11_attention_performance.ipynb", "bench/heads.py")
    assert f"{default[0]} ms against the wrapper's {default[1]} with the default allocator" in text
    assert f"{kept[0]} against {kept[1]} when large blocks stay in the heap" in text
    readme = " ".join((ROOT / "bench" / "README.md").read_text(encoding="utf-8").split())
    assert f"({default[0]} ms against the wrapper's {default[1]})" in readme
    assert f"({kept[0]} against {kept[1]} ms)" in readme
    # what the prose concludes holds in the stored run: the default allocator makes the explicit
    # path the slower one, and keeping large blocks closes most of the gap
    d_explicit, d_wrapper = map(float, default)
    k_explicit, k_wrapper = map(float, kept)
    assert d_explicit > 1.3 * d_wrapper and k_explicit < 1.1 * k_wrapper


def test_notebook_12_quotes_the_stored_known_word_shares():
    rows = {r["checkpoint"]: r for r in _json("poet.json")["rows"]}
    share = {name: f"{rows[name]['words']['share']:.1%}" for name in rows}
    text = _markdown_containing("12_pretraining_and_fine_tuning.ipynb", "found these shares")
    assert (
        f"poems only {share['poet_poems_only.pt']}, pretrained {share['poet_pretrained.pt']}, "
        f"fine-tuned {share['poet_finetuned.pt']}"
    ) in text
    assert all(rows[name]["words"]["words"] > 1000 for name in rows)  # "more than 1,000 words"
    # the sentence after it: the pretrained model writes the most real words
    assert max(rows, key=lambda n: rows[n]["words"]["share"]) == "poet_pretrained.pt"
