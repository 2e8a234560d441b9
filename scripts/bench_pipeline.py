"""The video pipeline around the dream, measured with a null dream: the network step replaced by a
no-op of the same shapes, so what is left is what a fast GPU would wait on (decoding, flow,
warps, checkpoints, the report's figures, encoding).

    python scripts/bench_pipeline.py [--save] [--frames 40] [--cores 1,2,all] [--sizes 640x360,1920x1080] [--host gpu]

For each frame size and core count a child process pinned to that many cores renders the sample
clip (scaled with the bundled ffmpeg) and reports frames a second of the whole render and of its
frame loop, and the core-milliseconds a frame each stage took (summed over threads).

It also splits the CPU time by where it would run on a GPU machine. The frame loop's thread does
the tensor work a GPU would do (the warp, the merge, the colour lock: torch is held to that thread
here, one intra-op thread, so its time is the main thread's during the loop: "device-side");
everything else stays on the host in a GPU run: the decoder and flow threads, the checkpoint and
report writers, the ffmpeg processes (decoding and encoding) and the assembly after the loop.
"host ms" is that share (start-up, the same for any length, is left out), and "16 cores" what a 16-core host
would sustain if those stages spread over its cores (an upper bound: DIS flow scaled 1.9x from 1
to 2 threads here, less beyond).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = {
    "decode": ("dreamreel.media.reader", "FrameReader", "__iter__"),
    "flow": ("dreamreel.motion.flow", "FlowEstimator", "__call__"),
    "trust": ("dreamreel.modes.chain", None, "consistency_mask"),
    "warp": ("dreamreel.modes.chain", None, "warp_lanczos"),
    "png": ("dreamreel.jobs.folder", None, "encode_image"),
    "record": ("dreamreel.jobs.folder", "Job", "record"),
    "report": ("dreamreel.inspect.report", "FrameFacts", "measure"),
}

CHILD = r"""
import json, sys, threading, time
from collections import defaultdict
import torch
sys.path.insert(0, {root!r})
import dreamreel.modes.chain as chain
import importlib

spent = defaultdict(float)
lock = threading.Lock()

def timed(name, fn):
    def wrapper(*a, **k):
        t = time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            with lock:
                spent[name] += time.thread_time() - t
    return wrapper

def timed_iter(name, fn):
    def wrapper(self, *a, **k):
        it = fn(self, *a, **k)
        while True:
            t = time.thread_time()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                with lock:
                    spent[name] += time.thread_time() - t
            yield item
    return wrapper

for name, (mod, cls, attr) in {stages!r}.items():
    m = importlib.import_module(mod)
    owner = getattr(m, cls) if cls else m
    fn = getattr(owner, attr)
    setattr(owner, attr, (timed_iter if attr == "__iter__" else timed)(name, fn))

# The null dream: the same shapes out, no network.
chain.dream = lambda x, net, params, gens, guide=None, mask=None: x.clone()
# The tensor work stays on this thread (where a GPU would do it), so its time is the main thread's.
import dreamreel.runtime as runtime
_tune = runtime.tune_process
runtime.tune_process = lambda retain_memory=True, threads=None: _tune(retain_memory, 1)
if {policy!r} == "gpu":
    # The threads a GPU run gives the host pipeline (setup.host_threads), the dream being elsewhere.
    import dreamreel.modes.setup as setup, dreamreel.modes.video as video
    gpu_policy = lambda device, _f=setup.host_threads: _f(torch.device("cuda"))
    chain.host_threads = video.host_threads = gpu_policy
import resource
import dreamreel.modes.video as video_mod
loop = {{}}
_segments = video_mod.dream_segments

def segments(*a, **k):
    # CPU of the frame loop: all threads, and this (the main) thread alone.
    c0, m0 = time.process_time(), time.thread_time()
    try:
        return _segments(*a, **k)
    finally:
        loop["cpu"] = loop.get("cpu", 0.0) + time.process_time() - c0
        loop["main"] = loop.get("main", 0.0) + time.thread_time() - m0
        loop["after"] = time.process_time()

video_mod.dream_segments = segments
from dreamreel.api import render
t0 = time.perf_counter()
m = render({{"input": {clip!r}, "output": {out!r}, "frames": {{"count": {frames}}},
            "dream": {{"device": "cpu", "precision": "fp32", "channels_last": True}},
            "video": {{"preset": "veryfast"}}}}, force=True)
