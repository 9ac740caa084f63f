"""Benchmark: the course's multi-head attentions against each other and PyTorch's.

Two parts, every figure a median over ``--repeats`` measurements after warm-up
(``llm101_helpers.performance.time_calls``, which measures the compared
implementations in turns, so a slow spell of the machine hits them alike),
synchronised on a GPU:

1. **Implementations** at one shape (CPU: batch 8, 256 tokens; GPU: batch 8,
   1024 tokens; 768 dimensions, 12 heads): the wrapper of single heads, the
   course ``MultiHeadAttention`` on its explicit path (mask, softmax), the
   fused-QKV variant on the explicit and the SDPA path, ``MultiHeadAttention``
   on its SDPA path, and ``torch.nn.MultiheadAttention``, all with the same
   weights and checked equal before they are timed. Forward, and forward plus
   backward, with throughput in tokens per second and the ratio to
   ``nn.MultiheadAttention``.
2. **Sequence length**: the explicit path against the SDPA path at growing
   lengths: time and peak memory (``performance.peak_memory``: the CUDA
   allocator's peak, or on a CPU the tensor storage alive at once).

Targets, each a ratio within this one run:

- the course's SDPA path at least 0.9x ``nn.MultiheadAttention``'s
  forward+backward throughput at the implementation shape;
- the SDPA path at least 1.5x (CPU) or 3x (GPU) faster than the explicit path
  for forward+backward at 1024 tokens.

Usage::

    .venv/bin/python bench/attention.py --json bench/results/attention_cpu.json
    python bench/attention.py --device cuda --json bench/results/attention_<gpu>.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from llm101_helpers.device import get_device
from llm101_helpers.performance import attention_variants, environment, peak_memory, time_calls

SDPA_NAME, EXPLICIT_NAME, TORCH_NAME = "MHA + SDPA", "MHA explicit", "nn.MultiheadAttention"


def defaults(device: torch.device) -> dict:
    """Shapes for this kind of device: smaller on a CPU so the run takes minutes, not hours."""
    if device.type == "cuda":
        return {"batch": 8, "seq": 1024, "sweep": [128, 256, 512, 1024, 2048, 4096],
                "sweep_batch": 4, "dtypes": ["float32", "bfloat16"], "repeats": 20}  # fmt: skip
    return {"batch": 8, "seq": 256, "sweep": [128, 256, 512, 1024],
            "sweep_batch": 2, "dtypes": ["float32"], "repeats": 7}  # fmt: skip


def forward_backward(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor):
    """One training-style call: forward, backward into the input and the weights."""

    def run() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).backward(grad)

    return run


def forward_only(module: torch.nn.Module, x: torch.Tensor):
    def run() -> None:
        with torch.no_grad():
            module(x)

    return run


def _inputs(batch: int, seq: int, dim: int, dtype: torch.dtype, device: torch.device, seed: int):
    g = torch.Generator().manual_seed(seed)  # made on the CPU: the same numbers everywhere
    x = torch.randn(batch, seq, dim, generator=g).to(device, dtype).requires_grad_()
    grad = torch.randn(batch, seq, dim, generator=g).to(device, dtype)
    return x, grad


def check_equal(variants: dict, x: torch.Tensor, dtype: torch.dtype) -> float:
    """Assert every variant gives the explicit path's output; return the largest difference."""
    tol = {"atol": 2e-4, "rtol": 1e-3} if dtype == torch.float32 else {"atol": 5e-2, "rtol": 5e-2}
    with torch.no_grad():
        ref = variants[EXPLICIT_NAME](x).float()
        worst = 0.0
        for name, module in variants.items():
            out = module(x).float()
            torch.testing.assert_close(out, ref, **tol, msg=lambda m, n=name: f"{n}: {m}")
            worst = max(worst, (out - ref).abs().max().item())
    return worst


