"""Benchmark: the course's training against a PyTorch-modules reference, in turns, in one run.

nanoGPT's CPU configuration for character-level tiny shakespeare: 4 layers, 4 heads, 128
dims, context 64, batch 12, 2,000 steps, dropout 0, learning rate 1e-3 (100 warmup steps,
cosine decay to 1e-4), AdamW (beta2 0.99, weight decay 0.1), gradient clipping at 1.0.

- **course**: the course's ``GPT``, trained by what ``llm101_helpers.training.train`` runs
  at each step (``get_batch``, ``learning_rate``, its fused AdamW and ``_step``; a test
  checks that these steps reproduce ``train``'s weights);
- **reference**: the same shape from PyTorch's own modules only (``nn.Embedding``,
  ``nn.TransformerEncoderLayer`` pre-LN with tanh-GELU and a causal mask, ``nn.LayerNorm``,
  ``nn.Linear``), trained as nanoGPT's ``train.py`` trains on a CPU: ``torch.optim.AdamW``
  with its defaults, ``clip_grad_norm_``, batches stacked from slices.

Both see the same batches. They run in turns, ``--chunk`` steps each, so a slow spell of
the shared machine lands on both; tokens/s sums each one's own chunks (evaluation
excluded). Also reported: both validation losses (200 batches), a profile of the course's
step, forward+backward+step of the two models at two shapes (the same optimizer for
both), and MFU against a matmul peak measured at the model's own sizes and a larger one.
Usage (``--iters 200`` for a quick look)::

    LLM101_DATA_MIRROR=../shared/data/mirror .venv/bin/python bench/train.py \
        --json bench/results/train_cpu.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from llm101_helpers.data import load_corpus
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.performance import environment, time_calls
from llm101_helpers.tokenizers import CharTokenizer
from llm101_helpers.training import TrainConfig, evaluate, get_batch, learning_rate, split_ids
from llm101_helpers.training.loop import _optimizer, _step, _windows

# --- the reference: the same shape from PyTorch's modules --------------------------------


class ReferenceGPT(nn.Module):
    """A pre-LN GPT from PyTorch's own modules, initialised like the course's ``GPT``.

    ``nn.TransformerEncoderLayer`` carries a bias on the Q, K and V projections, which
    the course's configuration leaves out (``3 * d_model`` more parameters per layer).
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg  # read by llm101_helpers.training.evaluate
        C, L = cfg.d_model, cfg.num_layers
        self.tok = nn.Embedding(cfg.vocab_size, C)
        self.pos = nn.Embedding(cfg.context_length, C)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                C, cfg.num_heads, 4 * C, dropout=cfg.dropout, batch_first=True,
                norm_first=True, activation=nn.GELU(approximate="tanh"),
            )
            for _ in range(L)
        )  # fmt: skip
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, cfg.vocab_size, bias=False)
        mask = nn.Transformer.generate_square_subsequent_mask(cfg.context_length)
        self.register_buffer("mask", mask, persistent=False)  # (T, T), -inf above the diagonal
        for name, p in self.named_parameters():
            if p.dim() == 2:  # GPT-2's initialisation, as the course's GPT
                residual = name.endswith(("out_proj.weight", "linear2.weight"))
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * L) if residual else 0.02)
            elif "norm" not in name:
                nn.init.zeros_(p)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))  # (B, T, C)
        for layer in self.layers:
            x = layer(x, src_mask=self.mask[:T, :T], is_causal=True)  # (B, T, C)
        return self.head(self.norm(x))  # (B, T, V)


def reference_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """nanoGPT's AdamW on a CPU: weight decay on matrices, every other option its default."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": other, "weight_decay": 0.0}]  # fmt: skip
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def reference_batch(ids: torch.Tensor, starts: torch.Tensor, T: int):
    """nanoGPT's ``get_batch``: one slice per window, stacked."""
    x = torch.stack([ids[i : i + T] for i in starts.tolist()])  # (B, T)
    y = torch.stack([ids[i + 1 : i + 1 + T] for i in starts.tolist()])  # (B, T)
    return x, y


