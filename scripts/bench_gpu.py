"""ms per dream step on a CUDA GPU: sizes, batch, precision, compile. Skips without CUDA.

    python scripts/bench_gpu.py [--steps 10] [--no-append]

mobilenet_v2 to features.13 at 512x288 and 1920x1080, batch 1/2/4/8, fp16 and bf16 autocast,
torch.compile off and on; medians of ``--steps`` steps after warm-up, synchronised. One table.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.dream import Term  # noqa: E402
from pipeline.dream.engine import DreamParams, ascent_step  # noqa: E402
from pipeline.models.net import load_dream_net  # noqa: E402
from scripts.benchlib import report  # noqa: E402

SIZES = [(288, 512), (1080, 1920)]
BATCHES = [1, 2, 4, 8]
PRECISIONS = ["fp16", "bf16"]


def step_ms(net, size: tuple[int, int], batch: int, precision: str, steps: int) -> float:
    device = torch.device("cuda")
    x = torch.rand(batch, 3, *size, device=device).contiguous(memory_format=torch.channels_last)
    params = DreamParams(terms=(Term("features.13"),), precision=precision, tile=4096)
    gens = [torch.Generator().manual_seed(i) for i in range(batch)]
    for _ in range(3):
        ascent_step(x, net, params, gens)
    times = []
    for _ in range(steps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        ascent_step(x, net, params, gens)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here; nothing measured")
        return
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    lines = [f"{torch.cuda.get_device_name(0)}; mobilenet_v2 to features.13, channels_last, median of {args.steps} "
             "steps (ms per step; per frame = divided by the batch).", "",
             "| size | batch | precision | compile | ms per step | ms per frame |", "|---|---|---|---|---|---|"]
    for compiled in (False, True):
        net, _ = load_dream_net("mobilenet_v2", ["features.13"], None, device, channels_last=True)
        if compiled:
            net.body = torch.compile(net.body, dynamic=False)
        for h, w in SIZES:
            for precision in PRECISIONS:
                if precision == "bf16" and not torch.cuda.is_bf16_supported():
                    continue
                for batch in BATCHES:
                    try:
                        ms = step_ms(net, (h, w), batch, precision, args.steps)
                    except torch.cuda.OutOfMemoryError:
                        lines.append(f"| {w}x{h} | {batch} | {precision} | {'on' if compiled else 'off'} | "
                                     "out of memory | - |")
                        torch.cuda.empty_cache()
                        continue
                    lines.append(f"| {w}x{h} | {batch} | {precision} | {'on' if compiled else 'off'} | {ms:.1f} | "
                                 f"{ms / batch:.1f} |")
    report("bench_gpu: ms per step on CUDA", lines, save=not args.no_append)


if __name__ == "__main__":
    main()
