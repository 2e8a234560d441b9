"""Temporal coherence of video dreams: E_warp (Lai et al. 2018) and dream strength, for four renders.

    python scripts/bench_coherence.py [CLIP] [--config configs/clip.yaml] [--width 320] [--frames 48]
                                      [key=value ...] [--no-append]

Renders, all with the same dream settings: the input itself; independent per-frame dreams; a plain
50 % blend of the previous dream into each raw frame before dreaming (no flow); dreamreel's path
(the real `render`). For each: E_warp = mean over consecutive pairs of the squared difference,
over pixels the input flow trusts and RGB in [0,1], between output t-1 and output t warped back
onto it; and strength = mean |output - input|. Pairs across a detected scene cut are left out.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline.cli import main as render_main  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.dream import dream  # noqa: E402
from pipeline.media.images import read_image, to_rgb8, to_tensor  # noqa: E402
from pipeline.media.probe import probe  # noqa: E402
from pipeline.media.reader import FrameReader  # noqa: E402
from pipeline.motion.consistency import consistency_mask  # noqa: E402
from pipeline.motion.flow import FlowEstimator, to_gray  # noqa: E402
from pipeline.motion.scene import cut_score  # noqa: E402
from pipeline.motion.warp import flow_to_tensor, warp  # noqa: E402
from pipeline.rendering.setup import dream_params, fit_size, frame_generator, load_net  # noqa: E402
from scripts.benchlib import report  # noqa: E402

CPU = torch.device("cpu")


def as_t(rgb: np.ndarray) -> torch.Tensor:
    return to_tensor(rgb, CPU)


def warp_pairs(frames: list[np.ndarray], cut: float) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """For each pair (t-1, t) within a shot: (t, forward flow t-1 -> t, its trust mask)."""
    est = FlowEstimator("dis_fine")
    out = []
    for t in range(1, len(frames)):
        if cut_score(frames[t - 1], frames[t]) > cut:
            continue
        a, b = to_gray(frames[t - 1]), to_gray(frames[t])
        fwd, back = est(a, b), est(b, a)
        out.append((t, fwd, consistency_mask(fwd, back)))
    return out


def e_warp(outputs: list[np.ndarray], pairs) -> float:
    """Mean over pairs of the masked MSE between output t-1 and output t warped onto t-1."""
    errs = []
    for t, fwd, mask in pairs:
        prev, cur = as_t(outputs[t - 1]), as_t(outputs[t])
        moved = warp(cur, flow_to_tensor(fwd, CPU))
        m = torch.from_numpy(mask)[None, None]
        sq = ((prev - moved) ** 2 * m).sum() / (m.sum() * 3 + 1e-8)
        errs.append(float(sq))
    return float(np.mean(errs))


def strength(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(o.astype(np.float32) - i.astype(np.float32)).mean() / 255 for o, i in zip(outputs, inputs)]))


def naive(cfg, frames: list[np.ndarray], blend: float) -> list[np.ndarray]:
    """Per-frame dreams; with ``blend`` > 0 the previous dream is mixed into the raw frame first."""
    net, _ = load_net(cfg.dream, CPU)
    params = dream_params(cfg.dream, CPU)
    out, prev = [], None
    for i, rgb in enumerate(frames):
        x = as_t(rgb)
        if prev is not None and blend > 0:
            x = (1 - blend) * x + blend * prev
        y = dream(x, net, params, frame_generator(cfg.dream.seed, i))
        prev = y
        out.append(to_rgb8(y))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", nargs="?", default="samples/city.mp4")
    ap.add_argument("--config", default="configs/clip.yaml")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--only-dreamreel", action="store_true", help="skip the naive renders (for tuning)")
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("overrides", nargs="*", help="config overrides for all renders, e.g. video.blend=0.6")
    args = ap.parse_intermixed_args()

    with tempfile.TemporaryDirectory() as tmp:
        over = [f"input={args.clip}", f"output={tmp}/frames", f"size.width={args.width}", "size.height=null",
                f"frames.count={args.frames}", "frames.start=0", *args.overrides]
        cfg = load_config(Path(args.config), over)
        info = probe(cfg.input)
        size = fit_size(info.height, info.width, cfg.size, even=True)
        with FrameReader(info.path, info.fps, size, 0, args.frames) as r:
            inputs = [f for _, f in r]
        pairs = warp_pairs(inputs, cfg.video.scene_cut.at(0))
        rows = [("input", inputs, 0.0)]
        if not args.only_dreamreel:
            t = time.perf_counter()
            rows.append(("independent dreams", naive(cfg, inputs, 0.0), time.perf_counter() - t))
            t = time.perf_counter()
            rows.append(("50 % blend, no flow", naive(cfg, inputs, 0.5), time.perf_counter() - t))
        t = time.perf_counter()
        code = render_main([args.config, *over])
        assert code == 0, f"render failed with exit code {code}"
        ours = [read_image(p) for p in sorted(Path(tmp, "frames").glob("*.png"))]
        rows.append(("dreamreel", ours, time.perf_counter() - t))

    base = e_warp(inputs, pairs)
    lines = [f"clip `{args.clip}`, {len(inputs)} frames at {size[1]}x{size[0]}, {len(pairs)} pairs within shots; "
             f"settings `{args.config}` + `{' '.join(args.overrides) or 'no overrides'}`.", "",
             "| render | E_warp | x input | strength | seconds |", "|---|---|---|---|---|"]
    for name, outs, sec in rows:
        e = e_warp(outs, pairs)
        lines.append(f"| {name} | {e:.5f} | {e / base:.2f} | {strength(outs, inputs):.4f} | {sec:.0f} |")
    report("bench_coherence: E_warp and dream strength", lines, save=not args.no_append)


if __name__ == "__main__":
    main()