wall = time.perf_counter() - t0
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{"wall": wall, "loop": m.get("loop_seconds"), "spent": dict(spent),
                  "cpu": time.process_time(), "main": loop["main"], "loop_cpu": loop["cpu"],
                  "after": time.process_time() - loop["after"], "ffmpeg": kids.ru_utime + kids.ru_stime}}))
"""


def scaled_clip(size: tuple[int, int], tmp: Path) -> Path:
    from dreamreel.media.ffmpeg import ffmpeg_exe

    w, h = size
    clip = tmp / f"clip_{w}x{h}.mp4"
    if not clip.exists():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "3", "-i", str(ROOT / "samples" / "city.mp4"),
                        "-vf", f"scale={w}:{h}:flags=lanczos", "-an", "-c:v", "libx264", "-preset", "veryfast",
                        "-crf", "16", str(clip)], check=True)
    return clip


def run(size: tuple[int, int], cores: list[int], frames: int, tmp: Path, policy: str, root: Path = ROOT) -> dict:
    clip = scaled_clip(size, tmp)
    code = CHILD.format(root=str(root), stages=STAGES, clip=str(clip), out=str(tmp / f"out_{size[0]}.mp4"),
                        frames=frames, policy=policy)
    env = dict(os.environ, DREAMREEL_CHOICES="rule", OMP_NUM_THREADS=str(len(cores)))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp,
                          preexec_fn=lambda: os.sched_setaffinity(0, set(cores)))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def core_count(text: str) -> int | str:
    """An argparse type for ``--cores``: ``all`` or a whole number of at least 1."""
    from scripts.benchlib import positive_int

    return text if text == "all" else positive_int(text)


def main() -> None:
    from scripts.benchlib import listed, positive_int, report, size

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=positive_int, default=40)
    ap.add_argument("--cores", type=listed(core_count), default="1,2,all")
    ap.add_argument("--sizes", type=listed(size), default="640x360,1920x1080")
    ap.add_argument("--host", choices=("gpu", "cpu"), default="gpu",
                    help="threads of the host pipeline as a GPU run sets them (default) or a CPU run")
    ap.add_argument("--code", type=Path, default=None,
                    help="also measure the pipeline package of another checkout (e.g. a git worktree of an "
                         "earlier commit), alternating with this one in the same run")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    available = sorted(os.sched_getaffinity(0))
    counts = []
    for c in args.cores:
        n = len(available) if c == "all" else c
        if n > len(available):
            ap.error(f"--cores {c}: this machine gives the process {len(available)}")
        if n not in counts:
            counts.append(n)
    sizes = [(h, w) for w, h in args.sizes]
    lines = [f"Null dream (no network), {args.frames} frames of the sample clip scaled, host threads as a "
             f"{args.host.upper()} run sets them; frames/s of the whole render and of its frame loop; core-ms a "
             "frame per stage, summed over threads.", "",
             "| code | size | cores | frames/s (render) | frames/s (loop) | " + " | ".join(STAGES) +
             " | CPU ms a frame | ffmpeg | device-side | host ms | 16 cores |",
             "|---|---|---|---|---|" + "---|" * len(STAGES) + "---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        codes = [("this checkout", ROOT)] + ([(str(args.code), args.code.resolve())] if args.code else [])
        for size, n, (label, root) in ((s, n, c) for s in sizes for n in counts for c in codes):
            r = run(size, available[:n], args.frames, Path(tmp), args.host, root)
            per = {k: 1000 * r["spent"].get(k, 0.0) / args.frames for k in STAGES}
            ms = {k: 1000 * r[k] / args.frames for k in ("cpu", "main", "loop_cpu", "after", "ffmpeg")}
            host = ms["loop_cpu"] - ms["main"] + ms["after"] + ms["ffmpeg"]
            row = (f"| {label} | {size[0]}x{size[1]} | {n} | {args.frames / r['wall']:.2f} | "
                   f"{args.frames / r['loop']:.2f} | " + " | ".join(f"{per[k]:.0f}" for k in STAGES) +
                   f" | {ms['cpu']:.0f} | {ms['ffmpeg']:.0f} | {ms['main']:.0f} | {host:.0f} | "
                   f"{16000 / host:.1f} |")
            print(row, flush=True)
            lines.append(row)
    report("Video pipeline with a null dream", lines, args.save)


if __name__ == "__main__":
    main()