def bench_implementations(args, device, dtype_name: str) -> dict:
    dtype = getattr(torch, dtype_name)
    variants = attention_variants(args.dim, args.heads, args.seq, seed=0)
    variants = {n: m.to(device, dtype) for n, m in variants.items()}
    x, grad = _inputs(args.batch, args.seq, args.dim, dtype, device, seed=1)
    max_diff = check_equal(variants, x, dtype)
    rows = []
    tokens = args.batch * args.seq
    fwds = time_calls({n: forward_only(m, x) for n, m in variants.items()}, device, warmup=2,
                      repeats=args.repeats)  # fmt: skip
    fbs = time_calls({n: forward_backward(m, x, grad) for n, m in variants.items()}, device,
                     warmup=2, repeats=args.repeats)  # fmt: skip
    for name in variants:
        fwd, fb = fwds[name], fbs[name]
        rows.append({"name": name, "forward": fwd.to_dict(), "forward_backward": fb.to_dict(),
                     "fwd_bwd_tokens_per_s": tokens / fb.median})  # fmt: skip
        print(f"  {name:<24} forward {fwd}   forward+backward {fb}", flush=True)
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        r["fwd_bwd_vs_torch"] = (
            r["fwd_bwd_tokens_per_s"] / by_name[TORCH_NAME]["fwd_bwd_tokens_per_s"]
        )
    return {"dtype": dtype_name, "batch": args.batch, "seq": args.seq, "dim": args.dim,
            "heads": args.heads, "max_abs_diff": max_diff, "rows": rows}  # fmt: skip


