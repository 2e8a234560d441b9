"""Throughput of dreamreel against this machine's limit and against a straightforward loop.

    python scripts/bench_throughput.py [--quick] [--no-append]

1. ms per step and GFLOP/s of the default model at 512x288 (as dreamreel runs it: channels_last,
   precision auto), against fp32 matmul GFLOP/s measured in the same run.
2. A straightforward eager loop kept here as the reference (whole network with a forward hook,
   weight gradients on, numpy round trip per step), same model, size and steps: the speed-up.
3. End-to-end seconds per frame for the sample clip at 640 wide, and the share of the frame loop
   spent outside the dream step (decode, flow, warps, checkpoints run beside it).
4. Peak RSS of a 50-frame and a 500-frame render (the sample looped).
5. Seconds per frame with render.batch 1, 2 and 4.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.dream import Term  # noqa: E402
from pipeline.dream.engine import DreamParams, ascent_step  # noqa: E402
from pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from pipeline.models.net import build_model, load_dream_net  # noqa: E402
from pipeline.rendering.setup import resolve_precision  # noqa: E402
from scripts.bench_dream import step_flops  # noqa: E402
from scripts.benchlib import ROOT, report, matmul_gflops, timeit  # noqa: E402

W, H, LAYER = 512, 288, "features.13"
RENDER = [sys.executable, "-m", "pipeline"]


def naive_steps(steps: int) -> float:
    """Seconds for ``steps`` steps of the reference loop (what a first DeepDream port looks like)."""
    model, _, _ = build_model("mobilenet_v2", None)
    model.eval()
    acts = {}
    model.features[13].register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    img = np.random.default_rng(0).random((1, 3, H, W)).astype(np.float32)
    t = time.perf_counter()
    for _ in range(steps):
        x = torch.from_numpy(img).requires_grad_(True)
        model.zero_grad()
        model((x - mean) / std)  # the whole network, classifier included
        acts["a"].pow(2).mean().backward()  # weight gradients too
        g = x.grad.numpy()
        img = np.clip(img + 0.015 * g / (np.abs(g).mean() + 1e-8), 0, 1)
    return time.perf_counter() - t


def run_render(args: list[str]) -> tuple[dict, int]:
    """Run `render` in a child; returns (manifest, peak RSS in KiB of the children so far)."""
    proc = subprocess.run([*RENDER, *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    out = next(a.split("=", 1)[1] for a in args if a.startswith("output="))
    return json.loads(Path(f"{out}.manifest.json").read_text()), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def peak_rss(args: list[str]) -> int:
    """Peak RSS (MiB) of one `render` run, measured in a fresh wrapper so runs do not mix."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *RENDER, *args], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1]) // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and frames (a smoke run)")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    repeat = 3 if args.quick else 10
    lines = []

    # 1. the step against matmul
    peak = matmul_gflops()
    dev = torch.device("cpu")
    prec = resolve_precision("auto", dev)
    net, _ = load_dream_net("mobilenet_v2", [LAYER], None, dev, channels_last=True)
    x = torch.rand(1, 3, H, W).contiguous(memory_format=torch.channels_last)
    params = DreamParams(terms=(Term(LAYER),), precision=prec, tile=4096)
    gen = torch.Generator().manual_seed(0)
    step_s = timeit(lambda: ascent_step(x, net, params, gen), repeat)
    flops = step_flops(net, x, params.terms)
    rate = flops / step_s / 1e9
    lines += [f"**1. Step** (mobilenet_v2 to {LAYER}, {W}x{H}, channels_last, precision {prec}): "
              f"{step_s * 1e3:.1f} ms, {flops / 1e9:.2f} GFLOP, {rate:.1f} GFLOP/s = "
              f"**{100 * rate / peak:.0f} %** of fp32 matmul ({peak:.1f} GFLOP/s). Target 60 %.", ""]

    # 2. against the reference loop
    n = 5 if args.quick else 20
    naive = naive_steps(n) / n
    ours = timeit(lambda: ascent_step(x, net, params, gen), n, warmup=1)
    lines += [f"**2. Reference loop**: {naive * 1e3:.1f} ms per step, dreamreel {ours * 1e3:.1f} ms: "
              f"**{naive / ours:.2f}x** faster. Target 2.5x.", ""]

    with tempfile.TemporaryDirectory() as tmp:
        # 3. end to end on the sample clip at 640 wide
        frames = 25 if args.quick else 100
        m, _ = run_render(["configs/clip.yaml", f"output={tmp}/e2e.mp4", "size.width=640",
                           f"frames.count={frames}", "--force"])
        per = m["loop_seconds"] / m["frames"]
        lines += [f"**3. End to end**, `configs/clip.yaml` at 640x360, {m['frames']} frames: "
                  f"{per:.2f} s per frame in the frame loop ({m['seconds']:.1f} s in all, with model load and "
                  f"encode); **{100 * m['outside_dream_share']:.1f} %** of the loop outside the dream step. "
                  "Target at most 10 %.", ""]

        # 4. memory stays flat with length
        looped = Path(tmp) / "looped.mp4"
        subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-stream_loop", "4", "-i",
                        "samples/city.mp4", "-c", "copy", str(looped)], check=True, cwd=ROOT)
        tiny = ["dream.steps=1", "dream.octaves=1", "video.steps_after_first=1", "size.width=320",
                "video.preset=ultrafast"]
        short = 20 if args.quick else 50
        long = 60 if args.quick else 500
        rss = {}
        for count in (short, long):
            rss[count] = peak_rss(["configs/clip.yaml", f"input={looped}", f"output={tmp}/rss{count}.mp4",
                                   f"frames.count={count}", "--force", *tiny])
        lines += [f"**4. Peak RSS** (320 px, 1 step): {short} frames {rss[short]} MiB, {long} frames "
                  f"{rss[long]} MiB: **{100 * (rss[long] / rss[short] - 1):+.1f} %**. Target within 10 %.", ""]

        # 5. streams per batch
        lines += ["**5. Streams per batch** (`configs/clip.yaml` at 320 px):", "",
                  "| render.batch | s per frame | x batch 1 |", "|---|---|---|"]
        base = None
        for b in (1, 2, 4):
            m, _ = run_render(["configs/clip.yaml", f"output={tmp}/b{b}.mp4", "size.width=320",
                               f"frames.count={frames}", f"render.batch={b}", "render.preroll=4",
                               "render.crossover=4", "--force"])
            per = m["loop_seconds"] / m["frames"]
            base = base or per
            lines.append(f"| {b} ({m['batch']} streams) | {per:.3f} | {base / per:.2f} |")
    report("bench_throughput", lines, save=not args.no_append)


if __name__ == "__main__":
    main()
