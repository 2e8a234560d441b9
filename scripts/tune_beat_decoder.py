"""Choose the decoder's settings over the learned activations on the validation songs (generated
from seeds neither the corpus nor the benchmark's held-out set uses): the tempo prior's weight and
width, plain peak picking against the HMM, and the bar HMM's meter costs. The network runs once a
song; each setting only decodes again.

    python scripts/tune_beat_decoder.py [--songs 60] [--save]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dreamreel.rhythm import bars as bars_mod  # noqa: E402
from dreamreel.rhythm.analysis import LEARNED  # noqa: E402
from dreamreel.rhythm.beats import refine, track  # noqa: E402
from dreamreel.rhythm.model import RATE, activations  # noqa: E402
from dreamreel.rhythm.spectrum import HOP  # noqa: E402
from scripts.beatcorpus import available_fonts, make_audio  # noqa: E402
from scripts.bench_beats import verdict  # noqa: E402
from scripts.benchlib import report  # noqa: E402
from scripts.train_beats import VALIDATION_SEED, f_measure, peaks  # noqa: E402

FPS = RATE / HOP


def songs(count: int, seconds: float) -> list[dict]:
    fonts = available_fonts()
    out = []
    for i in range(count):
        e = make_audio(VALIDATION_SEED + i, seconds, fonts)
        e["act"] = activations(e["samples"], RATE)
        out.append(e)
    return out


def beats_of(act: np.ndarray, settings) -> np.ndarray:
    if settings == "peaks":
        return peaks(act[0], 0.3) / FPS
    return refine(track(act[0], FPS, settings), act[0], FPS, settings.observation)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--songs", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    data = songs(args.songs, args.seconds)
    lines = [f"{len(data)} validation songs (generated, seeds from {VALIDATION_SEED}); beat F within 70 ms, songs "
             "read at a wrong level or off the beat, downbeat F.", "",
             "| decoder | beat F | wrong level or off-beat | downbeat F |", "|---|---|---|---|"]
    choices = {"peak picking (0.3)": "peaks"}
    for w in (0.0, 0.5, 1.0, 2.0, 3.0):
        for octv in (0.4, 0.6, 1.0):
            choices[f"HMM, prior weight {w:g}, {octv:g} octaves"] = replace(LEARNED, prior_weight=w, prior_octaves=octv)
    best = None
    for name, s in choices.items():
        fs, bad, fd = [], 0, []
        for e in data:
            b = beats_of(e["act"], s)
            f = f_measure(e["beats"], b)
            fs.append(f)
            bad += verdict(e["beats"], b, f) not in ("ok", "drift")
            place, _ = bars_mod.downbeats(bars_mod.downbeat_evidence(b, e["act"][1], FPS), bars_mod.METERS)
            fd.append(f_measure(e["downbeats"], b[place == 1]))
        lines.append(f"| {name} | {np.mean(fs):.3f} | {bad} of {len(data)} | {np.mean(fd):.3f} |")
        print(lines[-1], flush=True)
        if s != "peaks" and (best is None or np.mean(fs) > best[0]):
            best = (float(np.mean(fs)), s)
    lines += ["", "Meter costs on the best beat decoder's beats:", "", "| cost of 2 | cost of 3 | downbeat F |",
              "|---|---|---|"]
    saved = dict(bars_mod.METER_COST)
    for c2 in (0.0, 0.5, 1.0, 2.0):
        for c3 in (0.0, 0.5, 1.0):
            bars_mod.METER_COST.update({2: c2, 3: c3})
            fd = []
            for e in data:
                b = beats_of(e["act"], best[1])
                place, _ = bars_mod.downbeats(bars_mod.downbeat_evidence(b, e["act"][1], FPS), bars_mod.METERS)
                fd.append(f_measure(e["downbeats"], b[place == 1]))
            lines.append(f"| {c2:g} | {c3:g} | {np.mean(fd):.3f} |")
            print(lines[-1], flush=True)
    bars_mod.METER_COST.update(saved)
    report("Beat decoder settings on the validation songs", lines, args.save)


if __name__ == "__main__":
    main()
