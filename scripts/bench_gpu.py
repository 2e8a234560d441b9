"""How fast dreamreel runs on a GPU, in one run of at most about 4 minutes.

    python scripts/bench_gpu.py [--save] [--compile] [--steps 5] [--frames 60]
    python scripts/bench_gpu.py --cpu-smoke      # the same script on the CPU in seconds (CI runs it)

Rows are printed as they are measured (and with --save appended to BENCHMARKS.md even when the
run is cut short), so a timeout keeps what was done:
- the dream step of mobilenet_v2 to features.13, channels_last, at fp32, TF32, bf16 and fp16, at
  batch 1, 4 and 8, at 640x360 and 1920x1080: ms a step, ms a frame, peak device memory;
- ``render`` of ``--frames`` frames of a 1920x1080 clip (the sample clip scaled up with the
  bundled ffmpeg at run time): frames a second, and the share of the frame loop the device spent
  dreaming (the manifest's dream_seconds over loop_seconds);
- with --compile, the step under torch.compile too (compiling takes minutes: off by default).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dreamreel.dream import Term  # noqa: E402
from dreamreel.dream.engine import DreamParams, ascent_step  # noqa: E402
from dreamreel.models.net import load_dream_net  # noqa: E402
from dreamreel.speed.gpu import half_precision  # noqa: E402
from scripts.benchlib import append, positive_int  # noqa: E402

FULL = {"sizes": [(360, 640), (1080, 1920)], "batches": [1, 4, 8], "precisions": ["fp32", "tf32", "bf16", "fp16"],
        "clip": (1080, 1920)}
SMOKE = {"sizes": [(36, 64)], "batches": [1, 2], "precisions": ["fp32", "bf16"], "clip": (36, 64)}


@contextlib.contextmanager
def tf32(on: bool):
    """TF32 matmuls and convolutions (Ampere and later), restored afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_row(net, device: torch.device, size: tuple[int, int], batch: int, precision: str, steps: int) -> str:
    """One table row: the median ms of ``steps`` ascent steps after two of warm-up."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    x = torch.rand(batch, 3, *size, device=device).contiguous(memory_format=torch.channels_last)
    params = DreamParams(terms=(Term("features.13"),), precision="fp32" if precision == "tf32" else precision,
                         tile=4096)
    gens = [torch.Generator().manual_seed(i) for i in range(batch)]
    times = []
    with tf32(precision == "tf32"):
        for k in range(steps + 2):
            sync(device)
            t = time.perf_counter()
            ascent_step(x, net, params, gens)
            sync(device)
            if k >= 2:
                times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1e3
    peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else "-"
    return f"| {size[1]}x{size[0]} | {batch} | {precision} | {ms:.1f} | {ms / batch:.1f} | {peak} |"


def render_row(device: torch.device, size: tuple[int, int], frames: int, tmp: Path) -> str:
    """``render`` of ``frames`` frames of the sample clip scaled to ``size``: frames a second and
    the device's share of the frame loop."""
    from dreamreel.api import render
    from dreamreel.media.ffmpeg import ffmpeg_exe

    clip = tmp / f"clip_{size[1]}x{size[0]}.mp4"
    if not clip.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(ROOT / "samples" / "city.mp4"), "-vf",
                        f"scale={size[1]}:{size[0]}:flags=lanczos", "-an", "-c:v", "libx264", "-preset", "veryfast",
                        "-crf", "16", str(clip)], check=True)
    out = tmp / f"out_{size[1]}.mp4"
    t0 = time.perf_counter()
    manifest = render({"input": str(clip), "output": str(out), "frames": {"count": frames},
                       "dream": {"device": device.type if device.index is None else str(device), "octaves": 2},
                       "video": {"preset": "veryfast"}}, force=True)
    seconds = time.perf_counter() - t0
    loop, dreaming = manifest.get("loop_seconds"), manifest.get("dream_seconds")
    busy = f"{dreaming / loop:.0%}" if loop and dreaming is not None else "-"
    return (f"| {size[1]}x{size[0]} | {frames} | {frames / seconds:.2f} | {busy} | "
            f"{manifest.get('choices', {}).get('precision', '-')} | {seconds:.1f} |")


def device_name(text: str) -> str:
    """An argparse type: cpu, cuda or cuda:N."""
    import re

    if not re.fullmatch(r"cpu|cuda(?::\d{1,2})?", text, re.ASCII):
        raise argparse.ArgumentTypeError(f"{text!r}: a device is cpu, cuda or cuda:N")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU: the script's own check")
    ap.add_argument("--device", type=device_name, default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    ap.add_argument("--steps", type=positive_int, default=5, help="timed steps a row (after 2 of warm-up)")
    ap.add_argument("--frames", type=positive_int, default=60, help="frames of the render rows")
    ap.add_argument("--compile", action="store_true", help="also time the step under torch.compile")
    ap.add_argument("--save", action="store_true", help="append the rows to BENCHMARKS.md")
    args = ap.parse_args()
    plan = SMOKE if args.cpu_smoke else FULL
    device = torch.device("cpu" if args.cpu_smoke else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here; nothing measured (--cpu-smoke runs the script on the CPU)")
        return
    frames = min(args.frames, 4) if args.cpu_smoke else args.frames
    steps = 1 if args.cpu_smoke else args.steps
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke run)"
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    t_start = time.perf_counter()
    try:
        say(f"{name}; mobilenet_v2 to features.13, channels_last; median of {steps} steps after 2 of warm-up.")
        say("")
        say("| size | batch | precision | ms a step | ms a frame | peak memory |")
        say("|---|---|---|---|---|---|")
        for compiled in ((False, True) if args.compile else (False,)):
            net, _ = load_dream_net("mobilenet_v2", ["features.13"], None, device, channels_last=True)
            if compiled:
                net.compile()
                say("| torch.compile from here | | | | | |")
            for size in plan["sizes"]:
                for precision in plan["precisions"]:
                    if precision == "bf16" and device.type == "cuda" and half_precision(device) != "bf16":
                        continue  # emulated before Ampere: slower than fp32, not a choice
                    if precision in ("tf32", "fp16") and device.type == "cpu":
                        continue  # CPU autocast has no fp16 and TF32 is a GPU format
                    for batch in plan["batches"]:
                        try:
                            say(step_row(net, device, size, batch, precision, steps))
                        except torch.cuda.OutOfMemoryError:
                            say(f"| {size[1]}x{size[0]} | {batch} | {precision} | out of memory | - | - |")
                            torch.cuda.empty_cache()
            del net
        say("")
        say("| render | frames | frames a second | device dreaming | precision | seconds |")
        say("|---|---|---|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            say(render_row(device, plan["clip"], frames, Path(tmp)))
        say("")
        say(f"Whole run: {time.perf_counter() - t_start:.0f} s.")
    finally:
        if args.save and lines:
            append(f"bench_gpu on {name}", "\n".join(lines))


if __name__ == "__main__":
    main()