def reference_step(model, optimizer, x, y, lr: float, cfg: TrainConfig) -> torch.Tensor:
    """nanoGPT's training step (no gradient accumulation, float32)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


# --- the configuration ------------------------------------------------------------------


def configs(vocab_size: int, iters: int) -> tuple[GPTConfig, TrainConfig]:
    """nanoGPT's CPU configuration: the model and the training hyperparameters."""
    cfg = GPTConfig(vocab_size=vocab_size, context_length=64, d_model=128, num_heads=4,
                    num_layers=4, dropout=0.0)  # fmt: skip
    train_cfg = TrainConfig(
        max_iters=iters, batch_size=12, lr=1e-3, min_lr=1e-4, warmup_iters=100,
        weight_decay=0.1, betas=(0.9, 0.99), grad_clip=1.0, seed=1337, progress=False,
    )  # fmt: skip
    return cfg, train_cfg


# --- training both in turns ---------------------------------------------------------------


def train_in_turns(cfg: GPTConfig, tcfg: TrainConfig, train_ids, chunk: int, log=print) -> dict:
    """Train the course's GPT and the reference on the same batches, ``chunk`` steps each in
    turn; return the models and each one's seconds per chunk."""
    T = cfg.context_length
    torch.manual_seed(tcfg.seed)
    course = GPT(cfg).train()
    torch.manual_seed(tcfg.seed)
    ref = ReferenceGPT(cfg).train()
    windows = _windows(course, train_ids, "train_ids")  # checks the ids once, as train() does
    opt_c, opt_r = _optimizer(course, tcfg, torch.device("cpu")), reference_optimizer(ref, tcfg)
    gen_c, gen_r = (torch.Generator().manual_seed(tcfg.seed) for _ in range(2))
    times = {"course": [], "reference": []}
    for first in range(0, tcfg.max_iters, chunk):
        steps = range(first, min(first + chunk, tcfg.max_iters))
        t0 = time.perf_counter()
        for step in steps:
            x, y = get_batch(windows, tcfg.batch_size, T, gen_c)
            loss_c = _step(course, opt_c, x, y, learning_rate(step, tcfg), tcfg)
        loss_c = loss_c.item()
        t1 = time.perf_counter()
        for step in steps:
            starts = torch.randint(len(windows), (tcfg.batch_size,), generator=gen_r)
            x, y = reference_batch(train_ids, starts, T)
            loss_r = reference_step(ref, opt_r, x, y, learning_rate(step, tcfg), tcfg)
        loss_r = loss_r.item()
        t2 = time.perf_counter()
        times["course"].append(t1 - t0)
        times["reference"].append(t2 - t1)
        log(f"steps {steps[-1] + 1:5d}: loss course {loss_c:.3f}, reference {loss_r:.3f}; "
            f"s/chunk {t1 - t0:.2f} vs {t2 - t1:.2f}")  # fmt: skip
    return {"models": {"course": course, "reference": ref}, "chunk_seconds": times}


def _rate_summary(chunk_seconds: list[float], tokens_per_chunk: int, total_tokens: int) -> dict:
    rates = sorted(tokens_per_chunk / s for s in chunk_seconds[:-1] or chunk_seconds)
    q25, _, q75 = statistics.quantiles(rates, n=4, method="inclusive") if len(rates) > 1 else (
        rates[0], None, rates[0])  # fmt: skip
    return {
        "tokens_per_second": total_tokens / sum(chunk_seconds),
        "seconds": sum(chunk_seconds),
        "chunk_tokens_per_second": {"median": statistics.median(rates), "q25": q25, "q75": q75},
    }


# --- the step at two shapes, the profile, the matmul peak ---------------------------------

STEP_SHAPES = [  # (batch, context, d_model, num_heads, num_layers)
    (12, 64, 128, 4, 4),
    (8, 256, 384, 6, 6),
]


