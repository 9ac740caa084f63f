"""Benchmark: heads one after another (the wrapper) or all at once (the explicit module), on a CPU.

Notebook 07 builds multi-head attention twice: ``MultiHeadAttentionWrapper`` runs
``num_heads`` small ``CausalAttention`` heads in turn, ``MultiHeadAttention``
(explicit path, ``use_sdpa=False``) does every head in a few large operations.
On a CPU the wrapper's forward pass can be the faster one. This script measures
why, in two child processes that differ only in how glibc's ``malloc`` hands out
large blocks:

- ``default``: glibc hands large freed blocks back to the system (a block above
  its *mmap threshold*, at most 32 MiB on 64-bit Linux, is ``munmap``-ed; free
  space at the top of the heap beyond the *trim threshold* is trimmed), so the
  next call maps fresh pages and the kernel zero-fills each one on first touch;
- ``no-mmap``: ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` set to
  2 GB, so large blocks are reused from the heap like small ones.

The explicit module's ``(B, H, T, T)`` temporaries are ``num_heads`` times larger
than the wrapper's ``(B, T, T)`` ones; at batch 4, 512 tokens and 8 heads one of
them is 32 MiB. Both modules have the same weights and are measured in turns with
``llm101_helpers.performance.time_calls``. glibc only: on macOS or Windows the
two children measure the same allocator.

Usage::

    .venv/bin/python bench/heads.py --json bench/results/heads_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from llm101_helpers.attention import MultiHeadAttention, MultiHeadAttentionWrapper
from llm101_helpers.performance import environment, time_calls

SHAPE = {"batch": 4, "d_model": 256, "num_heads": 8}
LENGTHS = [256, 512]
ALLOCATORS = {
    "default": {},
    "no-mmap": {"MALLOC_MMAP_THRESHOLD_": "2000000000", "MALLOC_TRIM_THRESHOLD_": "2000000000"},
}


def modules(seq: int) -> dict[str, torch.nn.Module]:
    """The wrapper and the explicit module computing the same thing (out_proj the identity)."""
    torch.manual_seed(0)
    d, h = SHAPE["d_model"], SHAPE["num_heads"]
    wrapper = MultiHeadAttentionWrapper(d, d // h, seq, 0.0, h)
    explicit = MultiHeadAttention(d, d, seq, 0.0, h, use_sdpa=False)
    with torch.no_grad():  # explicit's projections = the heads' stacked; out_proj = identity
        for name in ("W_query", "W_key", "W_value"):
            stacked = torch.cat([getattr(head, name).weight for head in wrapper.heads])
            getattr(explicit, name).weight.copy_(stacked)
        explicit.out_proj.weight.copy_(torch.eye(d))
        explicit.out_proj.bias.zero_()
    return {"wrapper": wrapper.eval(), "explicit": explicit.eval()}


def measure(seq: int, repeats: int) -> dict:
    """Forward and forward+backward medians (seconds) of both modules at one length."""
    mods = modules(seq)
    x = torch.randn(SHAPE["batch"], seq, SHAPE["d_model"])
    xg = x.clone().requires_grad_()
    torch.testing.assert_close(mods["wrapper"](x), mods["explicit"](x), atol=1e-5, rtol=1e-4)

    def forward(m):
        def run():
            with torch.no_grad():
                m(x)

        return run

    def forward_backward(m):
        return lambda: m(xg).sum().backward()

    fwd = time_calls({k: forward(m) for k, m in mods.items()}, warmup=2, repeats=repeats)
    both = time_calls({k: forward_backward(m) for k, m in mods.items()}, warmup=2, repeats=repeats)
    scores_mib = SHAPE["batch"] * SHAPE["num_heads"] * seq * seq * 4 / 2**20
    return {
        "seq": seq,
        "all_heads_scores_mib": scores_mib,
        "one_head_scores_mib": scores_mib / SHAPE["num_heads"],
        **{f"{k}_forward": fwd[k].to_dict() for k in mods},
        **{f"{k}_forward_backward": both[k].to_dict() for k in mods},
    }


def child(repeats: int) -> None:
    """Run in a fresh process: print the rows as JSON on stdout."""
    torch.set_num_threads(int(os.environ.get("LLM101_BENCH_THREADS", "2")))
    print(json.dumps([measure(seq, repeats) for seq in LENGTHS]))


def run_children(repeats: int) -> dict[str, list[dict]]:
    """One child process per allocator setting, so the setting is read at process start."""
    results = {}
    for name, extra in ALLOCATORS.items():
        cmd = [sys.executable, __file__, "--child", "--repeats", str(repeats)]
        out = subprocess.run(cmd, env={**os.environ, **extra}, capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
        results[name] = json.loads(out.strip().splitlines()[-1])
    return results


def markdown_table(report: dict) -> str:
    """The stored table: median ms per module, allocator and length."""
    env = report["environment"]
    lines = [
        f"`bench/heads.py`, {env['device']}, torch {env['torch']}, {env['date']}; "
        f"batch {SHAPE['batch']}, {SHAPE['d_model']} dims, {SHAPE['num_heads']} heads, "
        "float32; median ms",
        "",
        "| malloc | tokens | one (B, H, T, T) tensor MiB | wrapper fwd | explicit fwd "
        "| wrapper fwd+bwd | explicit fwd+bwd |",  # fmt: skip
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in report["results"].items():
        for r in rows:
            ms = {k: v["median"] * 1e3 for k, v in r.items() if isinstance(v, dict)}
            lines.append(
                f"| {name} | {r['seq']} | {r['all_heads_scores_mib']:.0f} | "
                f"{ms['wrapper_forward']:.1f} | {ms['explicit_forward']:.1f} | "
                f"{ms['wrapper_forward_backward']:.1f} | {ms['explicit_forward_backward']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeats)
        return
    results = run_children(args.repeats)
    report = {"environment": environment("cpu"), "shape": SHAPE, "results": results}
    print(markdown_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
