"""Audio with beats nobody on the team chose, made at run time (never committed): click tracks at
known tempi, ramps, gaps and swing, and songs written as MIDI (tempo map, meter, drums, bass,
chords) and rendered with fluidsynth and a General MIDI soundfont; their beats and downbeats come
from the MIDI's tempo map as pretty_midi reads it.

Used by scripts/bench_beats.py and by the tests (clicks always; songs when fluidsynth is present).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 22050
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")


@dataclass
class Track:
    """A piece of audio with its reference: ``beats`` and ``downbeats`` in seconds, ``meter``
    beats a bar, ``kind`` (click, ramp, song...) and ``name``."""

    name: str
    kind: str
    samples: np.ndarray
    rate: int
    beats: np.ndarray
    downbeats: np.ndarray
    meter: int = 4


def _click(rate: int, freq: float, level: float, ms: float = 15.0) -> np.ndarray:
    t = np.arange(int(rate * ms / 1000)) / rate
    return (level * np.sin(2 * np.pi * freq * t) * np.exp(-t / (ms / 4000))).astype(np.float32)


def clicks_at(times: np.ndarray, seconds: float, meter: int = 4, rate: int = RATE, accent: bool = True,
              name: str = "clicks", kind: str = "click") -> Track:
    """Clicks at ``times`` (seconds); with ``accent``, every ``meter``-th from the first is higher
    and louder, as a metronome marks the bar."""
    x = np.zeros(int(seconds * rate), np.float32)
    strong, weak = _click(rate, 1500.0, 0.9), _click(rate, 1000.0, 0.5 if accent else 0.9)
    for i, t in enumerate(times):
        c = strong if (accent and i % meter == 0) or not accent else weak
        a = int(round(t * rate))
        x[a : a + c.size] += c[: max(0, x.size - a)]
    times = np.asarray(times, float)
    return Track(name, kind, x, rate, times, times[::meter], meter)


def click_track(bpm: float, seconds: float = 30.0, meter: int = 4, **kw) -> Track:
    return clicks_at(np.arange(0.5, seconds - 0.1, 60.0 / bpm), seconds, meter, name=f"clicks {bpm:g} bpm", **kw)


def ramp_track(bpm0: float, bpm1: float, seconds: float = 40.0) -> Track:
    """Clicks whose tempo moves linearly in time from ``bpm0`` to ``bpm1``."""
    times, t = [], 0.5
    while t < seconds - 0.1:
        times.append(t)
        t += 60.0 / (bpm0 + (bpm1 - bpm0) * t / seconds)
    return clicks_at(np.array(times), seconds, name=f"ramp {bpm0:g}-{bpm1:g} bpm", kind="ramp")


def gap_track(bpm: float = 120.0, seconds: float = 40.0, gap: tuple[float, float] = (15.0, 22.0)) -> Track:
    """Clicks with a silent gap; the reference keeps only the clicks heard."""
    times = np.arange(0.5, seconds - 0.1, 60.0 / bpm)
    heard = times[(times < gap[0]) | (times >= gap[1])]
    tr = clicks_at(heard, seconds, accent=False, name=f"gap {bpm:g} bpm", kind="gap")
    tr.downbeats = heard[:0]
    return tr


def swing_track(bpm: float = 110.0, seconds: float = 30.0) -> Track:
    """Beat clicks plus softer swung off-beat clicks (two thirds into each beat)."""
    period = 60.0 / bpm
    beats = np.arange(0.5, seconds - 0.1, period)
    tr = clicks_at(beats, seconds, name=f"swing {bpm:g} bpm", kind="swing")
    off = _click(RATE, 2500.0, 0.35)
    for t in beats + 2 * period / 3:
        a = int(t * RATE)
        tr.samples[a : a + off.size] += off[: max(0, tr.samples.size - a)]
    return tr


def click_suite() -> list[Track]:
    """Clicks at 60-200 bpm, both ramps, a gap and swing."""
    out = [click_track(b) for b in (60, 75, 90, 97.5, 120, 128, 140, 160, 175, 200)]
    out += [ramp_track(90, 140), ramp_track(150, 100), gap_track(), swing_track()]
    return out


# ---- songs: MIDI written with mido, in beats; rendered with fluidsynth --------------------------

KICK, SNARE, CLAP, CHH, OHH, RIDE, CRASH, SIDE = 36, 38, 39, 42, 46, 51, 49, 37


@dataclass
class Style:
    name: str
    meter: int
    drums: bool
    # events(bar, rng) -> list of (beat offset in the bar, channel, program, note, velocity, length in beats)
    make: object


def _house(bar, rng):
    ev = []
    for b in range(4):
        ev += [(b, 9, 0, KICK, 120, 0.25), (b + 0.5, 9, 0, OHH, 70, 0.25)]
        ev += [(b + q / 4, 9, 0, CHH, 40, 0.1) for q in (1, 3)]
        ev.append((b + 0.5, 1, 38, 36 + (0, 0, 3, 5)[bar % 4], 100, 0.4))
    ev += [(1, 9, 0, CLAP, 100, 0.2), (3, 9, 0, CLAP, 100, 0.2)]
    ev += [(0, 2, 89, n, 60, 4) for n in (60 + (0, 0, 3, 5)[bar % 4], 64, 67)]
    return ev


def _rock(bar, rng):
    ev = [(b / 2, 9, 0, CHH, 80 if b % 2 == 0 else 55, 0.2) for b in range(8)]
    ev += [(0, 9, 0, KICK, 115, 0.2), (2, 9, 0, KICK, 110, 0.2), (2.5, 9, 0, KICK, 90, 0.2)]
    ev += [(1, 9, 0, SNARE, 115, 0.2), (3, 9, 0, SNARE, 115, 0.2)]
    root = 40 + (0, 5, 7, 3)[bar % 4]
    ev += [(b / 2, 1, 33, root, 95, 0.45) for b in range(8)]
    ev += [(t, 2, 30, root + 12 + d, 90, 1.8) for t in (0, 2) for d in (0, 7)]
    if bar % 8 == 0:
        ev.append((0, 9, 0, CRASH, 100, 1))
    return ev


def _hiphop(bar, rng):
    sw = 2 / 3  # swung eighth
    ev = [(b + o, 9, 0, CHH, 70 if o == 0 else 50, 0.1) for b in range(4) for o in (0, sw)]
    ev += [(0, 9, 0, KICK, 120, 0.2), (1 + sw, 9, 0, KICK, 100, 0.2), (2.5, 9, 0, KICK, 110, 0.2)]
    ev += [(1, 9, 0, SNARE, 120, 0.2), (3, 9, 0, SNARE, 120, 0.2)]
    ev += [(0, 2, 4, n, 70, 3.5) for n in (57 + (0, 5, 3, 7)[bar % 4], 60, 64)]
    ev += [(0, 1, 34, 33 + (0, 5, 3, 7)[bar % 4], 100, 1.5), (2.5, 1, 34, 33 + (0, 5, 3, 7)[bar % 4], 90, 1)]
    return ev


def _funk(bar, rng):
    ev = [(b / 4, 9, 0, CHH, 75 if b % 2 == 0 else 45, 0.1) for b in range(16)]
    ev += [(0, 9, 0, KICK, 120, 0.2), (0.75, 9, 0, KICK, 90, 0.2), (2.5, 9, 0, KICK, 105, 0.2)]
    ev += [(1, 9, 0, SNARE, 120, 0.2), (3, 9, 0, SNARE, 120, 0.2), (1.75, 9, 0, SNARE, 40, 0.1), (3.25, 9, 0, SNARE, 40, 0.1)]
    ev += [(t, 1, 36, 40 + d, 100, 0.2) for t, d in ((0, 0), (0.75, 12), (1.5, 0), (2.5, 10), (3.25, 12))]
    ev += [(t, 2, 27, n, 70, 0.15) for t in (0.5, 1.5, 2.25, 3.5) for n in (64, 67, 71)]
    return ev


def _punk(bar, rng):
    ev = [(b / 2, 9, 0, CHH if b % 2 else RIDE, 70, 0.2) for b in range(8)]
    ev += [(b, 9, 0, KICK, 115, 0.2) for b in (0, 2)] + [(b, 9, 0, SNARE, 120, 0.2) for b in (1, 3)]
    root = 40 + (0, 5, 7, 5)[bar % 4]
    ev += [(b / 2, 1, 34, root, 100, 0.4) for b in range(8)]
    ev += [(b / 2, 2, 30, root + 12 + d, 85, 0.45) for b in range(8) for d in (0, 7)]
    return ev


def _ballad(bar, rng):
    ev = [(b / 2, 9, 0, CHH, 50, 0.2) for b in range(8)]
    ev += [(0, 9, 0, KICK, 100, 0.2), (2, 9, 0, KICK, 90, 0.2), (1, 9, 0, SIDE, 90, 0.2), (3, 9, 0, SIDE, 90, 0.2)]
    chord = (0, 9, 5, 7)[bar % 4]
    ev += [(b, 0, 0, 48 + chord + (0, 7, 12, 7)[b], 75, 1) for b in range(4)]
    ev += [(0, 3, 48, n + chord, 55, 4) for n in (60, 64, 67)]
    ev.append((0, 1, 32, 36 + chord, 90, 3.5))
    return ev


def _dnb(bar, rng):
    ev = [(b / 2, 9, 0, CHH, 65, 0.1) for b in range(8)]
    ev += [(0, 9, 0, KICK, 120, 0.2), (1.5, 9, 0, KICK, 105, 0.2), (2.75, 9, 0, KICK, 95, 0.2)]
    ev += [(1, 9, 0, SNARE, 120, 0.2), (3, 9, 0, SNARE, 120, 0.2), (3.75, 9, 0, SNARE, 60, 0.1)]
    ev += [(0, 1, 38, 31 + (0, 3, 5, 3)[bar % 4], 110, 3.5)]
    return ev


def _jazz(bar, rng):
    sw = 2 / 3
    ev = [(b, 9, 0, RIDE, 85, 0.3) for b in range(4)] + [(b + sw, 9, 0, RIDE, 60, 0.2) for b in (1, 3)]
    ev += [(b, 9, 0, 44, 70, 0.1) for b in (1, 3)]  # pedal hi-hat on 2 and 4
    walk = [36, 40, 43, 45, 41, 45, 48, 50][(bar % 2) * 4 : (bar % 2) * 4 + 4]
    ev += [(b, 1, 32, walk[b], 95, 0.9) for b in range(4)]
    ev += [(t, 0, 0, n, 65, 0.3) for t in (1 + sw, 3) for n in (64, 67, 70, 74)]
    return ev


def _bossa(bar, rng):
    ev = [(b / 2, 9, 0, CHH, 50, 0.1) for b in range(8)]
    ev += [(t, 9, 0, KICK, 95, 0.2) for t in (0, 1.5, 2, 3.5)]
    ev += [(t, 9, 0, SIDE, 80, 0.1) for t in ((0, 0.75, 1.5, 2.5, 3.25) if bar % 2 == 0 else (0.5, 1.25, 2, 3))]
    ev += [(t, 0, 24, n + (0, 5)[bar % 2], 70, 0.4) for t in (0, 0.75, 1.5, 2.5, 3.25) for n in (57, 60, 64)]
    ev += [(t, 1, 32, 38 + (0, 5)[bar % 2] + d, 90, 0.9) for t, d in ((0, 0), (1.5, 7), (2, 7), (3.5, 0))]
    return ev


def _waltz(bar, rng):
    chord = (0, 5, 7, 0)[bar % 4]
    ev = [(0, 0, 0, 43 + chord, 95, 1)] + [(b, 0, 0, n + chord, 65, 0.8) for b in (1, 2) for n in (60, 64, 67)]
    ev += [(0, 3, 40, 72 + chord + (0, 4, 7)[bar % 3], 70, 2.5)]
    return ev


def _waltz_drums(bar, rng):
    ev = _waltz(bar, rng) + [(0, 9, 0, KICK, 110, 0.2), (1, 9, 0, CHH, 70, 0.1), (2, 9, 0, CHH, 70, 0.1)]
    return ev + [(1, 9, 0, SNARE, 60, 0.1), (2, 9, 0, SNARE, 60, 0.1)]


def _piano(bar, rng):
    chord = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)][bar % 4]
    alberti = (0, 2, 1, 2)
    ev = [(b / 2, 0, 0, 48 + chord[alberti[b % 4]], 70 if b % 2 == 0 else 55, 0.5) for b in range(8)]
    melody = rng.choice([0, 2, 4, 5, 7, 9], size=4)
    ev += [(b, 0, 0, 72 + int(m), 85, 0.95) for b, m in enumerate(melody)]
    return ev


def _strings(bar, rng):
    chord = [(0, 4, 7), (9, 12, 16), (5, 9, 12), (7, 11, 14)][bar % 4]
    ev = [(0, 3, 48, 48 + c, 80, 4) for c in chord]
    ev += [(b, 4, 45, 60 + chord[b % 3] + 12, 90, 0.5) for b in range(4)]  # pizzicato on the beat
    return ev


def _disco(bar, rng):
    ev = [(b, 9, 0, KICK, 115, 0.2) for b in range(4)] + [(b + 0.5, 9, 0, OHH, 80, 0.3) for b in range(4)]
    ev += [(b, 9, 0, CLAP, 100, 0.2) for b in (1, 3)]
    root = 38 + (0, 0, 5, 7)[bar % 4]
    ev += [(b / 2, 1, 39, root + (12 if b % 2 else 0), 100, 0.4) for b in range(8)]  # octave bass
    ev += [(t, 2, 48, n + (0, 0, 5, 7)[bar % 4], 70, 0.25) for t in (0.5, 1.5, 2.5, 3.5) for n in (62, 66, 69)]
    return ev


def _reggae(bar, rng):
    ev = [(2, 9, 0, KICK, 115, 0.2), (2, 9, 0, SIDE, 100, 0.2)]  # the one drop: nothing on one
    ev += [(b / 2 + 1 / 3 * (b % 2), 9, 0, CHH, 55, 0.1) for b in range(8)]
    ev += [(b + 0.5, 2, 27, n + (0, 5)[bar % 2], 80, 0.2) for b in range(4) for n in (60, 64, 67)]  # skank
    ev += [(t, 1, 33, 36 + (0, 5)[bar % 2] + d, 100, 0.9) for t, d in ((0, 0), (1.5, 7), (2.5, 12))]
    return ev


def _metal(bar, rng):
    ev = [(b / 4, 9, 0, KICK, 110, 0.1) for b in range(16)]  # double kick in sixteenths
    ev += [(b, 9, 0, SNARE, 125, 0.2) for b in (1, 3)] + [(b, 9, 0, CRASH if b == 0 else RIDE, 90, 0.3) for b in range(4)]
    root = 40 + (0, 1, 3, 1)[bar % 4]
    ev += [(b / 4, 2, 30, root + d, 95, 0.2) for b in range(16) for d in (0, 7)]
    return ev


def _trap(bar, rng):
    ev = [(b / 4, 9, 0, CHH, 60 if b % 4 else 80, 0.05) for b in range(16)]
    ev += [(t, 9, 0, KICK, 120, 0.3) for t in (0, 0.75, 2.5)] + [(2, 9, 0, CLAP, 120, 0.2)]  # half-time clap
    ev += [(0, 1, 38, 31 + (0, 3, 5, 3)[bar % 4], 110, 2), (2.5, 1, 38, 31 + (0, 3, 5, 3)[bar % 4], 100, 1.4)]
    ev += [(0, 2, 80, n + (0, 3, 5, 3)[bar % 4], 55, 4) for n in (67, 70, 74)]
    return ev


def _folk(bar, rng):
    chord = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (0, 4, 7)][bar % 4]
    ev = [(b, 0, 25, 43 + chord[0] + (0, 7)[b % 2], 85, 0.9) for b in range(4)]  # steel guitar: bass on the beat
    ev += [(b + 0.5, 0, 25, 55 + c, 60, 0.4) for b in range(4) for c in chord]
    ev += [(b, 3, 73, 72 + int(rng.choice([0, 2, 4, 7])), 70, 0.9) for b in (0, 2)]  # flute
    return ev


STYLES = {
    "house": Style("house", 4, True, _house), "rock": Style("rock", 4, True, _rock),
    "hiphop": Style("hiphop", 4, True, _hiphop), "funk": Style("funk", 4, True, _funk),
    "punk": Style("punk", 4, True, _punk), "ballad": Style("ballad", 4, True, _ballad),
    "dnb": Style("dnb", 4, True, _dnb), "jazz": Style("jazz", 4, True, _jazz),
    "bossa": Style("bossa", 4, True, _bossa), "waltz": Style("waltz", 3, False, _waltz),
    "waltz-drums": Style("waltz-drums", 3, True, _waltz_drums), "piano": Style("piano", 4, False, _piano),
    "strings": Style("strings", 4, False, _strings),
    "disco": Style("disco", 4, True, _disco), "reggae": Style("reggae", 4, True, _reggae),
    "metal": Style("metal", 4, True, _metal), "trap": Style("trap", 4, True, _trap),
    "folk": Style("folk", 4, False, _folk), "folk-waltz": Style("folk-waltz", 3, False, _waltz),
}

# (style, bpm at the start, bpm at the end, how it moves: "steady", "step" (a change halfway) or
# "ramp"), chosen to cover the tempi, meters and textures people cut video to.
SONGS = [
    ("house", 124, 124, "steady"), ("house", 133, 133, "steady"), ("rock", 112, 112, "steady"),
    ("rock", 142, 142, "steady"), ("hiphop", 88, 88, "steady"), ("hiphop", 96, 96, "steady"),
    ("funk", 104, 104, "steady"), ("punk", 178, 178, "steady"), ("ballad", 68, 68, "steady"),
    ("ballad", 76, 76, "steady"), ("dnb", 172, 172, "steady"), ("jazz", 150, 150, "steady"),
    ("jazz", 190, 190, "steady"), ("bossa", 128, 128, "steady"), ("waltz", 150, 150, "steady"),
    ("waltz-drums", 168, 168, "steady"), ("waltz-drums", 120, 120, "steady"), ("piano", 84, 84, "steady"),
    ("piano", 100, 100, "steady"), ("strings", 92, 92, "steady"), ("rock", 100, 130, "step"),
    ("house", 120, 140, "ramp"), ("funk", 116, 96, "ramp"), ("bossa", 140, 110, "step"),
]


# Never tuned on: new styles, and the tuning set's styles at other tempi. The tracker's settings
# were chosen on SONGS only; these say how far that choice carries.
HELD_OUT = [
    ("disco", 118, 118, "steady"), ("disco", 126, 126, "steady"), ("reggae", 76, 76, "steady"),
    ("metal", 160, 160, "steady"), ("trap", 140, 140, "steady"), ("folk", 108, 108, "steady"),
    ("folk-waltz", 96, 96, "steady"), ("house", 122, 122, "steady"), ("rock", 126, 126, "steady"),
    ("hiphop", 92, 92, "steady"), ("funk", 112, 112, "steady"), ("punk", 196, 196, "steady"),
    ("ballad", 60, 60, "steady"), ("jazz", 120, 120, "steady"), ("piano", 72, 72, "steady"),
    ("waltz-drums", 138, 138, "steady"), ("dnb", 164, 164, "steady"), ("strings", 110, 110, "steady"),
    ("disco", 110, 130, "ramp"), ("hiphop", 90, 110, "step"),
]


def song_midi(style: Style, bpm0: float, bpm1: float, how: str, bars: int, path: Path, seed: int = 0) -> None:
    """Write ``bars`` bars of ``style`` as a type-1 MIDI file with its tempo map and meter."""
    import mido

    tpb = 480
    rng = np.random.default_rng(seed)
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack()
    mid.tracks.append(meta)
    meta.append(mido.MetaMessage("time_signature", numerator=style.meter, denominator=4, time=0))
    total_beats = bars * style.meter
    last = 0
    for beat in range(total_beats):
        f = beat / max(total_beats - 1, 1)
        bpm = bpm0 if how == "steady" else (bpm0 if (how == "step" and f < 0.5) else
                                           bpm1 if how == "step" else bpm0 + (bpm1 - bpm0) * f)
        if beat == 0 or how == "ramp" or (how == "step" and beat == total_beats // 2):
            tick = beat * tpb
            meta.append(mido.MetaMessage("set_tempo", tempo=int(round(60e6 / bpm)), time=tick - last))
            last = tick
    events = []
    for bar in range(bars):
        for off, ch, prog, note, vel, length in style.make(bar, rng):
            start = int(round((bar * style.meter + off) * tpb))
            events.append((start, ch, prog, note, vel, max(1, int(round(length * tpb)))))
    for ch in sorted({e[1] for e in events}):
        tr = mido.MidiTrack()
        mid.tracks.append(tr)
        prog = next(e[2] for e in events if e[1] == ch)
        msgs = [(0, mido.Message("program_change", channel=ch, program=prog, time=0))] if ch != 9 else []
        for start, c, _, note, vel, length in events:
            if c == ch:
                msgs.append((start, mido.Message("note_on", channel=ch, note=note, velocity=vel)))
                msgs.append((start + length - 1, mido.Message("note_off", channel=ch, note=note, velocity=0)))
        msgs.sort(key=lambda m: (m[0], m[1].type == "note_on"))
        now = 0
        for tick, msg in msgs:
            tr.append(msg.copy(time=tick - now))
            now = tick
    mid.save(path)


def soundfont() -> str | None:
    """A General MIDI soundfont on this machine (with fluidsynth, mido and pretty_midi to use
    it), or None."""
    try:
        import mido  # noqa: F401
        import pretty_midi  # noqa: F401
    except ImportError:
        return None
    if shutil.which("fluidsynth") is None:
        return None
    return next((s for s in SOUNDFONTS if Path(s).is_file()), None)


def render_midi(path: Path, rate: int = RATE) -> np.ndarray:
    """``path`` rendered by fluidsynth with the General MIDI soundfont: mono float32 at ``rate``."""
    font = soundfont()
    if shutil.which("fluidsynth") is None or font is None:
        raise RuntimeError("fluidsynth and a General MIDI soundfont are needed (apt-get install fluidsynth)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(rate), "-F", str(wav), font, str(path)],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
        import wave

        with wave.open(str(wav)) as w:
            channels, raw = w.getnchannels(), w.readframes(w.getnframes())
    data = np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0
    return data.reshape(-1, channels).mean(axis=1)


_LATENCY: dict[int, float] = {}


def synth_latency(rate: int = RATE) -> float:
    """Seconds from a note's MIDI time to its first sound in fluidsynth's output, measured once on
    a lone kick drum at 1 s (the reference beats are moved by it)."""
    if rate not in _LATENCY:
        import mido

        with tempfile.TemporaryDirectory() as tmp:
            mid = mido.MidiFile(type=0, ticks_per_beat=480)
            tr = mido.MidiTrack()
            mid.tracks.append(tr)
            tr.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
            tr.append(mido.Message("note_on", channel=9, note=KICK, velocity=120, time=960))
            tr.append(mido.Message("note_off", channel=9, note=KICK, velocity=0, time=240))
            path = Path(tmp) / "kick.mid"
            mid.save(path)
            x = np.abs(render_midi(path, rate))
        _LATENCY[rate] = float(np.flatnonzero(x > 0.02 * x.max())[0] / rate - 1.0)
    return _LATENCY[rate]


def song(style_name: str, bpm0: float, bpm1: float, how: str, seconds: float = 30.0, seed: int = 0,
         rate: int = RATE) -> Track:
    """A song of ``style_name`` about ``seconds`` long, rendered, with its reference beats."""
    import pretty_midi

    style = STYLES[style_name]
    bars = max(2, int(round(seconds * (bpm0 + bpm1) / 2 / 60 / style.meter)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "song.mid"
        song_midi(style, bpm0, bpm1, how, bars, path, seed)
        pm = pretty_midi.PrettyMIDI(str(path))
        beats, downbeats = pm.get_beats(), pm.get_downbeats()
        end = pm.get_end_time()
        samples = render_midi(path, rate)
    lat = synth_latency(rate)
    keep = beats < end - 0.05
    name = f"{style_name} {bpm0:g}" + (f"-{bpm1:g} {how}" if how != "steady" else "")
    return Track(name, "song", samples, rate, beats[keep] + lat, downbeats[downbeats < end - 0.05] + lat, style.meter)


def song_suite(seconds: float = 30.0, held_out: bool = False) -> list[Track]:
    """The tuning songs (SONGS), or with ``held_out`` the songs never tuned on (HELD_OUT)."""
    songs, seed = (HELD_OUT, 1000) if held_out else (SONGS, 0)
    return [song(s, b0, b1, how, seconds, seed=seed + i) for i, (s, b0, b1, how) in enumerate(songs)]
