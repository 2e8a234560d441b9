"""One clip in one process and on a local Ray with 2 workers of the same total cores.

    python scripts/bench_scaleout.py [--frames 100] [--width 320] [--no-append]

Both renders use the same plan (render.segments 2, batch 1) through the real ``render``
command. Reported: seconds in all and per frame, seconds per frame per worker, Ray's start-up
(ray.init with this machine's cores, and the workers' start with their network), and the
transfer of one finished frame (PNG bytes through an actor generator and the object store), each
as a share of a segment's time. Target: Ray's costs at most 5 % of a segment's time.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dreamreel.media.images import encode_image, read_image  # noqa: E402
from scripts.benchlib import ROOT, positive_int, report  # noqa: E402


def render(cfg: Path, out: Path, *overrides: str) -> tuple[float, dict]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dreamreel", "render", str(cfg), f"output={out}", *overrides, "--force"],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return time.perf_counter() - t, json.loads(Path(f"{out}.manifest.json").read_text())


def ray_costs(png: bytes, frames: int) -> tuple[float, float]:
    """(seconds to start a local Ray, seconds per frame handed back by an actor generator)."""
    import ray

    t = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t

    @ray.remote(num_cpus=1)
    class Echo:
        def frames(self, data: bytes, n: int):
            for _ in range(n):
                yield data

    actor = Echo.remote()
    for ref in actor.frames.remote(png, 2):  # the actor's own start-up is not transfer
        ray.get(ref)
    t = time.perf_counter()
    for ref in actor.frames.remote(png, frames):
        ray.get(ref)
    per = (time.perf_counter() - t) / frames
    ray.shutdown()
    return start, per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=positive_int, default=100)
    ap.add_argument("--width", type=positive_int, default=320)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "clip.yaml"
        cfg.write_text(f"input: samples/city.mp4\nsize: {{width: {args.width}}}\nframes: {{count: {args.frames}}}\n"
                       "render: {segments: 2, batch: 1}\nvideo: {preset: ultrafast}\n")
        local_s, local = render(cfg, Path(tmp) / "local.mp4")
        ray_s, remote = render(cfg, Path(tmp) / "ray.mp4", "render.backend=ray", "render.worker_cpus=1")
        frames_dir = Path(tmp) / "one"
        subprocess.run([sys.executable, "-m", "dreamreel", "render", str(cfg), f"output={frames_dir}", "frames.count=1",
                        "dream.steps=1", "render.segments=1"], cwd=ROOT, check=True, capture_output=True)
        png = encode_image(read_image(next(frames_dir.glob("*.png"))), ".png")
    start, per_frame = ray_costs(png, 200)
    n = local["frames"]
    seg_seconds = max(s["seconds"] for s in remote["segments"])
    seg_frames = max(s["frames_dreamed"] for s in remote["segments"])
    worker_spf = seg_seconds / seg_frames
    overhead = ray_s - remote["loop_seconds"] - (local_s - local["loop_seconds"])
    lines = [f"`samples/city.mp4`, {n} frames at {args.width} px, default dream settings, render.segments 2, "
             "batch 1, through the `render` command. PNG per frame: "
             f"{len(png) / 1024:.0f} KiB.", "",
             "| render | seconds in all | s per frame | workers x threads | s per frame per worker |",
             "|---|---|---|---|---|",
             f"| one process (local) | {local_s:.1f} | {local_s / n:.3f} | 1 x 2 | {local['loop_seconds'] / n:.3f} |",
             f"| local Ray, 2 workers | {ray_s:.1f} | {ray_s / n:.3f} | {remote['workers']} x {remote['worker_cpus']} | "
             f"{worker_spf:.3f} |", "",
             f"Ray's start-up: the Ray render's time outside its frame loop beyond the local render's is "
             f"{overhead:.1f} s (starting Ray, of which `ray.init` alone takes {start:.1f} s here, then the workers "
             f"and their networks). A segment here took {seg_seconds:.1f} s: start-up "
             f"**{100 * max(overhead, 0) / seg_seconds:.0f} %** of it; it is paid once per render, so segments of "
             f"{20 * max(overhead, 0):.0f} s or more keep it under 5 %.",
             f"Per-frame transfer (PNG bytes from an actor generator to the driver, 200 frames): "
             f"{per_frame * 1e3:.2f} ms, **{100 * per_frame / worker_spf:.2f} %** of a frame's time on a worker. "
             "Target: at most 5 % of a segment's time."]
    report("bench_scaleout: one process against a local Ray with 2 workers", lines, save=not args.no_append)


if __name__ == "__main__":
    main()
