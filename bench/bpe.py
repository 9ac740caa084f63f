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
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from llm101_helpers.data import load_corpus
from llm101_helpers.performance import Timing, environment, time_call, time_calls
from llm101_helpers.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer, naive_train

ROOT = Path(__file__).resolve().parents[1]


def stats(timing: Timing) -> dict:
    """A timing as the JSON stores it: median, min, max and every run, in seconds."""
    runs = list(timing.times)
    return {"median": timing.median, "min": min(runs), "max": max(runs), "runs": runs}


def _single_calls(**kwargs) -> dict:
    """``time_call(s)`` options for slow calls: no warm-up, one call per measurement."""
    return {"warmup": 0, "min_measure_s": 0.0, **kwargs}


def timed(fn: Callable[[], object], repeats: int) -> tuple[dict, object]:
    """Time ``repeats`` calls of ``fn`` (``performance.time_call``); return stats and a result."""
    last: list[object] = [None]

    def call() -> None:
        last[0] = fn()

    return stats(time_call(call, **_single_calls(repeats=repeats))), last[0]


def machine() -> dict:
    """``performance.environment()`` plus the Python version and the packages that matter."""

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        **environment("cpu"),
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def have_hf_tokenizers() -> bool:
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        print("Hugging Face tokenizers is not installed: skipping it", file=sys.stderr)
        return False
    return True


def train_row(text: str, v: int, naive: dict | None, have_hf: bool, repeats: int):
    """Training times and token counts at vocabulary size ``v``; also the course tokenizer."""
    train_s, tok = timed(lambda: BPETokenizer.train(text, v), repeats)
    row: dict = {"vocab_size": v, "course_train_s": train_s}
    row["course_tokens"] = len(tok.encode_ordinary(text))
    if naive is not None:
        row["naive_train_s"] = {k: x for k, x in naive.items() if k != "merges"}
        row["naive_same_merges"] = (
            list(naive["merges"].items()) == list(tok.merges.items())[: len(naive["merges"])]
        )
        row["speedup_vs_naive"] = naive["seconds"] / train_s["median"]
    if have_hf:
        hf_s, hf = timed(lambda: hf_train(text, v), repeats)
        row["hf_train_s"] = hf_s
        row["hf_tokens"] = len(hf.encode(text).ids)
        if "naive_train_s" in row:
            row["hf_speedup_vs_naive"] = row["naive_train_s"]["seconds"] / hf_s["median"]
    return row, tok


def encode_row(text: str, tok: BPETokenizer, repeats: int) -> dict:
    """Encode throughput, in turns (``performance.time_calls``): the course encoder with an
    empty chunk cache (cold: a fresh tokenizer per call) and a warm one, and tiktoken."""
    n_bytes = len(text.encode("utf-8"))
    mb = n_bytes / 1e6
    # one fresh tokenizer per call, built before the clock starts (time_calls' probe included)
    fresh = iter([BPETokenizer(tok.ranks, tok.pattern, tok.special_tokens, tok.merges)
                  for _ in range(repeats + 1)])  # fmt: skip
    enc = tok.to_tiktoken()
    timings = time_calls(
        {
            "cold": lambda: next(fresh).encode_ordinary(text),
            "warm": lambda: tok.encode_ordinary(text),
            "tiktoken": lambda: enc.encode_ordinary(text),
        },
        **_single_calls(repeats=repeats),
    )
    cold, warm, tik = (stats(timings[k]) for k in ("cold", "warm", "tiktoken"))
    return {
        "bytes": n_bytes,
        "course_cold_MBps": mb / cold["median"],
        "course_cold_s": cold,
        "course_warm_MBps": mb / warm["median"],
        "course_warm_s": warm,
        "tiktoken_MBps": mb / tik["median"],
        "tiktoken_s": tik,
        "ids_identical_to_tiktoken": enc.encode_ordinary(text) == tok.encode_ordinary(text),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    text = load_corpus("tinyshakespeare")[: args.chars]
    have_hf = have_hf_tokenizers()
    naive = {}
    if not args.skip_naive:
        print(f"naive trainer: one run to vocab {max(args.vocab_sizes)} (minutes)...", flush=True)
        naive = naive_run(text, args.vocab_sizes, args.naive_merges)

    results = []
    for v in args.vocab_sizes:
        print(f"vocab {v}...", flush=True)
        row, tok = train_row(text, v, naive.get(v), have_hf, args.repeats)
        row["encode"] = encode_row(text, tok, args.repeats)
        results.append(row)

    report = {
        "benchmark": "bpe",
        "device": "cpu",
        "machine": machine(),
        "corpus": "tinyshakespeare",
        "chars": len(text),
        "bytes": len(text.encode("utf-8")),
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
        f"{m['cpus']} CPUs, Python {m['python']}, seconds: median (min-max) of "
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
