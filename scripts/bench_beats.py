"""Beat tracking against ground truth nobody on the team chose: click tracks at 60-200 bpm, ramps,
a gap and swing, and MIDI songs of varied styles, meters and tempi rendered with fluidsynth (beats
from the MIDI tempo map, corrected by the synthesizer's measured latency). dreamreel's tracker,
librosa's beat_track and madmom's RNN+DBN run on the same audio in the same run and are scored
with mir_eval: F-measure, CMLt, AMLt, the median signed offset, the share of tracks at a wrong
metrical level, downbeat F, and seconds per minute of audio. Beats more than 1 s after a song's
last reference beat (its reverb tail) are not scored, for any tracker.

    pip install -e '.[beats-bench]'; apt-get install fluidsynth fluid-soundfont-gm
    python scripts/bench_beats.py [--save] [--seconds 30] [--only dreamreel]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.beatdata import click_suite, song_suite  # noqa: E402
from scripts.benchlib import report  # noqa: E402


def dreamreel(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    from pipeline.rhythm.analysis import analyse

    r = analyse(samples, rate)
    return r.beats, r.downbeats


def librosa_beats(samples: np.ndarray, rate: int) -> tuple[np.ndarray, None]:
    import librosa

    _, frames = librosa.beat.beat_track(y=samples, sr=rate, units="time")
    return np.asarray(frames, float), None


def madmom_beats(samples: np.ndarray, rate: int) -> tuple[np.ndarray, None]:
    from pipeline.rhythm.madmom_beats import madmom_beats as mm

    return mm(samples, rate), None


TRACKERS = {"dreamreel": dreamreel, "librosa 0.11 beat_track": librosa_beats, "madmom RNN+DBN": madmom_beats}


def level(ref: np.ndarray, est: np.ndarray) -> str:
    """"right", "half", "double" or "other": the metrical level of ``est`` against ``ref``."""
    if est.size < 3:
        return "other"
    ratio = np.median(np.diff(ref)) / np.median(np.diff(est))
    for name, r in (("right", 1.0), ("double", 2.0), ("half", 0.5), ("other", 1.5), ("other", 2 / 3)):
        if abs(ratio / r - 1) < 0.08:
            return name
    return "other"


def score(tracks, fn) -> dict:
    import mir_eval

    rows = []
    for tr in tracks:
        t0 = time.perf_counter()
        est, down = fn(tr.samples, tr.rate)
        secs = time.perf_counter() - t0
        est = np.asarray(est, float)
        # A song rendered from MIDI ends in seconds of reverb after its last beat; a tracker that
        # keeps beating there is not scored for it (every tracker alike): the reference stops.
        est = est[est <= tr.beats[-1] + 1.0] if tr.beats.size else est
        ref, e = mir_eval.beat.trim_beats(tr.beats), mir_eval.beat.trim_beats(est)
        f = mir_eval.beat.f_measure(ref, e)
        _, cmlt, _, amlt = mir_eval.beat.continuity(ref, e)
        offs = [b - ref[np.argmin(np.abs(ref - b))] for b in e] if ref.size else []
        offs = [o for o in offs if abs(o) <= 0.07]
        if down is not None and tr.beats.size:
            down = down[down <= tr.beats[-1] + 1.0]
        fd = mir_eval.beat.f_measure(tr.downbeats, down) if down is not None and tr.downbeats.size else np.nan
        rows.append({"name": tr.name, "f": f, "cmlt": cmlt, "amlt": amlt, "offset": np.median(offs) if offs else np.nan,
                     "level": level(tr.beats, np.asarray(est, float)), "down": fd,
                     "per_min": secs / (tr.samples.size / tr.rate / 60)})
    return rows


def long_track(hours: float) -> list[str]:
    """Beats and every envelope of an ``hours``-long track (a beep a second and a 128 bpm kick,
    made with the bundled ffmpeg) in a child: seconds per minute of audio and peak memory."""
    import resource
    import subprocess
    import tempfile

    from pipeline.media.ffmpeg import ffmpeg_exe

    seconds = int(hours * 3600)
    with tempfile.TemporaryDirectory() as tmp:
        track = Path(tmp) / "long.flac"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"sine=frequency=440:beep_factor=4:sample_rate=22050:duration={seconds}",
                        "-ac", "1", "-c:a", "flac", str(track)], check=True)
        code = ("import resource, time\nfrom pipeline.envelopes import envelopes\n"
                "from pipeline.media.audio import read_audio\n"
                f"t0 = time.perf_counter(); s = read_audio({str(track)!r}); t1 = time.perf_counter()\n"
                f"e = envelopes(s, 22050, 30.0, {seconds * 30}); t2 = time.perf_counter()\n"
                "print(t1 - t0, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, s.nbytes)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[1]).stdout.split()
    decode, analyse_s, peak, nbytes = float(out[0]), float(out[1]), int(out[2]), int(out[3])
    minutes = seconds / 60
    return [f"{hours:g} hours of audio at 30 fps: decoding {decode:.1f} s; beats, bars and every envelope "
            f"{analyse_s:.1f} s ({analyse_s / minutes:.3f} s per minute of audio); peak memory "
            f"{peak / 2**30:.2f} GiB, of which the samples are {nbytes / 2**30:.2f} GiB."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--save", action="store_true", help="append the table to BENCHMARKS.md")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each song")
    ap.add_argument("--only", action="append", help="run only these trackers (repeatable)")
    ap.add_argument("--tracks", action="store_true", help="also list every track's row")
    ap.add_argument("--skip", action="append", help="leave out these trackers (repeatable)")
    ap.add_argument("--long-hours", type=float, help="instead: time dreamreel's analysis of a track this long")
    args = ap.parse_args()
    if args.long_hours:
        report("Beats and envelopes of a long track", long_track(args.long_hours), args.save)
        return
    suites = {"clicks": click_suite(), "songs": song_suite(args.seconds),
              "held-out songs": song_suite(args.seconds, held_out=True)}
    lines = ["Beats more than 1 s after a song's last reference beat (its reverb tail) are not scored.",
             f"{len(suites['clicks'])} click tracks (60-200 bpm, ramps 90-140 and 150-100, a gap, swing), "
             f"{len(suites['songs'])} MIDI songs of {args.seconds:g} s (fluidsynth, FluidR3 GM) that the tracker's "
             f"settings were chosen on, and {len(suites['held-out songs'])} held-out songs (other styles and tempi) "
             "that they were not.", "",
             "| tracker | set | F | CMLt | AMLt | median offset ms | wrong level | downbeat F | s per min |",
             "|---|---|---|---|---|---|---|---|---|"]
    detail = []
    for name, fn in TRACKERS.items():
        if args.only and name.split()[0] not in args.only or name.split()[0] in (args.skip or []):
            continue
        for set_name, tracks in suites.items():
            try:
                rows = score(tracks, fn)
            except ImportError as exc:
                lines.append(f"| {name} | {set_name} | not installed ({exc.name}) | | | | | | |")
                break
            wrong = sum(r["level"] != "right" for r in rows)
            down = [r["down"] for r in rows if np.isfinite(r["down"])]
            down_text = f"{np.mean(down):.3f}" if down else "-"
            lines.append(f"| {name} | {set_name} | {np.mean([r['f'] for r in rows]):.3f} | "
                         f"{np.mean([r['cmlt'] for r in rows]):.3f} | {np.mean([r['amlt'] for r in rows]):.3f} | "
                         f"{np.nanmedian([r['offset'] for r in rows]) * 1000:+.1f} | {wrong} of {len(rows)} | "
                         f"{down_text} | {np.mean([r['per_min'] for r in rows]):.2f} |")
            detail += [f"| {name} | {r['name']} | {r['f']:.3f} | {r['cmlt']:.3f} | {r['level']} |" for r in rows]
            print(lines[-1], flush=True)
    if args.tracks:
        lines += ["", "| tracker | track | F | CMLt | level |", "|---|---|---|---|---|", *detail]
    report("Beat tracking against known beats", lines, args.save)


if __name__ == "__main__":
    main()