def compare_steps(vocab_size: int, repeats: int) -> list[dict]:
    """Forward+backward+AdamW step of both models, in turns, with the same fused optimizer."""
    rows = []
    tcfg = TrainConfig(progress=False)
    for B, T, C, H, L in STEP_SHAPES:
        cfg = GPTConfig(vocab_size=vocab_size, context_length=T, d_model=C, num_heads=H,
                        num_layers=L)  # fmt: skip
        torch.manual_seed(0)
        x, y = torch.randint(vocab_size, (B, T)), torch.randint(vocab_size, (B, T))
        fns = {}
        for name, model in (("course", GPT(cfg)), ("reference", ReferenceGPT(cfg))):
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
            step = _step if name == "course" else reference_step
            fns[name] = lambda m=model, o=opt, s=step, x=x, y=y: s(m.train(), o, x, y, 1e-4, tcfg)
        t = time_calls(fns, warmup=2, repeats=repeats)
        rows.append({"batch": B, "context": T, "d_model": C, "num_heads": H, "num_layers": L,
                     **{name: t[name].to_dict() for name in fns},
                     "speedup": t["reference"].median / t["course"].median})  # fmt: skip
    return rows


def profile_course_step(cfg: GPTConfig, tcfg: TrainConfig, train_ids, steps: int = 10) -> list:
    """The operators that take the most time in ``steps`` course steps (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = GPT(cfg).train()
    windows = _windows(model, train_ids, "train_ids")
    opt = _optimizer(model, tcfg, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    T = cfg.context_length
    batches = [get_batch(windows, tcfg.batch_size, T, gen) for _ in range(steps + 3)]
    for x, y in batches[:3]:  # warm-up
        _step(model, opt, x, y, tcfg.lr, tcfg)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for x, y in batches[3:]:
            _step(model, opt, x, y, tcfg.lr, tcfg)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"name": e.key, "calls_per_step": e.count / steps,
             "self_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
             "share": e.self_cpu_time_total / total} for e in events[:10]]  # fmt: skip


def matmul_times(cfg: GPTConfig, tokens: int, repeats: int) -> dict[tuple, list[float]]:
    """Seconds of float32 matmuls ``(m, k) @ (k, n)``: the model's own and a 2048^3 one."""
    C, V = cfg.d_model, cfg.vocab_size
    shapes = [(tokens, C, 3 * C), (tokens, C, 4 * C), (tokens, 4 * C, C), (tokens, C, V),
              (2048, 2048, 2048)]  # fmt: skip
    operands = {s: (torch.randn(s[0], s[1]), torch.randn(s[1], s[2])) for s in shapes}
    fns = {s: (lambda a=a, b=b: torch.mm(a, b)) for s, (a, b) in operands.items()}
    return {s: list(t.times) for s, t in time_calls(fns, warmup=2, repeats=repeats).items()}


def matmul_peaks(*runs: dict[tuple, list[float]]) -> list[dict]:
    """GFLOP/s per shape over the measurements of all ``runs``: median and IQR."""
    rows = []
    for m, k, n in runs[0]:
        times = [t for run in runs for t in run[(m, k, n)]]
        q25, median, q75 = statistics.quantiles(times, n=4, method="inclusive")
        gflop = 2 * m * k * n / 1e9
        rows.append({"m": m, "k": k, "n": n, "measurements": len(times),
                     "gflops": gflop / median, "gflops_q25": gflop / q75,
                     "gflops_q75": gflop / q25})  # fmt: skip
    return rows


# --- the report -----------------------------------------------------------------------------


