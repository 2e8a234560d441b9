"""What `auto` picks on this machine, and what each candidate took, from a fresh cache.

    python scripts/bench_choices.py [--isa native|avx2|both] [--width 640] [--frames 120] [--no-append]

Renders configs/clip.yaml (--frames frames at --width) with an empty choices cache, so the render
times every candidate precision and layout itself, and reports the manifest's `choices`: the
pick and each candidate's milliseconds a step. Then times 6 steps of each candidate again, apart
from the trial, to check the pick is within 5 % of the best.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.benchlib import ROOT, add_isa_argument, positive_int, report, run_per_isa, timeit  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_isa_argument(ap)
    ap.add_argument("--width", type=positive_int, default=640)
    ap.add_argument("--frames", type=positive_int, default=120)  # enough steps to repay a trial
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    if run_per_isa(args.isa):
        return
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as d:
        os.environ["DREAMREEL_CACHE"] = d
        from dreamreel.cli import main as render

        out = Path(d) / "c.mp4"
        assert render(["render", "configs/clip.yaml", f"output={out}", f"frames.count={args.frames}",
                       f"size.width={args.width}", "--force"]) == 0
        choice = json.loads((Path(d) / "c.mp4.manifest.json").read_text())["choices"]
    import torch

    from dreamreel.config import load_config
    from dreamreel.dream.engine import image_gradient
    from dreamreel.speed.choices import label
    from dreamreel.modes.context import picture_context

    cfg = load_config("configs/clip.yaml", [f"size.width={args.width}"])
    ctx = picture_context(cfg)
    net = ctx.net()[0]
    terms = ctx.params(0).terms
    h, w = args.width * 9 // 16 // 2 * 2, args.width
    x = torch.rand(1, 3, h, w)
    again = {}
    for name in choice["step_ms"]:
        precision, last = name.split("+")[0], name.endswith("+channels_last")
        net.to(memory_format=torch.channels_last if last else torch.contiguous_format)
        again[name] = timeit(lambda: image_gradient(x, net, terms, None, precision), 6, warmup=2) * 1000
    pick = label((choice["precision"], choice["channels_last"]))
    best = min(again, key=again.get)
    lines = [f"- picked **{pick}** ({choice['how']}) at {w}x{h}",
             "- the trial's ms a step: " + ", ".join(f"{k} {v}" for k, v in choice["step_ms"].items()),
             "- timed again apart (median of 6): " + ", ".join(f"{k} {v:.1f}" for k, v in again.items()),
             f"- the pick against the best of these: {again[pick] / again[best]:.3f}x (target at most 1.05x)"]
    report("Measured auto choices", lines, not args.no_append)


if __name__ == "__main__":
    main()
