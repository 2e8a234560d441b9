"""ms per dream step and GFLOP/s of the default model, beside this machine's fp32 matmul GFLOP/s.

    python scripts/bench_dream.py [--width 512 --height 288 --layer features.13 --repeat 10] [--no-append]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.dream import Term  # noqa: E402
from pipeline.dream.engine import DreamParams, ascent_step, image_gradient  # noqa: E402
from pipeline.models.net import load_dream_net  # noqa: E402
from scripts.benchlib import append, matmul_gflops, timeit  # noqa: E402


def step_flops(net, x, terms) -> int:
    """FLOPs of one forward+backward to the input (convolutions and matmuls)."""
    from pipeline.dream import objective

    leaf = x.detach().clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        objective(net(leaf), terms).sum().backward()
    return counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--height", type=int, default=288)
    ap.add_argument("--layer", default="features.13")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    terms = (Term(args.layer),)
    peak = matmul_gflops()
    rows = []
    for name, cl, prec in [("NCHW fp32", False, "fp32"), ("channels_last fp32", True, "fp32"),
                           ("channels_last bf16 autocast", True, "bf16")]:
        net, _ = load_dream_net("mobilenet_v2", [args.layer], None, torch.device("cpu"), channels_last=cl)
        x = torch.rand(1, 3, args.height, args.width)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        flops = step_flops(net, x, terms)
        grad_s = timeit(lambda: image_gradient(x, net, terms, precision=prec), args.repeat)
        params = DreamParams(terms=terms, precision=prec, tile=4096)
        gen = torch.Generator().manual_seed(0)
        step_s = timeit(lambda: ascent_step(x, net, params, gen), args.repeat)
        rows.append((name, grad_s * 1e3, step_s * 1e3, flops / 1e9, flops / step_s / 1e9))
    lines = [f"mobilenet_v2 to {args.layer}, {args.width}x{args.height}, batch 1. "
             f"fp32 matmul (2048^3): **{peak:.1f} GFLOP/s**.", "",
             "| variant | fwd+bwd ms | full step ms | GFLOP per step | GFLOP/s (full step) | % of matmul |",
             "|---|---|---|---|---|---|"]
    for name, g, s, gf, rate in rows:
        lines.append(f"| {name} | {g:.1f} | {s:.1f} | {gf:.2f} | {rate:.1f} | {100 * rate / peak:.0f} % |")
    body = "\n".join(lines)
    print(body)
    if not args.no_append:
        append("bench_dream: one ascent step", body)


if __name__ == "__main__":
    main()