def _targets(r: dict) -> list[dict]:
    c, ref = r["course"], r["reference"]
    rows = [{"target": "course tokens/s / reference tokens/s, training", "wanted": 1.3,
             "measured": c["tokens_per_second"] / ref["tokens_per_second"]},
            {"target": "course val loss", "wanted": 1.89, "measured": c["val_loss"]}]  # fmt: skip
    for s in r["steps"]:
        rows.append({"target": f"step speed-up vs reference, batch {s['batch']} x {s['context']}, "
                     f"{s['d_model']} dims, {s['num_layers']} layers",
                     "wanted": 1.0, "measured": s["speedup"]})  # fmt: skip
    for row in rows:
        lower_is_better = row["target"].endswith("val loss")
        row["met"] = (row["measured"] <= row["wanted"]) == lower_is_better or (
            row["measured"] == row["wanted"])  # fmt: skip
    return rows


def markdown_table(r: dict) -> str:
    """The tables of bench/README.md, from the JSON report."""
    c, ref = r["course"], r["reference"]
    lines = [
        f"{r['device']}, {r['machine']}, torch {r['torch']}, {r['date']}; "
        f"tiny shakespeare, characters, {r['iters']} steps of {r['batch_size']} x "
        f"{r['context_length']} tokens, in turns of {r['chunk']} steps",
        "",
        "| model | parameters | val loss | tokens/s | per-chunk tokens/s, median (IQR) | train s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in (("course `GPT`, `train`'s step", c), ("PyTorch-modules reference", ref)):
        q = m["chunk_tokens_per_second"]
        lines.append(f"| {name} | {m['params']:,} | {m['val_loss']:.3f} | "
                     f"{m['tokens_per_second']:,.0f} | {q['median']:,.0f} ({q['q25']:,.0f}-"
                     f"{q['q75']:,.0f}) | {m['seconds']:.0f} |")  # fmt: skip
    lines += ["", "| forward+backward+AdamW step | course ms | reference ms | speed-up |",
              "|---|---:|---:|---:|"]  # fmt: skip
    for s in r["steps"]:
        lines.append(f"| batch {s['batch']} x {s['context']}, {s['d_model']} dims, "
                     f"{s['num_layers']} layers | {s['course']['median'] * 1e3:.1f} | "
                     f"{s['reference']['median'] * 1e3:.1f} | {s['speedup']:.2f}x |")  # fmt: skip
    lines += ["", "| operator (course step) | calls/step | ms/step | share |"]
    lines += ["|---|---:|---:|---:|"]
    lines += [f"| `{p['name']}` | {p['calls_per_step']:g} | {p['self_ms_per_step']:.2f} | "
              f"{p['share']:.0%} |" for p in r["profile"]]  # fmt: skip
    lines += _mfu_lines(r) + ["", "| target | wanted | measured | met |", "|---|---:|---:|:---:|"]
    lines += [f"| {t['target']} | {t['wanted']:g} | {t['measured']:.2f} | "
              f"{'yes' if t['met'] else 'no'} |" for t in r["targets"]]  # fmt: skip
    return "\n".join(lines)


def _mfu_lines(r: dict) -> list[str]:
    lines = ["", "| float32 matmul (m x k x n) | GFLOP/s, median (IQR) |", "|---|---:|"]
    lines += [f"| {p['m']} x {p['k']} x {p['n']} | {p['gflops']:.1f} ({p['gflops_q25']:.1f}-"
              f"{p['gflops_q75']:.1f}) |" for p in r["peaks"]]  # fmt: skip
    m = r["mfu"]
    lines += ["", f"Course training: {r['flops_per_token']:,} FLOPs/token x tokens/s = "
              f"{m['achieved_gflops']:.1f} GFLOP/s; MFU {m['low']:.0%}-{m['high']:.0%} of the "
              f"2048^3 matmul's rate (its IQR), {m['of_model_sizes']:.0%} of the model-size "
              "matmuls' median rate."]  # fmt: skip
    return lines


def summary(r: dict) -> str:
    """The "what the numbers say" lines of bench/README.md, every figure from the report."""
    c, ref = r["course"], r["reference"]
    ratio = c["tokens_per_second"] / ref["tokens_per_second"]
    top = r["profile"][0]
    steps = " and ".join(
        f"{s['course']['median'] * 1e3:.1f} ms against {s['reference']['median'] * 1e3:.1f} "
        f"({s['batch']} x {s['context']})"
        for s in r["steps"]
    )
    lines = [
        f"- The course trained at {c['tokens_per_second']:,.0f} tokens/s and the reference at "
        f"{ref['tokens_per_second']:,.0f}: {ratio:.2f}x (target 1.3x); validation loss "
        f"{c['val_loss']:.3f} against the reference's {ref['val_loss']:.3f} (target: <= 1.89).",
        f"- With the same fused AdamW for both models, one step of the course's GPT took {steps}.",
        f"- The largest share of the course's step is `{top['name']}` ({top['share']:.0%}); the "
        f"2048^3 matmul ran at {r['peaks'][-1]['gflops']:.1f} GFLOP/s, so MFU is "
        f"{r['mfu']['low']:.0%}-{r['mfu']['high']:.0%}.",
    ]
    return "\n".join(lines)


def notebook_quote(r: dict) -> str:
    """The sentence notebook 10 quotes, with the device and date of the run."""
    c, ref = r["course"], r["reference"]
    return (
        f"On {r['device']} ({r['date']}), `bench/train.py` trained nanoGPT's CPU configuration "
        f"at {c['tokens_per_second']:,.0f} tokens/s with the package and at "
        f"{ref['tokens_per_second']:,.0f} with a reference built from PyTorch's own modules "
        f"({c['tokens_per_second'] / ref['tokens_per_second']:.2f}x), to validation losses of "
        f"{c['val_loss']:.2f} and {ref['val_loss']:.2f}."
    )


def _mfu(flops_per_token: int, tokens_per_second: float, peaks: list[dict]) -> dict:
    achieved = flops_per_token * tokens_per_second / 1e9
    large, small = peaks[-1], peaks[:-1]
    return {"achieved_gflops": achieved, "low": achieved / large["gflops_q75"],
            "median": achieved / large["gflops"], "high": achieved / large["gflops_q25"],
            "of_model_sizes": achieved / statistics.median(p["gflops"] for p in small)}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    """Everything the report holds, measured in this process."""
    text = load_corpus("tinyshakespeare")
    tokenizer = CharTokenizer.train(text)
    train_ids, val_ids = split_ids(tokenizer.encode(text), val_fraction=0.1)
    cfg, tcfg = configs(tokenizer.vocab_size, args.iters)
    tokens = tcfg.batch_size * cfg.context_length
    before = matmul_times(cfg, tokens, args.repeats)  # the peak, before and after training
    result = train_in_turns(cfg, tcfg, train_ids, args.chunk)
    peaks = matmul_peaks(before, matmul_times(cfg, tokens, args.repeats))
    report = {
        **environment("cpu"), "iters": args.iters, "batch_size": tcfg.batch_size,
        "context_length": cfg.context_length, "chunk": args.chunk, "config": cfg.to_dict(),
    }  # fmt: skip
    for name, model in result["models"].items():
        report[name] = {
            "params": sum(p.numel() for p in model.parameters()),
            "val_loss": evaluate(model, val_ids, 12, args.final_eval_iters, seed=1),
            **_rate_summary(result["chunk_seconds"][name], args.chunk * tokens,
                            args.iters * tokens),
        }  # fmt: skip
    report["flops_per_token"] = result["models"]["course"].flops_per_token()
    report["peaks"] = peaks
    report["mfu"] = _mfu(report["flops_per_token"], report["course"]["tokens_per_second"], peaks)
    report["steps"] = compare_steps(tokenizer.vocab_size, args.repeats)
    report["profile"] = profile_course_step(cfg, tcfg, train_ids)
    report["targets"] = _targets(report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=10, help="steps per turn")
    parser.add_argument("--final-eval-iters", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15, help="of each timed step or matmul")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared host, two threads' spin-waits "
                        "turn timings into noise)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = run(args)
    print(markdown_table(report), summary(report), notebook_quote(report), sep="\n\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
