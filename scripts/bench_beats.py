"""Beat tracking against ground truth nobody on the team chose: click tracks at 60-200 bpm, ramps,
a gap and swing; the hand-written MIDI style songs (scripts/beatdata.py: the set the dsp tracker was
tuned on, and its held-out set); and generated songs (scripts/beatgen.py) from seeds the beat model
never trained on. dreamreel's beat model, the dsp tracker, librosa's beat_track and madmom's RNN+DBN
(and its downbeat RNN) run on the same audio in the same run and are scored with mir_eval:
F-measure, CMLt, AMLt, the median signed offset, the share of tracks at a wrong metrical level,
downbeat F and seconds per minute of audio; then, on the generated songs, how each tracker fails
per feel: at a wrong level (double, half, 3:2, 2:3), off the beat, and bars off. Beats more than
1 s after a song's last reference beat (its reverb tail) are not scored, for any tracker.

    pip install -e '.[beats-bench]'; apt-get install fluidsynth fluid-soundfont-gm
    python scripts/bench_beats.py [--save] [--seconds 30] [--only dreamreel] [--generated 60]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.beatdata import click_suite, song_suite  # noqa: E402
from scripts.benchlib import positive_float, report, whole  # noqa: E402


def dreamreel(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    from dreamreel.rhythm.analysis import analyse

    r = analyse(samples, rate)
    return r.beats, r.downbeats


def dsp(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    from dreamreel.rhythm.analysis import RhythmSettings, analyse

    r = analyse(samples, rate, RhythmSettings(tracker="dsp"))
    return r.beats, r.downbeats


def librosa_beats(samples: np.ndarray, rate: int) -> tuple[np.ndarray, None]:
    import librosa

    _, frames = librosa.beat.beat_track(y=samples, sr=rate, units="time")
    return np.asarray(frames, float), None


def madmom_beats(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray | None]:
    from dreamreel.rhythm.madmom_beats import madmom_beats as mm, madmom_downbeats

    return mm(samples, rate), madmom_downbeats(samples, rate)


TRACKERS = {"dreamreel": dreamreel, "dsp": dsp, "librosa 0.11 beat_track": librosa_beats,
            "madmom RNN+DBN": madmom_beats}


def level(ref: np.ndarray, est: np.ndarray) -> str:
    """"right", "double", "half", "3:2", "2:3" or "other": the metrical level of ``est`` against ``ref``."""
    if est.size < 3 or ref.size < 3:
        return "other"
    ratio = np.median(np.diff(ref)) / np.median(np.diff(est))
    for name, r in (("right", 1.0), ("double", 2.0), ("half", 0.5), ("3:2", 1.5), ("2:3", 2 / 3)):
        if abs(ratio / r - 1) < 0.08:
            return name
    return "other"


def verdict(ref: np.ndarray, est: np.ndarray, f: float) -> str:
    """How a track was read: "ok" (F >= 0.8), a wrong level, "off-beat" (the right tempo, half a
    beat out), or "drift" (the right tempo, in and out of phase)."""
    if f >= 0.8:
        return "ok"
    lv = level(ref, est)
    if lv != "right":
        return lv
    # Where each estimate falls in its reference beat, 0..1: near 0.5 for all of them is off the beat.
    i = np.clip(np.searchsorted(ref, est) - 1, 0, ref.size - 2)
    phase = (est - ref[i]) / np.maximum(ref[i + 1] - ref[i], 1e-9)
    near_half = np.mean(np.abs(phase - 0.5) < 0.2) if phase.size else 0.0
    return "off-beat" if near_half > 0.5 else "drift"


def score(tracks, fn) -> list[dict]:
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
            down = np.asarray(down, float)
            down = down[down <= tr.beats[-1] + 1.0]
        fd = mir_eval.beat.f_measure(tr.downbeats, down) if down is not None and tr.downbeats.size else np.nan
        rows.append({"name": tr.name, "f": f, "cmlt": cmlt, "amlt": amlt, "offset": np.median(offs) if offs else np.nan,
                     "level": level(tr.beats, np.asarray(est, float)), "down": fd, "verdict": verdict(ref, e, f),
                     "feel": getattr(tr, "feel", ""), "per_min": secs / (tr.samples.size / tr.rate / 60)})
    return rows


def generated(count: int, seconds: float) -> list:
    """``count`` generated songs from seeds the beat model never trained on (HELD_OUT_SEED on)."""
    from scripts.beatcorpus import HELD_OUT_SEED, available_fonts, make_audio
    from scripts.beatdata import Track

    fonts = available_fonts()
    out = []
    for i in range(count):
        e = make_audio(HELD_OUT_SEED + i, seconds, fonts)
        r = e["recipe"]
        tr = Track(f"gen {HELD_OUT_SEED + i} {r['meter']} {r['drums']} {r['font']}", "generated", e["samples"], 22050,
                   e["beats"], e["downbeats"], e["meter"])
        tr.feel = feel_group(r)
        out.append(tr)
    return out


# Unlabelled recordings from Debian packages, for agreement with madmom only (no beat labels exist
# for them, and none are made from them): warzone2100-music (CC BY-SA 3.0 / GPL-2+, an electronic and
# orchestral soundtrack) and pingus-data (GPL, tracker modules: chiptune, march, rock).
REAL_DIRS = ("/usr/share/games/warzone2100/music", "/usr/share/games/pingus/data/music")


def real_excerpts(seconds: float) -> list:
    """A ``seconds`` excerpt from 40 % into each recording under REAL_DIRS, decoded by the
    bundled ffmpeg (Opus, and tracker modules through libopenmpt)."""
    from dreamreel.media.audio import read_audio
    from scripts.beatdata import Track

    out = []
    for folder in REAL_DIRS:
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() not in (".opus", ".ogg", ".it", ".s3m", ".xm", ".mod"):
                continue
            try:
                x = read_audio(path)
            except Exception:  # noqa: BLE001 - a file the decoder refuses is left out, named
                print(f"left out {path}", file=sys.stderr)
                continue
            if x.size < 22050 * seconds:
                continue
            a = int(0.4 * (x.size - 22050 * seconds))
            if np.sqrt(np.mean(x[a:a + int(22050 * seconds)] ** 2)) < 1e-3:  # a module's silent tail
                print(f"left out {path}: silent there", file=sys.stderr)
                continue
            out.append(Track(f"{path.parent.name}/{path.name}", "real", x[a:a + int(22050 * seconds)], 22050,
                             np.zeros(0), np.zeros(0)))
    return out


def agreement(tracks: list, names: list[str]) -> list[str]:
    """Each tracker's beats scored against madmom's on unlabelled recordings: mean F, and how many
    agree at F >= 0.8. madmom is a reference here, not the truth."""
    import mir_eval

    ref = [np.asarray(madmom_beats(t.samples, t.rate)[0], float) for t in tracks]
    lines = [f"Agreement with madmom's beats on {len(tracks)} unlabelled recordings ({', '.join(REAL_DIRS)}; "
             "30 s from 40 % into each): mean F, and recordings at F >= 0.8.", "",
             "| tracker | mean F against madmom | at F >= 0.8 |", "|---|---|---|"]
    for name in names:
        fn = TRACKERS[name]
        fs = [mir_eval.beat.f_measure(mir_eval.beat.trim_beats(r), mir_eval.beat.trim_beats(np.asarray(fn(t.samples, t.rate)[0], float)))
              for t, r in zip(tracks, ref)]
        lines.append(f"| {name} | {np.mean(fs):.3f} | {sum(f >= 0.8 for f in fs)} of {len(fs)} |")
        print(lines[-1], flush=True)
    return lines


def feel_group(recipe: dict) -> str:
    """The failure-table row a generated song belongs to, from its recipe."""
    meter, drums = recipe["meter"], recipe["drums"].split("/")[0]
    if drums == "none":
        return "no drums"
    if meter in ("6/8", "12/8", "4/4 slow-shuffle") or drums == "shuffle":
        return "compound, shuffle"
    if meter in ("3/4",):
        return "3/4"
    if drums in ("skate", "offbeat-snare", "one-drop"):
        return "off-beat snare, one drop"
    if drums in ("halftime", "blast", "metal-16ths", "gallop"):
        return "half-time, metal"
    if drums in ("riff-kick", "syncopated", "breakbeat") or "threes" in recipe.get("comp", "") + recipe.get("bass", ""):
        return "syncopated, threes"
    return "backbeat, four on the floor, clicks"


def long_track(hours: float) -> list[str]:
    """Beats and every envelope of an ``hours``-long track (a beep a second and a 128 bpm kick,
    made with the bundled ffmpeg) in a child: seconds per minute of audio and peak memory."""
    import resource
    import subprocess
    import tempfile

    from dreamreel.media.ffmpeg import ffmpeg_exe

    seconds = int(hours * 3600)
    with tempfile.TemporaryDirectory() as tmp:
        track = Path(tmp) / "long.flac"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        f"sine=frequency=440:beep_factor=4:sample_rate=22050:duration={seconds}",
                        "-ac", "1", "-c:a", "flac", str(track)], check=True)
        code = ("import resource, time\nfrom dreamreel.envelopes import envelopes\n"
                "from dreamreel.media.audio import read_audio\n"
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


def mean_text(values: list[float]) -> str:
    """The mean of the finite ``values`` to 3 places, or "-" when there are none."""
    finite = [v for v in values if np.isfinite(v)]
    return f"{np.mean(finite):.3f}" if finite else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--save", action="store_true", help="save the table (benchmarks/history.md, BENCHMARKS.md)")
    ap.add_argument("--seconds", type=positive_float, default=30.0, help="length of each song")
    ap.add_argument("--generated", type=whole, default=60, help="generated held-out songs")
    ap.add_argument("--only", action="append", help="run only these trackers (repeatable)")
    ap.add_argument("--tracks", action="store_true", help="also list every track's row")
    ap.add_argument("--skip", action="append", help="leave out these trackers (repeatable)")
    ap.add_argument("--long-hours", type=positive_float, help="instead: time dreamreel's analysis of a track this long")
    ap.add_argument("--real", action="store_true", help="instead: agreement with madmom on unlabelled recordings")
    args = ap.parse_args()
    known = {n.split()[0] for n in TRACKERS}
    for name in (args.only or []) + (args.skip or []):
        if name not in known:
            ap.error(f"no tracker {name!r}; the trackers are {', '.join(sorted(known))}")
    if args.long_hours:
        report("Beats and envelopes of a long track", long_track(args.long_hours), args.save)
        return
    if args.real:
        names = [n for n in TRACKERS if not n.startswith("madmom") and (not args.only or n.split()[0] in args.only)]
        report("Beat agreement with madmom on unlabelled recordings", agreement(real_excerpts(args.seconds), names),
               args.save)
        return
    suites = {"clicks": click_suite(), "style songs": song_suite(args.seconds),
              "held-out style songs": song_suite(args.seconds, held_out=True),
              "generated held-out": generated(args.generated, args.seconds)}
    lines = ["Beats more than 1 s after a song's last reference beat (its reverb tail) are not scored.",
             f"{len(suites['clicks'])} click tracks (60-200 bpm, ramps 90-140 and 150-100, a gap, swing); "
             f"{len(suites['style songs'])} hand-written MIDI style songs of {args.seconds:g} s (FluidR3 GM) that the dsp "
             f"tracker's settings were chosen on and {len(suites['held-out style songs'])} held-out ones (other styles "
             f"and tempi); {len(suites['generated held-out'])} generated songs (scripts/beatgen.py, every soundfont, "
             "produced and lossy) from seeds the beat model never trained on. The beat model trained on generated "
             "songs only: every set here is held out from it.", "",
             "| tracker | set | F | CMLt | AMLt | median offset ms | wrong level | downbeat F | s per min |",
             "|---|---|---|---|---|---|---|---|---|"]
    detail, failures = [], {}
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
            down_text = mean_text([r["down"] for r in rows])
            lines.append(f"| {name} | {set_name} | {np.mean([r['f'] for r in rows]):.3f} | "
                         f"{np.mean([r['cmlt'] for r in rows]):.3f} | {np.mean([r['amlt'] for r in rows]):.3f} | "
                         f"{np.nanmedian([r['offset'] for r in rows]) * 1000:+.1f} | {wrong} of {len(rows)} | "
                         f"{down_text} | {np.mean([r['per_min'] for r in rows]):.2f} |")
            detail += [f"| {name} | {r['name']} | {r['f']:.3f} | {r['cmlt']:.3f} | {r['verdict']} | "
                       f"{r['down']:.3f} |" for r in rows]
            if set_name == "generated held-out":
                failures[name] = rows
            print(lines[-1], flush=True)
    if failures:
        lines += ["", "How the generated held-out songs were read, per feel: songs (F >= 0.8) / at a wrong level "
                  "(double, half, 3:2, 2:3) / off the beat / drifting; mean downbeat F where the beats were read right.",
                  "", "| tracker | feel | songs | ok | wrong level | off-beat | drift | downbeat F |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, rows in failures.items():
            for feel in sorted({r["feel"] for r in rows}):
                g = [r for r in rows if r["feel"] == feel]
                ok = [r for r in g if r["verdict"] == "ok"]
                lines.append(f"| {name} | {feel} | {len(g)} | {len(ok)} | "
                             f"{sum(r['verdict'] in ('double', 'half', '3:2', '2:3', 'other') for r in g)} | "
                             f"{sum(r['verdict'] == 'off-beat' for r in g)} | {sum(r['verdict'] == 'drift' for r in g)} | "
                             f"{mean_text([r['down'] for r in ok])} |")
    if args.tracks:
        lines += ["", "| tracker | track | F | CMLt | verdict | downbeat F |", "|---|---|---|---|---|---|", *detail]
    report("Beat tracking against known beats", lines, args.save)


if __name__ == "__main__":
    main()