def bench_sweep(args, device, dtype_name: str) -> dict:
    dtype = getattr(torch, dtype_name)
    rows = []
    for seq in args.sweep:
        variants = attention_variants(args.dim, args.heads, seq, seed=0)
        pair = {n: variants[n].to(device, dtype) for n in (EXPLICIT_NAME, SDPA_NAME)}
        x, grad = _inputs(args.sweep_batch, seq, args.dim, dtype, device, seed=2)
        check_equal(pair, x, dtype)
        row = {"seq": seq}
        repeats = max(3, args.repeats // 2)
        fwds = time_calls({n: forward_only(m, x) for n, m in pair.items()}, device, warmup=1,
                          repeats=repeats)  # fmt: skip
        fbs = time_calls({n: forward_backward(m, x, grad) for n, m in pair.items()}, device,
                         warmup=1, repeats=repeats)  # fmt: skip
        for key, name in (("explicit", EXPLICIT_NAME), ("sdpa", SDPA_NAME)):
            m = pair[name]
            row[key] = {
                "forward": fwds[name].to_dict(),
                "forward_backward": fbs[name].to_dict(),
                "forward_peak_bytes": peak_memory(forward_only(m, x), device),
                "forward_backward_peak_bytes": peak_memory(forward_backward(m, x, grad), device),
            }
        row["fwd_bwd_speedup"] = (
            row["explicit"]["forward_backward"]["median"]
            / row["sdpa"]["forward_backward"]["median"]
        )
        row["forward_speedup"] = (
            row["explicit"]["forward"]["median"] / row["sdpa"]["forward"]["median"]
        )
        rows.append(row)
        print(
            f"  T={seq:<5} explicit {row['explicit']['forward_backward']['median'] * 1e3:9.1f} ms "
            f"{row['explicit']['forward_backward_peak_bytes'] / 2**20:8.1f} MiB   SDPA "
            f"{row['sdpa']['forward_backward']['median'] * 1e3:9.1f} ms "
            f"{row['sdpa']['forward_backward_peak_bytes'] / 2**20:8.1f} MiB   "
            f"x{row['fwd_bwd_speedup']:.2f}",
            flush=True,
        )
    return {"dtype": dtype_name, "batch": args.sweep_batch, "dim": args.dim, "heads": args.heads,
            "rows": rows}  # fmt: skip


def targets(report: dict) -> list[dict]:
    """The targets in this module's docstring, read off the float32 results of this run."""
    gpu = report["device_type"] == "cuda"
    impl = next(r for r in report["implementations"] if r["dtype"] == "float32")
    ratio = next(r for r in impl["rows"] if r["name"] == SDPA_NAME)["fwd_bwd_vs_torch"]
    sweep = next(s for s in report["sweep"] if s["dtype"] == "float32")
    at_1024 = next((r for r in sweep["rows"] if r["seq"] == 1024), None)
    need = 3.0 if gpu else 1.5
    out = [{"what": f"course SDPA path vs nn.MultiheadAttention, forward+backward throughput, "
                    f"batch {impl['batch']}, {impl['seq']} tokens",
            "target": 0.9, "measured": ratio, "met": ratio >= 0.9}]  # fmt: skip
    if at_1024:
        s = at_1024["fwd_bwd_speedup"]
        what = f"SDPA path vs explicit path, forward+backward, batch {sweep['batch']}, 1024 tokens"
        out.append({"what": what,
                    "target": need, "measured": s, "met": s >= need})  # fmt: skip
    return out


def markdown_table(report: dict) -> str:
    lines = [f"{report['device']}, torch {report['torch']}, {report['date']}", ""]
    for impl in report["implementations"]:
        lines += [
            f"**Implementations**, {impl['dtype']}, batch {impl['batch']}, {impl['seq']} tokens, "
            f"{impl['dim']} dims, {impl['heads']} heads; median ms ± half the interquartile range",
            "",
            "| implementation | forward ms | forward+backward ms | fwd+bwd tokens/s | vs nn.MHA |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in impl["rows"]:
            f, fb = r["forward"], r["forward_backward"]
            lines.append(
                f"| {r['name']} | {f['median'] * 1e3:.1f} ± {f['iqr'] * 5e2:.1f} | "
                f"{fb['median'] * 1e3:.1f} ± {fb['iqr'] * 5e2:.1f} | "
                f"{r['fwd_bwd_tokens_per_s']:,.0f} | {r['fwd_bwd_vs_torch']:.2f}x |"
            )
        lines.append("")
    for sweep in report["sweep"]:
        lines += [
            f"**Sequence length**, {sweep['dtype']}, batch {sweep['batch']}, {sweep['dim']} dims, "
            f"{sweep['heads']} heads: explicit path vs SDPA path; peak memory in MiB",
            "",
            "| tokens | explicit fwd+bwd ms | SDPA fwd+bwd ms | speed-up | forward speed-up "
            "| explicit peak MiB | SDPA peak MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in sweep["rows"]:
            e, s = r["explicit"], r["sdpa"]
            lines.append(
                f"| {r['seq']} | {e['forward_backward']['median'] * 1e3:.1f} | "
                f"{s['forward_backward']['median'] * 1e3:.1f} | {r['fwd_bwd_speedup']:.2f}x | "
                f"{r['forward_speedup']:.2f}x | {e['forward_backward_peak_bytes'] / 2**20:.1f} | "
                f"{s['forward_backward_peak_bytes'] / 2**20:.1f} |"
            )
        lines.append("")
    lines += ["| target | wanted | measured | met |", "|---|---:|---:|:---:|"]
    for t in report["targets"]:
        met = "yes" if t["met"] else "**no**"
        lines.append(f"| {t['what']} | {t['target']}x | {t['measured']:.2f}x | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best one)")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--seq", type=int)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--sweep", type=int, nargs="*")
    parser.add_argument("--sweep-batch", type=int)
    parser.add_argument("--dtypes", nargs="*")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = get_device(args.device)
    for key, value in defaults(device).items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    report = {
        **environment(device),
        "implementations": [],
        "sweep": [],
    }
    print(report["device"], "torch", report["torch"], flush=True)
    for dtype_name in args.dtypes:
        print(f"implementations, {dtype_name}:", flush=True)
        report["implementations"].append(bench_implementations(args, device, dtype_name))
        print(f"sequence length, {dtype_name}:", flush=True)
        report["sweep"].append(bench_sweep(args, device, dtype_name))
    report["targets"] = targets(report)
    print()
    print(markdown_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
