"""Throughput of dreamreel against this machine's limit and against a straightforward loop.

    python scripts/bench_throughput.py [--quick] [--sections all|2] [--isa native|avx2|both] [--no-append]

1. ms per step and GFLOP/s of the default model at 512x288 (as dreamreel runs it: channels_last,
   precision auto, process tuned as `render` tunes it), against fp32 matmul GFLOP/s in the same run.
2. Per-step time three ways, in interleaved rounds, medians: the `render` command itself (a still
   at 512x288, one octave, timed at two step counts so start-up cancels), the same step in this
   process, and a straightforward eager loop in a plain child process (whole network with a
   forward hook, weight gradients on, numpy round trip per step): the speed-up users get.
3. End-to-end seconds per frame of a video at default settings at 640x360 (the sample clip),
   with render.retain_memory on and off, and the share of the loop outside the dream step.
4. Peak RSS of a 50-frame and a 500-frame render (the sample looped).
5. Seconds per frame with render.batch 1, 2 and 4.

``--isa avx2`` runs everything with the AVX2 kernels forced; ``both`` runs native, then AVX2.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dreamreel.dream import Term  # noqa: E402
from dreamreel.dream.engine import DreamParams, ascent_step  # noqa: E402
from dreamreel.media.ffmpeg import ffmpeg_exe  # noqa: E402
from dreamreel.models.net import build_model, load_dream_net  # noqa: E402
from dreamreel.modes.setup import resolve_precision, resolve_tile, tile_batch  # noqa: E402
from dreamreel.runtime import tune_process  # noqa: E402
from scripts.bench_dream import step_flops  # noqa: E402
from scripts.benchlib import ROOT, add_isa_argument, matmul_gflops, report, run_per_isa, timeit  # noqa: E402

W, H, LAYER = 512, 288, "features.13"
RENDER = [sys.executable, "-m", "dreamreel", "render"]
# Step counts of the two command runs; their difference is what is timed. 80 steps (~7 s here)
# keep the start-up's own jitter (torch's import moves by a second) small beside it.
FEW, MANY = 4, 84


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


def naive_child(steps: int) -> float:
    """Seconds per step of the reference loop in a plain child process (no dreamreel tuning),
    after one warm-up step."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from scripts.bench_throughput import naive_steps; "
            "naive_steps(1); print(naive_steps(int(sys.argv[2])))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(steps)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return float(out.stdout.split()[-1]) / steps


