"""Benchmark: text generation with and without the KV cache.

The course GPT in its ``base`` shape (6 layers, 6 heads, 384 dimensions,
context 256, vocabulary 512; random weights: speed does not depend on what was
learned) generates ``N`` new tokens greedily from a one-token prompt, with
``generate(..., use_cache=False)`` (the whole window re-run at every step) and
with ``use_cache=True`` (each step runs one position against the stored keys
and values). Both are timed with ``llm101_helpers.performance.time_calls``
(warm-up, median of ``--repeats``, the two measured in turns), and the two
outputs are compared token for token.

Target: the cached generation at least 3x the tokens per second of the
uncached one for 256 new tokens. With a one-token prompt, the 256th token is
the first past the context: that one step rebuilds the cache from the full
window, as it must (learned positions cannot shift).

Usage::

    .venv/bin/python bench/generate.py --json bench/results/generate_cpu.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from llm101_helpers.device import describe_device, get_device
from llm101_helpers.generation import generate
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.performance import environment, time_calls

TARGET = {"new_tokens": 256, "speedup": 3.0}


def run(model: GPT, prompt: torch.Tensor, n: int, use_cache: bool) -> torch.Tensor:
    return generate(model, prompt, n, greedy=True, use_cache=use_cache)


def bench(model: GPT, device: torch.device, lengths: list[int], repeats: int) -> list[dict]:
    prompt = torch.zeros(1, 1, dtype=torch.long, device=device)
    rows = []
    for n in lengths:
        row = {"new_tokens": n}
        modes = {"uncached": False, "cached": True}
        outputs = {key: run(model, prompt, n, use_cache) for key, use_cache in modes.items()}
        calls = {
            key: lambda u=use_cache, n=n: run(model, prompt, n, u)
            for key, use_cache in modes.items()
        }
        for key, t in time_calls(calls, device, warmup=1, repeats=repeats).items():
            row[key] = {**t.to_dict(), "tokens_per_s": n / t.median}
        row["speedup"] = row["cached"]["tokens_per_s"] / row["uncached"]["tokens_per_s"]
        row["same_tokens"] = bool(torch.equal(outputs["cached"], outputs["uncached"]))
        rows.append(row)
        print(
            f"  {n:4d} new tokens: uncached {row['uncached']['tokens_per_s']:8.1f} tok/s, "
            f"cached {row['cached']['tokens_per_s']:8.1f} tok/s, x{row['speedup']:.2f}, "
            f"same tokens: {row['same_tokens']}",
            flush=True,
        )
    return rows


def markdown_table(report: dict) -> str:
    c = report["config"]
    lines = [
        f"{report['device']}, torch {report['torch']}, {report['date']}; GPT `base` "
        f"({c['num_layers']} layers, {c['num_heads']} heads, {c['d_model']} dims, context "
        f"{c['context_length']}, {report['params']:,} parameters), {report['dtype']}, batch 1, "
        f"greedy, one-token prompt; median of {report['repeats']}",
        "",
        "| new tokens | uncached tokens/s | cached tokens/s | speed-up | same tokens |",
        "|---:|---:|---:|---:|:---:|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['new_tokens']} | {r['uncached']['tokens_per_s']:,.1f} | "
            f"{r['cached']['tokens_per_s']:,.1f} | {r['speedup']:.2f}x | "
            f"{'yes' if r['same_tokens'] else '**no**'} |"
        )
    t = report["target"]
    lines += [
        "",
        f"Target: at least {t['target']}x at {t['new_tokens']} new tokens; measured "
        f"{t['measured']:.2f}x ({'met' if t['met'] else '**not met**'}).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best one)")
    parser.add_argument("--lengths", type=int, nargs="*", default=[32, 64, 128, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = get_device(args.device)
    cfg = GPTConfig.preset("base")
    torch.manual_seed(0)
    model = GPT(cfg).to(device, getattr(torch, args.dtype)).eval()
    print(describe_device(device), "torch", torch.__version__, flush=True)
    rows = bench(model, device, args.lengths, args.repeats)
    at = next((r for r in rows if r["new_tokens"] == TARGET["new_tokens"]), None)
    report = {
        **environment(device),
        "dtype": args.dtype,
        "config": cfg.to_dict(),
        "params": model.num_parameters(),
        "repeats": args.repeats,
        "rows": rows,
        "target": {
            "new_tokens": TARGET["new_tokens"],
            "target": TARGET["speedup"],
            "measured": at["speedup"] if at else None,
            "met": bool(at and at["speedup"] >= TARGET["speedup"]),
        },
    }
    print()
    print(markdown_table(report) if at else "(no 256-token row: target not measured)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
