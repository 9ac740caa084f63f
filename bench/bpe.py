"""Benchmark: byte-level BPE training and encoding on tiny shakespeare.

For each vocabulary size, times

- the course trainer (``BPETokenizer.train``: unique chunks, incremental pair counts),
- the naive trainer (``naive_train``: recount every pair every merge), the
  baseline; one run to the largest vocabulary size, timed at every merge, so
  smaller sizes are read off the same run (their merges are a prefix of it),
- Hugging Face ``tokenizers`` (byte-level BPE, GPT-2 regex), when installed,

and the encode throughput of the course encoder (cold cache and warm) and of
tiktoken running the same ranks (``to_tiktoken()``), on the training text.

    python bench/bpe.py                       # 1M characters, vocab 512 and 1024
    python bench/bpe.py --skip-naive          # seconds instead of minutes
    python bench/bpe.py --naive-merges 64     # naive on 64 merges, extrapolated (labelled)

The text comes from ``llm101_helpers.data.load_corpus("tinyshakespeare")``;
set ``LLM101_DATA_MIRROR`` to a folder holding ``tinyshakespeare.txt`` offline.
Results go to ``bench/results/bpe.json`` (``--json``). Device: CPU only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm101_helpers.data import load_corpus  # noqa: E402
from llm101_helpers.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer, naive_train  # noqa: E402


def stats(runs: list[float]) -> dict:
    """Median and spread of repeated timings, in seconds."""
    return {
        "median": statistics.median(runs),
        "min": min(runs),
        "max": max(runs),
        "runs": runs,
    }


def timed(fn, repeats: int) -> tuple[dict, object]:
    runs, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return stats(runs), result


def machine() -> dict:
    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "packages": {p: version(p) for p in ("llm101-helpers", "tiktoken", "regex", "tokenizers")},
    }


def naive_run(text: str, vocab_sizes: list[int], max_merges: int | None) -> dict[int, dict]:
    """One naive run up to the largest size; time at each requested size, read off per merge."""
    target = max(vocab_sizes)
    merges_wanted = target - 256 if max_merges is None else min(max_merges, target - 256)
    stamps: list[float] = []
    start = time.perf_counter()
    tok = naive_train(
        text, 256 + merges_wanted, on_merge=lambda *_: stamps.append(time.perf_counter() - start)
    )
    total = time.perf_counter() - start
    prep = total - (stamps[-1] if stamps else 0.0)  # building the result after the last merge
    out = {}
    for v in vocab_sizes:
        n = v - 256
        if n <= len(stamps):
            out[v] = {"seconds": stamps[n - 1] + prep if n else prep, "extrapolated": False}
        else:  # per-merge cost falls as merges shorten the text, so this overestimates
            per_merge = stamps[-1] / len(stamps)
            out[v] = {
                "seconds": per_merge * n,
                "extrapolated": True,
                "from_merges": len(stamps),
                "note": f"linear from the first {len(stamps)} merges (an upper estimate)",
            }
        out[v]["merges"] = dict(list(tok.merges.items())[:n])
    return out


def hf_train(text: str, vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tk.train_from_iterator([text], trainer=trainer)
    return tk


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=1_000_000, help="characters of text")
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast timings")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument(
        "--naive-merges",
        type=int,
        default=None,
        help="run the naive trainer for only this many merges and extrapolate (labelled)",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "bpe.json")
    args = parser.parse_args(argv)

    text = load_corpus("tinyshakespeare")[: args.chars]
    n_bytes = len(text.encode("utf-8"))
    mb = n_bytes / 1e6
    try:
        import tokenizers  # noqa: F401

        have_hf = True
    except ImportError:
        have_hf = False
        print("Hugging Face tokenizers is not installed: skipping it", file=sys.stderr)

    naive = {}
    if not args.skip_naive:
        print(f"naive trainer: one run to vocab {max(args.vocab_sizes)} (minutes)...", flush=True)
        naive = naive_run(text, args.vocab_sizes, args.naive_merges)

    results = []
    for v in args.vocab_sizes:
        print(f"vocab {v}...", flush=True)
        train_s, tok = timed(lambda v=v: BPETokenizer.train(text, v), args.repeats)
        row: dict = {"vocab_size": v, "course_train_s": train_s}
        ids = tok.encode_ordinary(text)
        row["course_tokens"] = len(ids)
        if v in naive:
            nv = naive[v]
            row["naive_train_s"] = {k: x for k, x in nv.items() if k != "merges"}
            row["naive_same_merges"] = (
                list(nv["merges"].items()) == list(tok.merges.items())[: len(nv["merges"])]
            )
            row["speedup_vs_naive"] = nv["seconds"] / train_s["median"]
        if have_hf:
            hf_s, hf = timed(lambda v=v: hf_train(text, v), args.repeats)
            row["hf_train_s"] = hf_s
            row["hf_tokens"] = len(hf.encode(text).ids)
            if "naive_train_s" in row:
                row["hf_speedup_vs_naive"] = row["naive_train_s"]["seconds"] / hf_s["median"]

        # encoding: cold = a fresh tokenizer (empty chunk cache), warm = the same one again
        cold = []
        for _ in range(args.repeats):
            fresh = BPETokenizer(tok.ranks, tok.pattern, tok.special_tokens, tok.merges)
            start = time.perf_counter()
            fresh.encode_ordinary(text)
            cold.append(time.perf_counter() - start)
        warm, _ = timed(lambda tok=tok: tok.encode_ordinary(text), args.repeats)
        enc = tok.to_tiktoken()
        tik, tik_ids = timed(lambda enc=enc: enc.encode_ordinary(text), args.repeats)
        row["encode"] = {
            "bytes": n_bytes,
            "course_cold_MBps": mb / statistics.median(cold),
            "course_cold_s": stats(cold),
            "course_warm_MBps": mb / warm["median"],
            "course_warm_s": warm,
            "tiktoken_MBps": mb / tik["median"],
            "tiktoken_s": tik,
            "ids_identical_to_tiktoken": tik_ids == ids,
        }
        results.append(row)

    report = {
        "benchmark": "bpe",
        "device": "cpu",
        "machine": machine(),
        "corpus": "tinyshakespeare",
        "chars": len(text),
        "bytes": n_bytes,
        "pattern": GPT2_SPLIT_PATTERN,
        "repeats": args.repeats,
        "naive": "skipped" if args.skip_naive else "one run, timed per merge",
        "results": results,
    }
    print_table(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json}")
    return report


def markdown_table(report: dict) -> str:
    """The results as a Markdown table with a one-line caption (what bench/README.md and
    notebook 02 show; ``tests/test_bench_results.py`` checks they match the JSON)."""

    def spread(s: dict) -> str:
        return f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})"

    m = report["machine"]
    lines = [
        f"{report['chars']:,} characters of tiny shakespeare, GPT-2 split pattern, "
        f"{m['cpu_count']} CPUs, Python {m['python']}, seconds: median (min-max) of "
        f"{report['repeats']} runs",
        "",
        "| vocab | course train s | naive train s | speed-up | HF tokenizers s | tokens (course) "
        "| tokens (HF) | encode MB/s cold / warm | tiktoken MB/s | same ids |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in report["results"]:
        naive = r.get("naive_train_s")
        naive_s = "skipped"
        if naive:
            label = " (extrapolated)" if naive["extrapolated"] else ""
            naive_s = f"{naive['seconds']:.1f}{label}"
        speed = f"{r['speedup_vs_naive']:.0f}x" if "speedup_vs_naive" in r else "-"
        hf = spread(r["hf_train_s"]) if "hf_train_s" in r else "not installed"
        e = r["encode"]
        hf_tokens = f"{r['hf_tokens']:,}" if "hf_tokens" in r else "-"
        lines.append(
            f"| {r['vocab_size']} | {spread(r['course_train_s'])} | {naive_s} | {speed} | {hf} "
            f"| {r['course_tokens']:,} | {hf_tokens} "
            f"| {e['course_cold_MBps']:.2f} / {e['course_warm_MBps']:.2f} "
            f"| {e['tiktoken_MBps']:.1f} | {'yes' if e['ids_identical_to_tiktoken'] else 'NO'} |"
        )
    return "\n".join(lines)


def print_table(report: dict) -> None:
    print("\n" + markdown_table(report))
    for r in report["results"]:
        if "naive_same_merges" in r and not r["naive_same_merges"]:
            print(f"WARNING: vocab {r['vocab_size']}: naive and course merges differ")


if __name__ == "__main__":
    main()