def command_seconds(cfg: Path, out: Path, steps: int) -> tuple[float, float]:
    """(wall-clock seconds of one `render` of the still config ``cfg`` with ``steps`` steps, the
    seconds its manifest reports for the render after start-up)."""
    t = time.perf_counter()
    m, _ = run_render([str(cfg), f"output={out}", f"dream.steps={steps}", "--force"])
    return time.perf_counter() - t, m["seconds"]


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
    ap.add_argument("--sections", choices=["all", "2"], default="all",
                    help="2: only the per-step comparison (sections 1 and 2)")
    add_isa_argument(ap)
    args = ap.parse_args()
    if run_per_isa(args.isa):
        return
    repeat = 3 if args.quick else 10
    rounds = 2 if args.quick else 5
    cpu = tune_process()  # as `render` does: the step below is the command's step
    isa = f"{cpu.isa} kernels"
    lines = []

    # 1. the step against matmul
    peak = matmul_gflops()
    dev = torch.device("cpu")
    prec = resolve_precision("auto", dev)
    net, _ = load_dream_net("mobilenet_v2", [LAYER], None, dev, channels_last=True)
    x = torch.rand(1, 3, H, W).contiguous(memory_format=torch.channels_last)
    tile = resolve_tile("auto", dev)
    params = DreamParams(terms=(Term(LAYER),), precision=prec, tile=tile, tile_batch=tile_batch(tile))
    gen = torch.Generator().manual_seed(0)
    step_s = timeit(lambda: ascent_step(x, net, params, gen), repeat)
    flops = step_flops(net, x, params.terms)
    rate = flops / step_s / 1e9
    lines += [f"**1. Step** ({isa}; mobilenet_v2 to {LAYER}, {W}x{H}, channels_last, precision {prec}): "
              f"{step_s * 1e3:.1f} ms, {flops / 1e9:.2f} GFLOP, {rate:.1f} GFLOP/s = "
              f"**{100 * rate / peak:.0f} %** of fp32 matmul ({peak:.1f} GFLOP/s). Target 60 %.", ""]

    with tempfile.TemporaryDirectory() as tmp:
        # 2. the command, the in-process step and the reference loop, interleaved
        cfg = Path(tmp) / "step.yaml"
        cfg.write_text(f"input: samples/astronaut.png\noutput: {tmp}/step.png\nsize: {{width: {W}, height: {H}}}\n"
                       "dream: {octaves: 1, jitter: 32}\n")
        out = Path(tmp) / "step.png"
        times: dict[str, list[float]] = {"command": [], "manifest": [], "in-process": [], "reference": []}
        n = 5 if args.quick else 12
        for _ in range(rounds):
            (few, few_m), (many, many_m) = command_seconds(cfg, out, FEW), command_seconds(cfg, out, MANY)
            times["command"].append((many - few) / (MANY - FEW))
            times["manifest"].append((many_m - few_m) / (MANY - FEW))
            times["in-process"].append(timeit(lambda: ascent_step(x, net, params, gen), n, warmup=1))
            times["reference"].append(naive_child(n))
        cmd, man, inproc, ref = (statistics.median(times[k]) for k in ("command", "manifest", "in-process",
                                                                        "reference"))
        target = 3.0 if cpu.isa.startswith("AVX512") else 2.5
        lines += [f"**2. Per step** ({isa}; {W}x{H}, one octave; medians of {rounds} interleaved rounds; the "
                  f"command timed at {FEW} and {MANY} steps so start-up cancels):", "",
                  "| what | ms per step | x reference |", "|---|---|---|",
                  f"| reference loop (plain child process) | {ref * 1e3:.1f} | 1.00 |",
                  f"| `render` command, wall clock | {cmd * 1e3:.1f} | **{ref / cmd:.2f}** |",
                  f"| `render` command, its manifest's seconds | {man * 1e3:.1f} | {ref / man:.2f} |",
                  f"| dreamreel step in process | {inproc * 1e3:.1f} | {ref / inproc:.2f} |", "",
                  f"Command against the reference: **{ref / cmd:.2f}x** (target {target}x on {cpu.isa}); command "
                  f"against the in-process step: **{100 * (cmd / inproc - 1):+.0f} %** (target within 15 %). "
                  "Per-round spread: command "
                  f"{min(times['command']) * 1e3:.0f}-{max(times['command']) * 1e3:.0f} ms, in process "
                  f"{min(times['in-process']) * 1e3:.0f}-{max(times['in-process']) * 1e3:.0f} ms.", ""]
        if args.sections == "2":
            report(f"bench_throughput, per step only ({cpu.isa} kernels)", lines, save=not args.no_append)
            return

        # 3. end to end: a video at defaults at 640 wide, memory retained or not
        frames = 12 if args.quick else 40
        dflt = Path(tmp) / "defaults.yaml"
        dflt.write_text(f"input: samples/city.mp4\noutput: {tmp}/e2e.mp4\nsize: {{width: 640}}\n"
                        f"frames: {{count: {frames}}}\n")
        lines += [f"**3. End to end**, video at default settings, 640x360, {frames} frames (`samples/city.mp4`; "
                  "the first frame dreams all its steps, the rest carry detail and dream "
                  "video.steps_after_first):", "",
                  "| render.retain_memory | s per frame (frame loop) | s in all | outside the dream step |",
                  "|---|---|---|---|"]
        for retain in ("true", "false"):
            m, _ = run_render([str(dflt), f"output={tmp}/e2e.mp4", f"render.retain_memory={retain}", "--force"])
            lines.append(f"| {retain} | **{m['loop_seconds'] / m['frames']:.2f}** | {m['seconds']:.1f} | "
                         f"{100 * m['outside_dream_share']:.1f} % |")
        lines += ["", "Goal: at most 0.35 s per frame on 2 AVX2 cores; at most 10 % of the loop outside the dream "
                  "step.", ""]

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
        frames = 12 if args.quick else 48
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
    report(f"bench_throughput ({cpu.isa} kernels)", lines, save=not args.no_append)


if __name__ == "__main__":
    main()
