"""torch.compile (Inductor's CPU backend) against the eager step dreamreel runs, the same network
and input, fp32 and bf16 autocast, interleaved rounds, medians; and the one-off compile time.

    python scripts/bench_compile.py [--width 640] [--height 360] [--rounds 3] [--steps 8] [--no-append]

A step here is what the dream's step costs: forward to features.13 of the default model
(channels_last, BatchNorm folded), the L2 objective, backward to the input.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dreamreel.models.net import load_dream_net  # noqa: E402
from dreamreel.runtime import tune_process  # noqa: E402
from scripts.benchlib import positive_int, report  # noqa: E402


def step(net, x0: torch.Tensor, bf16: bool) -> None:
    x = x0.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = net(x)["features.13"]
    y.float().pow(2).mean().backward()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=positive_int, default=640)
    ap.add_argument("--height", type=positive_int, default=360)
    ap.add_argument("--rounds", type=positive_int, default=3)
    ap.add_argument("--steps", type=positive_int, default=8)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    tune_process()
    net, _ = load_dream_net("mobilenet_v2", ["features.13"], None, torch.device("cpu"), channels_last=True)
    x0 = torch.rand(1, 3, args.height, args.width).contiguous(memory_format=torch.channels_last)
    compiled = torch.compile(net)
    first: dict[str, float] = {}
    for bf16 in (False, True):
        t0 = time.perf_counter()
        step(compiled, x0, bf16)
        first["bf16" if bf16 else "fp32"] = time.perf_counter() - t0
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for prec in ("fp32", "bf16"):
            for name, f in (("eager", net), ("compiled", compiled)):
                step(f, x0, prec == "bf16")
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    step(f, x0, prec == "bf16")
                times.setdefault((name, prec), []).append((time.perf_counter() - t0) / args.steps)
    # The machine and the command head the section BENCHMARKS.md gets (benchlib.append).
    lines = [f"- mobilenet_v2 to features.13, {args.width}x{args.height}, channels_last, {args.rounds} interleaved "
             f"rounds of {args.steps} steps, medians; torch {torch.__version__}", "",
             "| precision | eager ms | torch.compile ms | compiled / eager | first compiled step (compiling), s |",
             "|---|---|---|---|---|"]
    for prec in ("fp32", "bf16"):
        e = 1000 * statistics.median(times[("eager", prec)])
        c = 1000 * statistics.median(times[("compiled", prec)])
        lines.append(f"| {prec} | {e:.1f} | {c:.1f} | {c / e:.2f}x | {first[prec]:.1f} |")
    report("bench_compile: torch.compile against the eager step", lines, not args.no_append)


if __name__ == "__main__":
    main()
