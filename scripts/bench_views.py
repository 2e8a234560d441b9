"""What the timeline and the report cost.

    python scripts/bench_views.py [--runs 3] [--frames 40] [--no-append]

1. `dreamreel timeline configs/musicvideo.yaml`, wall seconds of the whole command (median of
   --runs; target: under 10 s).
2. The timeline page of a ten-minute song at 30 fps (18,000 frames) in headless Chromium: the
   milliseconds one full redraw takes (median of 20) at the whole song, zoomed to 30 s and to
   2 s (smooth zoom and pan want well under 16 ms).
3. The report's cost in a render: `samples/city.mp4` at 640x360, --frames frames, alternating
   runs with the per-frame measures on and off (FrameFacts.measure replaced by a no-op), the
   frame loop's seconds compared (target: under 3 %).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.benchlib import ROOT, positive_int, report  # noqa: E402


def timeline_seconds(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dreamreel", "render", "configs/musicvideo.yaml", "--timeline"], cwd=ROOT,
                       check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def page_draw_ms(tmp: Path) -> dict[str, float]:
    from dreamreel.cli import main
    from tests.browser import Browser
    from tests.conftest import ffmpeg

    song = tmp / "song.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:sample_rate=22050:duration=600",
           "-af", "volume='if(lt(mod(t,0.5),0.06),1,0.05)':eval=frame", str(song))
    cfg = tmp / "long.yaml"
    text = (ROOT / "configs/musicvideo.yaml").read_text().replace("samples/beat.wav", str(song))
    text = text.replace("samples/astronaut.png", str(ROOT / "samples/astronaut.png"))
    text = text.replace("renders/musicvideo.mp4", str(tmp / "long.mp4")).replace("frames: 192", "frames: 18000")
    text = text.replace("fps: 24", "fps: 30").replace('96:(0.2), 191:(0.0)', '9000:(0.2), 17999:(0.0)')
    text = text.replace('96:(0.8), 191:(1.0)', '9000:(0.8), 17999:(1.0)')
    cfg.write_text(text)
    assert main(["render", str(cfg), "--timeline"]) == 0
    out = {}
    with Browser() as b:
        b.open(tmp / "long.mp4.timeline.html")
        for name, span in (("whole song", None), ("30 s", 30.0), ("2 s", 2.0)):
            js = ("(() => { const d = window.dreamreel; "
                  + ("" if span is None else f"d.view.t0 = 300; d.view.t1 = 300 + {span};")
                  + " const t = []; for (let i = 0; i < 20; i++) { const a = performance.now(); d.draw();"
                  " t.push(performance.now() - a); } t.sort((x, y) => x - y); return t[10]; })()")
            out[name] = b.evaluate(js)
        assert b.errors() == []
    return out


def report_cost(frames: int, runs: int) -> tuple[list[float], list[float]]:
    """Frame-loop seconds with the report's measures on and off, alternating."""
    import dreamreel.inspect.report as rep
    from dreamreel.cli import main

    real = rep.FrameFacts.measure
    on, off = [], []
    with tempfile.TemporaryDirectory() as d:
        for k in range(-1, 2 * runs):  # run -1 warms up (and settles the measured speed choices)
            measured = k % 2 == 0
            rep.FrameFacts.measure = real if measured else (lambda self, out: {})
            out = Path(d) / f"c{k}.mp4"
            assert main(["render", "configs/clip.yaml", f"output={out}", f"frames.count={frames}", "size.width=640",
                         "--force"]) == 0
            m = json.loads(out.with_name(out.name + ".manifest.json").read_text())
            if k >= 0:
                (on if measured else off).append(m["loop_seconds"])
    rep.FrameFacts.measure = real
    return on, off


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=positive_int, default=3)
    ap.add_argument("--frames", type=positive_int, default=40)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    import os

    os.chdir(ROOT)
    lines = []
    secs = timeline_seconds(args.runs)
    lines.append(f"- `dreamreel timeline configs/musicvideo.yaml`: {statistics.median(secs):.2f} s "
                 f"(runs: {', '.join(f'{s:.2f}' for s in secs)}; target under 10 s)")
    with tempfile.TemporaryDirectory() as d:
        draw = page_draw_ms(Path(d))
    lines.append("- timeline page, 18,000 frames, one full redraw (median of 20): "
                 + ", ".join(f"{k} {v:.1f} ms" for k, v in draw.items()))
    on, off = report_cost(args.frames, args.runs)
    cost = statistics.median(on) / statistics.median(off) - 1
    lines.append(f"- the report's measures in the frame loop, samples/city.mp4 640x360, {args.frames} frames, "
                 f"alternating: on {statistics.median(on):.2f} s, off {statistics.median(off):.2f} s "
                 f"(on: {', '.join(f'{s:.2f}' for s in on)}; off: {', '.join(f'{s:.2f}' for s in off)}): "
                 f"{cost * 100:+.1f} % (target under 3 %)")
    report("Views: the timeline and the report", lines, not args.no_append)


if __name__ == "__main__":
    main()
