"""Seams between segments: E_warp of the frame pairs where one segment hands over to the next,
against ordinary pairs, for several pre-roll lengths, on clips of the coherence suite.

    python scripts/bench_seams.py [--width 176] [--segments 3] [--prerolls 0,4,8,16] [--crossover 8]
                                  [--clips a,b] [--no-append]

Each clip is rendered by the real ``render`` at default settings with ``render.segments`` N and
``render.batch`` 1 (each segment its own chain, as farm tasks dream them). Seam pairs: the
consecutive pairs from the crossover window of each non-fresh segment through its first own
frame; ordinary pairs: every other pair in a shot. Target: seam pairs within 1.2x ordinary.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dreamreel.cli import main as render_main  # noqa: E402
from dreamreel.config import SizeConfig  # noqa: E402
from dreamreel.media.images import read_image  # noqa: E402
from dreamreel.media.probe import probe  # noqa: E402
from dreamreel.media.reader import FrameReader  # noqa: E402
from dreamreel.modes.setup import fit_size  # noqa: E402
from scripts.bench_coherence import e_warp, shots, warp_pairs  # noqa: E402
from scripts.benchlib import listed, picked, positive_int, report, whole  # noqa: E402
from scripts.coherence_clips import Clip, suite  # noqa: E402


def seam_ratio(clip: Clip, width: int, segments: int, preroll: int, crossover: int = 8) -> tuple[float, float, int]:
    """(E_warp of seam pairs, of ordinary pairs, number of seams) of one render."""
    info = probe(clip.path)
    count = min(clip.count or info.frames, info.frames - clip.start)
    size = fit_size(info.height, info.width, SizeConfig(width=min(width, info.width)), even=True)
    with FrameReader(info.path, info.fps, size, clip.start, count) as r:
        inputs = [f.copy() for _, f in r]
    pairs = warp_pairs(inputs, shots(inputs), 1)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "c.yaml"
        cfg.write_text(f"input: {clip.path}\noutput: {tmp}/frames\nsize: {{width: {size[1]}}}\n"
                       f"frames: {{start: {clip.start}, count: {count}}}\n"
                       f"render: {{segments: {segments}, batch: 1, preroll: {preroll}, crossover: {crossover}}}\n")
        assert render_main(["render", str(cfg)]) == 0
        outs = [read_image(p) for p in sorted(Path(tmp, "frames").glob("*.png"))]
        facts = json.loads((Path(tmp) / "frames.manifest.json").read_text())
    seam = set()
    for s in facts["segments"]:
        if s["fresh"]:
            continue
        own = s["frames"][0] - clip.start
        # the crossfade window through the first own frame
        seam |= set(range(max(1, own - crossover), own + 1))
    at_seam = [p for p in pairs if p[1] in seam]
    ordinary = [p for p in pairs if p[1] not in seam]
    return e_warp(outs, at_seam), e_warp(outs, ordinary), sum(not s["fresh"] for s in facts["segments"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=positive_int, default=176)
    ap.add_argument("--segments", type=positive_int, default=3)
    ap.add_argument("--prerolls", type=listed(whole), default="0,4,8,16")
    ap.add_argument("--crossover", type=whole, default=8)
    ap.add_argument("--clips", type=listed(str), default="talking,grass,pan")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    prerolls = args.prerolls
    everything = suite()
    names = picked([c.name for c in everything], args.clips, "--clips", ap)
    clips = [c for c in everything if c.name in names]
    lines = [f"{args.segments} segments, render.batch 1, crossover {args.crossover}, width {args.width} px, default "
             "settings otherwise. E_warp (RGB in [0,1], squared) of the pairs from each crossfade window through "
             "the handover, over ordinary pairs. Target: at most 1.2x.", "",
             "| clip | seams | " + " | ".join(f"pre-roll {p}" for p in prerolls) + " |",
             "|---|---|" + "---|" * len(prerolls)]
    worst = {p: 0.0 for p in prerolls}
    for clip in clips:
        cells, seams = [], 0
        for p in prerolls:
            at, ordinary, seams = seam_ratio(clip, args.width, args.segments, p, args.crossover)
            ratio = at / ordinary
            worst[p] = max(worst[p], ratio)
            cells.append(f"{ratio:.2f}x ({at:.5f} / {ordinary:.5f})")
        lines.append(f"| {clip.name} | {seams} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    lines += ["", "Worst clip per pre-roll: " + ", ".join(f"{p}: {worst[p]:.2f}x" for p in prerolls) + "."]
    report("bench_seams: segment seams against pre-roll", lines, save=not args.no_append)


if __name__ == "__main__":
    main()
