"""Saved benchmark results agree with the tables shown in bench/README.md and the notebooks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _markdown(notebook: str) -> str:
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.fixture(scope="module")
def bpe_report():
    return json.loads((ROOT / "bench" / "results" / "bpe.json").read_text(encoding="utf-8"))


def test_bpe_table_in_readme_and_notebook_02_matches_the_json(bpe_report):
    table = _bench_module("bpe").markdown_table(bpe_report)
    assert table in (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    assert table in _markdown("02_byte_pair_encoding.ipynb")


def test_bpe_results_record_a_correct_run(bpe_report):
    by_size = {r["vocab_size"]: r for r in bpe_report["results"]}
    assert bpe_report["chars"] == 1_000_000
    # the counts tests/test_tokenizers.py recomputes, and the same ids as tiktoken
    assert by_size[1024]["course_tokens"] == 409_532
    assert by_size[512]["course_tokens"] == 514_450
    for r in bpe_report["results"]:
        assert r["encode"]["ids_identical_to_tiktoken"]
        if "hf_tokens" in r:  # Hugging Face's trainer, a separate implementation, agrees
            assert r["hf_tokens"] == r["course_tokens"]
        if "naive_same_merges" in r:
            assert r["naive_same_merges"]


@pytest.fixture(scope="module")
def train_report():
    return json.loads((ROOT / "bench" / "results" / "train.json").read_text(encoding="utf-8"))


def test_train_table_in_readme_matches_the_json(train_report):
    table = _bench_module("train").markdown_table(train_report)
    assert table in (ROOT / "bench" / "README.md").read_text(encoding="utf-8")


def test_train_results_record_the_configuration_and_meet_the_targets(train_report):
    r = train_report
    assert (r["iters"], r["batch_size"], r["context_length"]) == (2000, 12, 64)
    assert r["val_loss"] <= 1.89
    nanogpt_tokens_per_second = 2000 * 12 * 64 / (7 * 60)
    assert r["tokens_per_second"] >= nanogpt_tokens_per_second
    assert 0 < r["mfu"] < 1
    assert r["mfu"] == pytest.approx(r["achieved_gflops"] / r["peak_gflops"])


def _report(name: str) -> dict:
    return json.loads((ROOT / "bench" / "results" / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "script,result", [("attention", "attention_cpu.json"), ("generate", "generate_cpu.json")]
)
def test_performance_tables_in_readme_and_notebook_11_match_the_json(script, result):
    table = _bench_module(script).markdown_table(_report(result))
    assert table in (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    assert table in _markdown("11_attention_performance.ipynb")


def test_attention_results_record_equal_implementations_and_the_targets():
    r = _report("attention_cpu.json")
    assert r["device"].startswith("cpu") and r["torch"]
    impl = r["implementations"][0]
    assert (impl["batch"], impl["seq"], impl["dim"], impl["heads"]) == (8, 256, 768, 12)
    assert impl["max_abs_diff"] < 1e-3  # every implementation was checked equal before timing
    assert len(impl["rows"]) == 6
    assert [row["seq"] for row in r["sweep"][0]["rows"]][-1] == 1024
    assert len(r["targets"]) == 2 and all(t["met"] for t in r["targets"])
    # memory: the explicit path grows about four-fold per doubling at the largest lengths
    rows = r["sweep"][0]["rows"]
    explicit = [row["explicit"]["forward_backward_peak_bytes"] for row in rows]
    sdpa = [row["sdpa"]["forward_backward_peak_bytes"] for row in rows]
    assert explicit[-1] / explicit[-2] > 3 and sdpa[-1] / sdpa[-2] < 2.5


def test_generate_results_record_identical_tokens_and_the_target():
    r = _report("generate_cpu.json")
    assert all(row["same_tokens"] for row in r["rows"])
    assert r["target"]["new_tokens"] == 256 and r["target"]["met"]
    assert r["config"]["num_layers"] == 6 and r["config"]["context_length"] == 256
