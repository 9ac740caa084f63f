"""Saved benchmark results agree with the tables shown in bench/README.md and the notebooks."""

from __future__ import annotations

import importlib.util
import json
import math
import re
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
    return json.loads((ROOT / "bench" / "results" / "train_cpu.json").read_text(encoding="utf-8"))


def _train_section() -> str:
    readme = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    start = readme.index("## `train.py`")
    return readme[start : readme.index("\n## ", start + 1)]


def test_train_tables_and_summary_in_readme_and_notebook_10_match_the_json(train_report):
    bench = _bench_module("train")
    section = _train_section()
    assert bench.markdown_table(train_report) in section
    assert bench.summary(train_report) in section
    assert bench.notebook_quote(train_report) in _markdown("10_training_a_tiny_poet.ipynb")


#: The figures the train section's own prose may state: the configuration, not results.
CONFIG_FIGURES = {"4", "128", "64", "12", "2,000", "1e-3", "100", "1e-4", "0.99", "0.1", "1.0",
                  "0", "90", "10", "200", "2048"}  # fmt: skip


def test_every_figure_in_the_train_section_comes_from_the_json(train_report):
    """Outside the generated table and summary the section states no measured figure."""
    bench = _bench_module("train")
    prose = _train_section()
    for generated in (bench.markdown_table(train_report), bench.summary(train_report)):
        prose = prose.replace(generated, "")
    prose = re.sub(r"```.*?```", "", prose, flags=re.S)  # the command line
    prose = re.sub(r"`[^`]*`", "", prose)  # code names such as bench/train.py or 2048^3
    figures = set(re.findall(r"(?<![\w.])(?:\d[\d,.e-]*\d|\d)", prose))  # not float32, beta2
    assert figures <= CONFIG_FIGURES, sorted(figures - CONFIG_FIGURES)


def test_no_speed_claim_against_a_figure_from_another_run():
    assert "NANOGPT" not in (ROOT / "bench" / "train.py").read_text(encoding="utf-8")
    for path in (ROOT / "README.md", ROOT / "bench" / "README.md"):
        text = path.read_text(encoding="utf-8")
        assert "2.9x" not in text and "2.9 times" not in text, path
        assert "nanoGPT (reference run)" not in text, path


def test_train_results_record_the_configuration_and_consistent_figures(train_report):
    r = train_report
    c, ref = r["course"], r["reference"]
    assert (r["iters"], r["batch_size"], r["context_length"]) == (2000, 12, 64)
    assert r["config"]["d_model"] == 128 and r["config"]["num_layers"] == 4
    for m in (c, ref):  # tokens/s is all the tokens over the summed time of the turns
        assert m["tokens_per_second"] == pytest.approx(2000 * 12 * 64 / m["seconds"])
    ratio = c["tokens_per_second"] / ref["tokens_per_second"]
    targets = {t["target"]: t for t in r["targets"]}
    assert targets["course tokens/s / reference tokens/s, training"]["measured"] == ratio
    assert targets["course val loss"]["measured"] == c["val_loss"]
    for t in r["targets"]:
        assert t["met"] == (t["measured"] <= t["wanted"] if "val loss" in t["target"]
                            else t["measured"] >= t["wanted"])  # fmt: skip
    assert [(s["batch"], s["context"], s["d_model"]) for s in r["steps"]] == [
        (12, 64, 128), (8, 256, 384)]  # fmt: skip
    achieved = r["flops_per_token"] * c["tokens_per_second"] / 1e9
    assert r["mfu"]["achieved_gflops"] == pytest.approx(achieved)
    large = r["peaks"][-1]
    assert (large["m"], large["k"], large["n"]) == (2048, 2048, 2048)
    assert r["mfu"]["low"] == pytest.approx(achieved / large["gflops_q75"])
    assert r["mfu"]["high"] == pytest.approx(achieved / large["gflops_q25"])
    assert 0 < r["mfu"]["low"] <= r["mfu"]["high"] < 1
    assert len(r["profile"]) >= 5 and sum(p["share"] for p in r["profile"]) <= 1


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


@pytest.fixture(scope="module")
def poet_report():
    return _report("poet.json")


def test_poet_table_in_readme_matches_the_json(poet_report):
    table = _bench_module("poet").markdown_table(poet_report)
    assert table in (ROOT / "bench" / "README.md").read_text(encoding="utf-8")


def _held_out_chars(corpus: str) -> int:
    """Characters after the command line's split, computed by hand: from the first line start
    at or after 90% of the text."""
    from llm101_helpers.training.cli import load_text

    text = load_text(corpus)
    return len(text) - (text.index("\n", int(len(text) * 0.9) - 1) + 1)


def test_poet_results_are_of_the_shipped_checkpoints_and_consistent(poet_report):
    import hashlib

    from llm101_helpers.training import load_checkpoint
    from llm101_helpers.training.cli import corpora_seen

    rows = poet_report["rows"]
    assert {r["checkpoint"] for r in rows} == {p.name for p in CHECKPOINTS.glob("*.pt")}
    for row in rows:
        shipped = CHECKPOINTS / row["checkpoint"]
        assert row["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
        assert row["training_corpora"] == corpora_seen(load_checkpoint(shipped).extra)
        for key, corpus in (("held_out", "poems"), ("held_out_shakespeare", "tinyshakespeare")):
            held = row[key]
            assert held["corpus"] == corpus and held["chars"] == _held_out_chars(corpus)
            assert held["bits_per_char"] == pytest.approx(held["bits"] / held["chars"])
            assert held["nats_per_token"] == pytest.approx(
                held["bits"] * math.log(2) / held["tokens"]
            )
        w, s = row["words"], row["sampling"]
        assert w["words"] >= 1000 and w["share"] == pytest.approx(w["known"] / w["words"])
        assert (s["temperature"], s["top_k"], s["samples"]) == (0.8, 40, len(row["samples"]))
        assert len({r["prompt"] for r in row["samples"]}) >= 5
        assert [r["seed"] for r in row["samples"]] == list(range(s["samples"]))


CHECKPOINTS = ROOT / "notebooks" / "checkpoints"
