"""ms per dream step and GFLOP/s of the default model, beside this machine's fp32 matmul GFLOP/s.

    python scripts/bench_dream.py [--width 512 --height 288 --layer features.13 --rounds 5] [--isa native|avx2|both]
                                  [--no-append]

Variants are timed in interleaved rounds and reported as medians, because a shared VM's
neighbours move single timings by 20-50 %.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dreamreel.models.net as net_module  # noqa: E402
from dreamreel.dream import Term, objective  # noqa: E402
from dreamreel.dream.engine import DreamParams, ascent_step  # noqa: E402
from dreamreel.models.net import load_dream_net  # noqa: E402
from dreamreel.runtime import tune_process  # noqa: E402
from scripts.benchlib import add_isa_argument, matmul_gflops, positive_int, report, run_per_isa  # noqa: E402


def step_flops(net, x, terms) -> int:
    """FLOPs of one forward+backward to the input (convolutions and matmuls)."""
    leaf = x.detach().clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        objective(net(leaf), terms).sum().backward()
    return counter.get_total_flops()


def make_net(layer: str, channels_last: bool, fold: bool, inplace: bool = False):
    """The default model as dreamreel loads it, or without its BatchNorm folding (``fold`` False)
    or with the classifier's in-place activations kept (``inplace``), to show what each gives."""
    real = net_module.fold_batchnorm, net_module.fold_sequential_batchnorm, net_module.out_of_place_activations
    if not fold:
        net_module.fold_batchnorm = net_module.fold_sequential_batchnorm = lambda m: 0
    if inplace:
        net_module.out_of_place_activations = lambda m: 0
    try:
        return load_dream_net("mobilenet_v2", [layer], None, torch.device("cpu"), channels_last=channels_last)[0]
    finally:
        net_module.fold_batchnorm, net_module.fold_sequential_batchnorm, net_module.out_of_place_activations = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=positive_int, default=512)
    ap.add_argument("--height", type=positive_int, default=288)
    ap.add_argument("--layer", default="features.13")
    ap.add_argument("--rounds", type=positive_int, default=5)
    ap.add_argument("--steps", type=positive_int, default=6, help="steps timed per variant per round")
    ap.add_argument("--no-append", action="store_true")
    add_isa_argument(ap)
    args = ap.parse_args()
    if run_per_isa(args.isa):
        return
    cpu = tune_process()
    torch.manual_seed(0)
    terms = (Term(args.layer),)
    peak = matmul_gflops()
    threads = cpu.threads
    # (name, channels_last, precision, fold BatchNorm, torch threads, activations in place)
    variants = [("NCHW fp32, BatchNorm kept", False, "fp32", False, threads, False),
                ("NCHW fp32", False, "fp32", True, threads, False),
                ("channels_last fp32, BatchNorm kept", True, "fp32", False, threads, False),
                ("channels_last bf16, BatchNorm kept", True, "bf16", False, threads, False),
                ("channels_last fp32, activations in place", True, "fp32", True, threads, True),
                ("channels_last bf16 autocast, activations in place", True, "bf16", True, threads, True),
                ("channels_last fp32", True, "fp32", True, threads, False),
                ("channels_last bf16 autocast", True, "bf16", True, threads, False)]
    if threads > 1:
        variants.append((f"channels_last fp32, {threads // 2} thread(s)", True, "fp32", True, threads // 2, False))
    runs = []
    for name, cl, prec, fold, nthreads, inplace in variants:
        net = make_net(args.layer, cl, fold, inplace)
        x = torch.rand(1, 3, args.height, args.width)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        params = DreamParams(terms=terms, precision=prec, tile=4096)
        runs.append((name, net, x, params, step_flops(net, x, terms), nthreads))
    times: dict[str, list[float]] = {r[0]: [] for r in runs}
    gen = torch.Generator().manual_seed(0)
    for _ in range(args.rounds):
        for name, net, x, params, _, nthreads in runs:
            torch.set_num_threads(nthreads)
            ascent_step(x, net, params, gen)
            t = time.perf_counter()
            for _ in range(args.steps):
                ascent_step(x, net, params, gen)
            times[name].append((time.perf_counter() - t) / args.steps)
    lines = [f"mobilenet_v2 to {args.layer}, {args.width}x{args.height}, batch 1, median of {args.rounds} "
             f"interleaved rounds of {args.steps} steps, {threads} threads unless named, freed memory retained: "
             f"{cpu.retain_memory}. fp32 matmul (2048^3): **{peak:.1f} GFLOP/s**.", "",
             "| variant | ms per step | GFLOP per step | GFLOP/s | % of matmul |", "|---|---|---|---|---|"]
    torch.set_num_threads(threads)
    for name, _, _, _, flops, _ in runs:
        s = statistics.median(times[name])
        lines.append(f"| {name} | {s * 1e3:.1f} | {flops / 1e9:.2f} | {flops / s / 1e9:.1f} | "
                     f"{100 * flops / s / 1e9 / peak:.0f} % |")
    report(f"bench_dream: one ascent step ({cpu.isa} kernels)", lines, save=not args.no_append)


if __name__ == "__main__":
    main()
