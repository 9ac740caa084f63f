"""Benchmark: train nanoGPT's CPU configuration of character-level tiny shakespeare.

nanoGPT's README documents, for a CPU without a GPU::

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False \
        --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 \
        --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

(learning rate 1e-3 decaying to 1e-4, 100 warmup steps, AdamW with beta2 0.99 and
weight decay 0.1, gradient clipping at 1.0), reaching a validation loss of about
1.88. This script trains the course's ``GPT`` with ``llm101_helpers.training.train``
on the same data (tiny shakespeare, characters, first 90% to train) with the same
hyperparameters, and reports:

- training throughput in tokens per second (evaluation time excluded);
- the final validation loss, over ``--final-eval-iters`` batches (nanoGPT's 20 are noisy);
- model FLOPs utilization: the model's training FLOPs per token (``GPT.flops_per_token``)
  times tokens per second, as a fraction of the peak float32 matmul throughput
  measured on the same machine in the same process (a 2048 x 2048 ``torch.mm``).

Usage::

    LLM101_DATA_MIRROR=../shared/data/mirror .venv/bin/python bench/train.py \
        --json bench/results/train.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from llm101_helpers.data import load_corpus
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.performance import environment
from llm101_helpers.tokenizers import CharTokenizer
from llm101_helpers.training import TrainConfig, evaluate, split_ids, train

#: The reference: nanoGPT's own ``train.py`` with the command above, on the 2-core machine
#: of bench/README.md (validation loss about 1.88 after about 7 minutes).
NANOGPT = {"val_loss": 1.88, "seconds": 7 * 60, "tokens": 2000 * 12 * 64}


def matmul_peak_flops(n: int = 2048, repeats: int = 10) -> float:
    """Best float32 FLOP/s of an ``n x n`` matmul: the machine's practical peak for this work."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def markdown_table(report: dict) -> str:
    r = report
    nano_tps = NANOGPT["tokens"] / NANOGPT["seconds"]
    lines = [
        f"tiny shakespeare, characters, {r['iters']} steps of {r['batch_size']} x "
        f"{r['context_length']} tokens, {r['params']:,} parameters, {r['cpus']} CPUs, "
        f"{r['threads']} torch threads, torch {r['torch']}",
        "",
        "| run | val loss | tokens/s | train s | FLOPs/token | achieved GFLOP/s "
        "| matmul peak GFLOP/s | MFU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| course `train` | {r['val_loss']:.3f} | {r['tokens_per_second']:,.0f} | "
        f"{r['train_seconds']:.0f} | {r['flops_per_token']:,} | {r['achieved_gflops']:.1f} | "
        f"{r['peak_gflops']:.1f} | {r['mfu']:.1%} |",
        f"| nanoGPT (reference run) | {NANOGPT['val_loss']:.2f} | {nano_tps:,.0f} | "
        f"{NANOGPT['seconds']} | | | | |",
    ]
    return "\n".join(lines)


def configs(vocab_size: int, iters: int) -> tuple[GPTConfig, TrainConfig]:
    """nanoGPT's CPU configuration: the model and the training hyperparameters."""
    cfg = GPTConfig(
        vocab_size=vocab_size,
        context_length=64,
        d_model=128,
        num_heads=4,
        num_layers=4,
        dropout=0.0,
    )
    train_cfg = TrainConfig(
        max_iters=iters,
        batch_size=12,
        lr=1e-3,
        min_lr=1e-4,
        warmup_iters=100,
        weight_decay=0.1,
        betas=(0.9, 0.99),
        grad_clip=1.0,
        eval_interval=250,
        eval_iters=20,
        seed=1337,
        progress=False,
    )
    return cfg, train_cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--final-eval-iters", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    text = load_corpus("tinyshakespeare")
    tokenizer = CharTokenizer.train(text)
    train_ids, val_ids = split_ids(tokenizer.encode(text), val_fraction=0.1)
    cfg, train_cfg = configs(tokenizer.vocab_size, args.iters)
    peak = matmul_peak_flops()
    torch.manual_seed(1337)
    model = GPT(cfg)
    history = train(model, train_ids, val_ids, train_cfg, log=print)
    val_loss = evaluate(model, val_ids, batch_size=12, eval_iters=args.final_eval_iters, seed=1)
    flops_per_token = model.flops_per_token()
    achieved = flops_per_token * history.tokens_per_second
    report = {
        **environment("cpu"),
        "iters": args.iters,
        "batch_size": train_cfg.batch_size,
        "context_length": cfg.context_length,
        "params": model.num_parameters(),
        "val_loss": val_loss,
        "val_loss_20_batches": history.val_loss[-1],
        "tokens_per_second": history.tokens_per_second,
        "train_seconds": history.seconds,
        "flops_per_token": flops_per_token,
        "achieved_gflops": achieved / 1e9,
        "peak_gflops": peak / 1e9,
        "mfu": achieved / peak,
    }
    print(markdown_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
