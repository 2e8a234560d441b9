"""Does a seamless zoom loop pulse at its closure? Renders zoom loops of several lengths and zoom
speeds over pictures nobody tuned on, and measures every output frame's sharpness (variance of
the Laplacian of luma), detail (mean |frame - its Gaussian blur|, sigma 2 px, 8-bit levels) and
saturation (mean HSV S, 0-255); a row gives each measure's worst frame as a percentage off the
loop's median (issue 38's target: every frame within 10 %), and which frame that is (0 is the
first shown, the loop's closure sits from 0 to the tail's length).

    python scripts/bench_loop_pulse.py [--width 192] [--save]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.benchlib import ROOT, listed, positive_int, report  # noqa: E402

# Pictures that ship with packages this machine has (none of them a dreamreel sample): a
# photograph, a flower, a landscape and a painted game map.
PICTURES = {
    "hopper": "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "flower": "sklearn/datasets/images/flower.jpg",
    "china": "sklearn/datasets/images/china.jpg",
}
PAINTING = Path("/usr/share/games/pingus/data/images/worldmaps/tutorial_layer0.jpg")
# (frames, zoom per frame): a short fast loop, the 36 frames, a long slow one.
LOOPS = [(24, 1.04), (36, 1.025), (60, 1.015)]


def pictures() -> dict[str, Path]:
    """The pictures found on this machine, by name."""
    found = {}
    for name, rel in PICTURES.items():
        for base in map(Path, sys.path):
            if (base / rel).is_file():
                found[name] = base / rel
                break
    if PAINTING.is_file():
        found["painting"] = PAINTING
    return found


def measures(rgb: np.ndarray) -> tuple[float, float, float]:
    """(sharpness, detail, saturation) of an RGB uint8 frame."""
    from dreamreel.quality import sharpness

    f = rgb.astype(np.float32)
    detail = float(np.abs(f - cv2.GaussianBlur(f, (0, 0), 2.0)).mean())
    sat = float(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean())
    return sharpness(rgb), detail, sat


def render_loop(picture: Path, frames: int, zoom: float, width: int, folder: Path, warmup: str = "auto",
                cadence: int = 1) -> list[np.ndarray]:
    """The loop's output frames in the order shown (a folder of PNG frames)."""
    from dreamreel.cli import main
    from dreamreel.media.images import read_image

    cfg = folder / "z.yaml"
    out = folder / "frames"
    cfg.write_text(f"mode: zoom\ninput: {picture}\noutput: {out}\nsize: {{width: {width}}}\n"
                   f"zoom: {{frames: {frames}, fps: 24, zoom: {zoom}, rotate: 0.2, loop: true"
                   + ("" if warmup == "auto" else f", warmup: {warmup}") + ("" if cadence == 1 else f", cadence: {cadence}")
                   + "}\n"
                   "dream: {layers: {features.13: 1.0, features.10: 0.3}, octaves: 2, octave_scale: 1.5, "
                   "steps: 4, step_size: 0.012, jitter: 16}\n")
    assert main(["render", str(cfg), "--force"]) == 0
    return [read_image(p) for p in sorted(out.glob("*.png"))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=positive_int, default=192)
    ap.add_argument("--pictures", type=listed(str), help="names to run (default: all found)")
    ap.add_argument("--cadence", type=positive_int, default=1, help="zoom.cadence of every loop")
    ap.add_argument("--save", action="store_true", help="save the table (benchmarks/history.md, BENCHMARKS.md)")
    args = ap.parse_args()
    found = pictures()
    names = args.pictures or list(found)
    rows = ["| picture | frames | zoom | tail | sharpness worst (frame) | detail worst (frame) | saturation worst (frame) |",
            "|---|---|---|---|---|---|---|"]
    worst_all = 0.0
    with tempfile.TemporaryDirectory() as d:
        for name in names:
            for frames, zoom in LOOPS:
                shown = render_loop(found[name], frames, zoom, args.width, Path(d), cadence=args.cadence)
                m = np.array([measures(f) for f in shown])
                off = np.abs(m / np.median(m, axis=0) - 1) * 100
                cells = [f"{off[:, k].max():.1f} % ({int(off[:, k].argmax())})" for k in range(3)]
                worst_all = max(worst_all, float(off.max()))
                tail = max(8, round(0.25 * frames))
                rows.append(f"| {name} | {frames} | {zoom} | {min(tail, frames // 2)} | " + " | ".join(cells) + " |")
                print(rows[-1], flush=True)
    rows.append("")
    rows.append(f"Worst frame of every loop and measure: {worst_all:.1f} % off its loop's median (target: 10 %).")
    title = "Zoom loop pulse (sharpness, detail, saturation per shown frame)"
    report(title + (f", zoom.cadence {args.cadence}" if args.cadence > 1 else ""), rows, args.save)


if __name__ == "__main__":
    main()
