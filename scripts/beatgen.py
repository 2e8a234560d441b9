"""Random songs with exact beats and bars: a grammar of grooves, bass lines, riffs and sections,
written as MIDI events in beats with a tempo map. Pure: a seed in, a ``Song`` out; rendering is
scripts/beatcorpus.py's job.

What it covers is what fooled the hand-made tracker on real records (issue 36): riffs accented in
threes (3+3+2, 3+3+3+3+4) and dotted-eighth figures, snares on the off-eighths (the punk skate beat,
the reggae skank), swing and shuffle, syncopated bass, stop-time stabs, drumless intros and songs,
breaks, fills, half-time and double-time feels, tempo ramps and steps, 2/4, 3/4, 4/4, 6/8 and 12/8.
The beat is the pulse a drummer counts: the dotted quarter in 6/8 and 12/8 (two and four beats a
bar), the quarter note elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KICK, SNARE, RIM, CLAP, CHH, PHH, OHH, RIDE, CRASH, SIDE, COWBELL, TAMB = 36, 38, 37, 39, 42, 44, 46, 51, 49, 37, 56, 54
TOMS = (50, 48, 47, 45, 43, 41)
KITS = (0, 8, 16, 24, 25, 32, 40)  # GM drum kits: standard, room, power, electronic, 808, jazz, brush

# (name, beats a bar, pulses a beat (2 straight, 3 compound), weight)
METERS = (("4/4", 4, 2, 0.58), ("3/4", 3, 2, 0.13), ("6/8", 2, 3, 0.09), ("12/8", 4, 3, 0.12), ("2/4", 2, 2, 0.03),
          ("4/4 slow-shuffle", 4, 3, 0.05))
PROGRESSIONS = ((0, 5, 7, 5), (0, 7, 9, 5), (0, 9, 5, 7), (0, 3, 5, 3), (0, 10, 8, 7), (0, 5, 0, 7), (0, 8, 3, 10),
                (0, 0, 5, 7), (0, 2, 5, 7), (0, 4, 5, 5))
BASS_PROGRAMS = (32, 33, 34, 35, 36, 37, 38, 39, 43)
GUITAR_DIST = (29, 30)
GUITAR_CLEAN = (24, 25, 26, 27, 28)
KEYS = (0, 1, 2, 4, 5, 6, 16, 17, 18, 19)
PADS = (48, 49, 50, 52, 88, 89, 90, 91, 94, 95)
LEADS = (56, 57, 61, 64, 65, 66, 71, 73, 80, 81, 82, 84, 40, 22, 11, 13, 8)


@dataclass
class Song:
    """``events``: (start beat, channel, note, velocity 1-127, length in beats); ``programs``:
    channel -> GM program (channel 9, the drums, -> kit); ``bpm``: the tempo of each beat;
    ``meter``: beats a bar; ``bars``; ``recipe``: what was chosen, for the failure tables."""

    events: list[tuple[float, int, int, int, float]]
    programs: dict[int, int]
    bpm: np.ndarray
    meter: int
    bars: int
    time_signature: tuple[int, int]
    recipe: dict[str, str] = field(default_factory=dict)

    def beat_times(self) -> np.ndarray:
        """Seconds of each beat of the song from its first (float64 [beats + 1]; the last is the end)."""
        return np.concatenate([[0.0], np.cumsum(60.0 / self.bpm)])

    def time_of(self, beat: np.ndarray) -> np.ndarray:
        """Seconds at (fractional) ``beat`` positions, through the tempo map."""
        t = self.beat_times()
        beat = np.asarray(beat, float)
        i = np.clip(np.floor(beat).astype(int), 0, self.bpm.size - 1)
        return t[i] + (beat - i) * 60.0 / self.bpm[i]


def _choose(rng, options, weights=None):
    w = None if weights is None else np.asarray(weights, float) / np.sum(weights)
    return options[int(rng.choice(len(options), p=w))]


def tempo_map(rng, beats: int, lo: float, hi: float) -> tuple[np.ndarray, str]:
    """The bpm of each of ``beats`` beats: steady (most songs), a ramp, a step, or a slow drift."""
    bpm0 = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    how = _choose(rng, ("steady", "ramp", "step", "drift"), (0.7, 0.1, 0.1, 0.1))
    f = np.arange(beats) / max(beats - 1, 1)
    if how == "ramp":
        bpm1 = float(np.clip(bpm0 * rng.uniform(0.75, 1.3), lo * 0.9, hi * 1.1))
        return bpm0 + (bpm1 - bpm0) * f, how
    if how == "step":
        bpm1 = float(np.clip(bpm0 * _choose(rng, (0.8, 0.9, 1.1, 1.2, 1.25)), lo * 0.9, hi * 1.1))
        at = rng.uniform(0.3, 0.7)
        return np.where(f < at, bpm0, bpm1), how
    if how == "drift":  # a band without a click: a few % of wander
        walk = np.cumsum(rng.normal(0, 0.004, beats))
        return bpm0 * np.exp(walk - walk.mean()), how
    return np.full(beats, bpm0), how


# ---- drums: one bar of a groove, as (beat offset, note, velocity, length) -----------------------

def _hats(rng, meter, sub, kind):
    if kind == "none":
        return []
    step = {"eighths": 1 / sub if sub == 2 else 1 / 3, "sixteenths": 0.25 if sub == 2 else 1 / 6,
            "quarters": 1.0, "offbeat-open": None, "ride": 1 / sub if sub == 2 else 1 / 3}[kind]
    if kind == "offbeat-open":
        return [(b + 0.5, OHH, 85, 0.3) for b in range(meter)]
    note = RIDE if kind == "ride" else CHH
    n = int(round(meter / step))
    accent_every = _choose(rng, (1, 2, 3), (0.2, 0.65, 0.15)) if kind != "quarters" else 1
    return [(i * step, note, 85 if i % accent_every == 0 else 55, 0.1) for i in range(n)]


def groove(rng, meter: int, sub: int) -> dict:
    """A drum groove's recipe: which feel, and its parts chosen at random."""
    if sub == 3:
        feels = ("compound", "shuffle", "compound-halftime")
        w = (0.5, 0.35, 0.15)
    elif meter == 3:
        feels, w = ("waltz", "waltz-backbeat"), (0.6, 0.4)
    else:
        feels = ("backbeat", "four-on-floor", "halftime", "skate", "offbeat-snare", "one-drop", "syncopated",
                 "metal-16ths", "gallop", "blast", "breakbeat", "riff-kick")
        w = (0.22, 0.12, 0.08, 0.08, 0.05, 0.04, 0.12, 0.06, 0.05, 0.03, 0.08, 0.07)
    feel = _choose(rng, feels, w)
    hats = _choose(rng, ("eighths", "sixteenths", "quarters", "offbeat-open", "ride", "none"),
                   (0.45, 0.18, 0.08, 0.1, 0.12, 0.07))
    return {"feel": feel, "hats": hats, "kit": int(_choose(rng, KITS, (0.4, 0.12, 0.12, 0.1, 0.08, 0.1, 0.08))),
            "snare": int(_choose(rng, (SNARE, SNARE, CLAP, RIM, 40))), "ghosts": bool(rng.random() < 0.3),
            "swing": float(_choose(rng, (0.0, 0.0, 0.0, 0.08, 0.15))) if sub == 2 else 0.0}


def drum_bar(rng, g: dict, meter: int, sub: int, riff: list[float]) -> list[tuple[float, int, int, float]]:
    """One bar of groove ``g`` (offsets in beats from the bar's start)."""
    feel, sn = g["feel"], g["snare"]
    ev = _hats(rng, meter, sub, g["hats"])
    k = lambda t, v=115: (t, KICK, v, 0.2)  # noqa: E731
    s = lambda t, v=115: (t, sn, v, 0.2)  # noqa: E731
    if feel == "backbeat":
        kicks = _choose(rng, ((0, 2), (0, 2, 2.5), (0, 1.5, 2), (0, 0.5, 2), (0, 2.5), (0, 2, 3.5), (0, 1.75, 2.5)))
        ev += [k(t) for t in kicks] + [s(t) for t in (1, 3)]
    elif feel == "four-on-floor":
        ev += [k(b) for b in range(4)] + [s(t, 100) for t in (1, 3)]
    elif feel == "halftime":  # the snare on 3: heard as half the tempo unless the hats say otherwise
        ev += [k(t) for t in _choose(rng, ((0,), (0, 0.75), (0, 2.5), (0, 1.5, 3.5)))] + [s(2)]
    elif feel == "skate":  # punk double time: kick on the beat, snare on every off-eighth
        ev += [k(b) for b in range(4)] + [s(b + 0.5, 105) for b in range(4)]
    elif feel == "offbeat-snare":
        ev += [k(t) for t in (0, 2)] + [s(b + 0.5, 100) for b in range(4)]
    elif feel == "one-drop":  # nothing on one; kick and rim on three
        ev += [k(2), (2, RIM, 110, 0.2)]
    elif feel == "syncopated":
        kicks = [0] + [t for t in (0.75, 1.5, 1.75, 2.5, 2.75, 3.25, 3.5) if rng.random() < 0.3]
        ev += [k(t, 110) for t in kicks] + [s(t) for t in (1, 3)]
    elif feel == "metal-16ths":
        ev += [k(i / 4, 105) for i in range(16)] + [s(t, 125) for t in (1, 3)]
    elif feel == "gallop":  # eighth and two sixteenths
        ev += [k(b + o, 105) for b in range(4) for o in (0, 0.5, 0.75)] + [s(t, 125) for t in (1, 3)]
    elif feel == "blast":
        ev += [k(i / 2, 105) for i in range(8)] + [s(i / 2 + 0.25, 110) for i in range(8)]
    elif feel == "breakbeat":
        ev += [k(t) for t in (0, 0.5, 2.25, 2.5)] + [s(t) for t in (1, 3)] + [s(t, 50) for t in (1.75, 3.25)]
    elif feel == "riff-kick":  # the kick doubles the guitar riff (often accented in threes)
        ev += [k(t, 110) for t in riff] + [s(t, 120) for t in (1, 3)]
    elif feel == "waltz":
        ev += [k(0)] + [s(t, 70) for t in (1, 2)]
    elif feel == "waltz-backbeat":
        ev += [k(0), k(2, 90)] + [s(1, 110)]
    elif feel == "compound":  # 6/8, 12/8: kick on the beats that start a bar half, snare between
        ev += [k(b) for b in range(0, meter, 2)] + [s(b) for b in range(1, meter, 2)]
        if meter == 2:
            ev = [e for e in ev if e[1] != sn] + [s(1)]
    elif feel == "shuffle":
        ev += [k(b) for b in range(0, meter, 2)] + [s(b) for b in range(1, meter, 2)]
        ev = [e for e in ev if e[1] not in (CHH, RIDE)]
        ev += [(b + o, RIDE if g["hats"] == "ride" else CHH, 85 if o == 0 else 60, 0.1) for b in range(meter)
               for o in (0, 2 / 3)]
    elif feel == "compound-halftime":
        ev += [k(0)] + [s(meter / 2)]
    if g["ghosts"]:
        ev += [(t, SNARE, 35, 0.1) for t in np.arange(0, meter, 0.25 if sub == 2 else 1 / 3) if rng.random() < 0.12]
    if g["swing"]:
        ev = [(t + g["swing"] if abs((t % 1) - 0.5) < 1e-6 else t, n, v, ln) for t, n, v, ln in ev]
    return ev


def fill(rng, meter: int, sub: int) -> list[tuple[float, int, int, float]]:
    """A tom or snare run over the bar's last one or two beats."""
    beats = int(_choose(rng, (1, 2))) if meter > 2 else 1
    step = 0.25 if sub == 2 else 1 / 3
    start = meter - beats
    n = int(round(beats / step))
    toms = list(TOMS) if rng.random() < 0.6 else [SNARE] * 6
    return [(start + i * step, toms[min(i * len(toms) // n, len(toms) - 1)], 90 + int(rng.integers(0, 30)), 0.15)
            for i in range(n)]


# ---- pitched parts ------------------------------------------------------------------------------

def rhythm_figure(rng, meter: int, sub: int, kind: str) -> list[float]:
    """Onsets (beats into the bar) of a riff or bass figure."""
    if kind == "threes":  # accents in groups of three sixteenths (or eighths), the bar closing on two
        unit = 0.25 if rng.random() < 0.6 else 0.5
        groups = [0.0]
        while groups[-1] + 3 * unit < meter - 1e-9:
            groups.append(groups[-1] + 3 * unit)
        return groups
    if kind == "tresillo":
        return [t + b for b in range(0, meter, 2) for t in (0, 0.75, 1.5)] if meter % 2 == 0 else [0, 0.75, 1.5, 2]
    if kind == "dotted-eighths":
        return list(np.arange(0, meter, 0.75))
    if kind == "eighths":
        return list(np.arange(0, meter, 0.5 if sub == 2 else 1 / 3))
    if kind == "quarters":
        return list(range(meter))
    if kind == "offbeats":
        return [b + (0.5 if sub == 2 else 2 / 3) for b in range(meter)]
    if kind == "syncopated":
        grid = np.arange(0, meter, 0.25 if sub == 2 else 1 / 3)
        on = [t for t in grid if rng.random() < (0.7 if t % 1 == 0 else 0.3)]
        return sorted(set([0.0] + on))
    if kind == "stop":  # stop-time: a stab on the one, then silence
        return [0.0]
    if kind == "whole":
        return [0.0]
    if kind == "halves":
        return list(np.arange(0, meter, 2)) if meter != 3 else [0.0]
    return [0.0]


BASS_FIGURES = ("on-kick", "eighths", "quarters", "tresillo", "dotted-eighths", "syncopated", "whole", "walking",
                "threes", "boogie")
COMP_FIGURES = ("eighths", "threes", "offbeats", "stop", "whole", "halves", "quarters", "syncopated",
                "dotted-eighths", "arpeggio")


WOODBLOCKS = ((76, 77), (75, 75), (37, 37), (56, 56), (33, 34), (76, 76), (81, 80))  # (accent, other)


def metronome(seed: int, seconds: float = 30.0) -> Song:
    """A click track: a woodblock, claves, side stick, cowbell or metronome click on every beat,
    the bar's first accented (or not), at any tempo, steady or moving; now and then a few bars of
    chords over it."""
    rng = np.random.default_rng(seed)
    meter = int(_choose(rng, (4, 3, 2), (0.6, 0.3, 0.1)))
    bpm_guess = float(np.exp(rng.uniform(np.log(55), np.log(215))))
    bars = max(4, int(round(seconds * bpm_guess / 60 / meter)))
    bpm, how = tempo_map(rng, bars * meter, bpm_guess / 1.001, bpm_guess * 1.001)
    accent, other = WOODBLOCKS[int(rng.integers(0, len(WOODBLOCKS)))]
    accented = rng.random() < 0.6
    events = [(float(b), 9, accent if (b % meter == 0 and accented) else other,
               120 if (b % meter == 0 and accented) else 90, 0.1) for b in range(bars * meter)]
    if rng.random() < 0.3:
        key = int(rng.integers(0, 12))
        events += [(float(bar * meter), 2, 52 + key + d, 70, meter * 0.95) for bar in range(bars) for d in (0, 4, 7)]
    recipe = {"meter": f"{meter}/4", "tempo": how, "drums": "metronome", "bass": "-", "comp": "-", "intro": "0"}
    return Song(events, {9: 0, 2: int(_choose(rng, KEYS + PADS))}, bpm, meter, bars, (meter, 4), recipe)


def random_song(seed: int, seconds: float = 30.0) -> Song:
    """A song about ``seconds`` long, made from ``seed`` alone: one in 25 a click track."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.04:
        return metronome(seed + 17, seconds)
    name, meter, sub, _ = METERS[int(rng.choice(len(METERS), p=np.array([m[3] for m in METERS]) / sum(m[3] for m in METERS)))]
    lo, hi = {(2, 3): (50, 92), (4, 3): (52, 100)}.get((meter, sub), (60, 200))
    if name == "4/4 slow-shuffle":
        lo, hi = 80, 160
    drumless = rng.random() < 0.12
    # Enough bars for ``seconds`` at the opening tempo, then the tempo map over all their beats.
    bpm_guess = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    bars = max(4, int(round(seconds * bpm_guess / 60 / meter)))
    rng_t = np.random.default_rng(seed + 7_000_003)
    bpm, how = tempo_map(rng_t, bars * meter, bpm_guess / 1.001, bpm_guess * 1.001)
    key = int(rng.integers(0, 12))
    minor = rng.random() < 0.5
    prog = _choose(rng, PROGRESSIONS)
    chord_len = int(_choose(rng, (1, 1, 2))) if meter > 2 else 2  # bars a chord lasts
    programs = {9: 0, 1: int(_choose(rng, BASS_PROGRAMS))}
    comp_kind = _choose(rng, ("dist", "clean", "keys", "pad", "none"), (0.35, 0.2, 0.2, 0.15, 0.1))
    programs[2] = int(_choose(rng, {"dist": GUITAR_DIST, "clean": GUITAR_CLEAN, "keys": KEYS, "pad": PADS,
                                    "none": KEYS}[comp_kind]))
    has_lead = rng.random() < 0.5
    programs[3] = int(_choose(rng, LEADS))
    has_pad = rng.random() < 0.3 and comp_kind != "pad"
    programs[4] = int(_choose(rng, PADS))

    grooves = [groove(rng, meter, sub) for _ in range(2)]
    programs[9] = grooves[0]["kit"]
    bass_fig = [_choose(rng, BASS_FIGURES) for _ in range(2)]
    comp_fig = [_choose(rng, COMP_FIGURES) for _ in range(2)]
    riffs = [rhythm_figure(rng, meter, sub, "threes" if rng.random() < 0.5 else _choose(rng, ("syncopated", "tresillo",
                                                                                             "dotted-eighths")))
             for _ in range(2)]
    # Sections: an intro (maybe without drums), A and B parts, sometimes a break; fills end phrases.
    intro = int(_choose(rng, (0, 1, 2, 4), (0.35, 0.15, 0.3, 0.2))) if bars > 6 else 0
    intro_kind = _choose(rng, ("no-drums", "hats-only", "full", "kick-only"), (0.5, 0.2, 0.15, 0.15))
    phrase = int(_choose(rng, (4, 8)))
    brk_at = int(rng.integers(intro + 2, bars)) if bars > intro + 4 and rng.random() < 0.3 else -1
    brk_kind = _choose(rng, ("stop-time", "drums-only", "no-drums"))
    lead_density = rng.uniform(0.2, 0.7)
    scale = np.array([0, 2, 3, 5, 7, 8, 10] if minor else [0, 2, 4, 5, 7, 9, 11])
    humanise = rng.uniform(0.0, 0.012)  # beats of timing jitter: a tight band to a loose one
    events: list[tuple[float, int, int, int, float]] = []
    vel_scale = {ch: rng.uniform(0.55, 1.0) for ch in (1, 2, 3, 4, 9)}

    def add(t, ch, note, vel, length):
        jitter = rng.normal(0, humanise) if ch != 9 or t % 1 else rng.normal(0, humanise * 0.5)
        v = int(np.clip(vel * vel_scale[ch] * rng.uniform(0.85, 1.1), 1, 127))
        events.append((max(0.0, t + jitter), ch, int(np.clip(note, 0, 127)), v, max(0.05, length)))

    lead_pos = int(rng.integers(0, 7))
    for bar in range(bars):
        part = 0 if (bar - intro) // phrase % 2 == 0 else 1
        g = grooves[part]
        t0 = bar * meter
        root = key + prog[(bar // chord_len) % len(prog)]
        third = 3 if minor and prog[(bar // chord_len) % len(prog)] in (0, 5, 7) else 4
        in_intro, in_break = bar < intro, bar == brk_at
        drums = not drumless and not (in_intro and intro_kind == "no-drums") and not (in_break and brk_kind == "no-drums")
        if drums:
            bar_ev = drum_bar(rng, g, meter, sub, riffs[part])
            if in_intro and intro_kind == "hats-only":
                bar_ev = [e for e in bar_ev if e[1] in (CHH, OHH, RIDE)]
            if in_intro and intro_kind == "kick-only":
                bar_ev = [(float(b), KICK, 110, 0.2) for b in range(meter)]
            if in_break and brk_kind == "stop-time":
                bar_ev = [(0.0, KICK, 120, 0.2), (0.0, CRASH, 110, 1.0)]
            if (bar + 1 - intro) % phrase == 0 and bar + 1 < bars and not in_intro and rng.random() < 0.6:
                cut = meter - 2 if meter > 2 else 1
                bar_ev = [e for e in bar_ev if e[0] < cut or e[1] in (CHH,)] + fill(rng, meter, sub)
            if (bar - intro) % phrase == 0 and bar >= intro and rng.random() < 0.7:
                bar_ev.append((0.0, CRASH, 105, 1.0))
            for t, note, vel, length in bar_ev:
                add(t0 + t, 9, note, vel, length)
        pitched = not (in_break and brk_kind == "drums-only")
        if not pitched:
            continue
        # Bass.
        fig = bass_fig[part]
        if fig == "on-kick":
            onsets = sorted({e[0] for e in drum_bar(rng, g, meter, sub, riffs[part]) if e[1] == KICK}) or [0.0]
        elif fig == "walking":
            onsets = list(range(meter))
        elif fig == "boogie":
            onsets = [b + o for b in range(meter) for o in ((0, 2 / 3) if sub == 3 or g["swing"] else (0, 0.5))]
        else:
            onsets = rhythm_figure(rng, meter, sub, fig)
        if in_break and brk_kind == "stop-time":
            onsets = [0.0]
        if not (in_intro and intro_kind in ("no-drums",) and rng.random() < 0.5):
            for i, t in enumerate(onsets):
                nxt = onsets[i + 1] if i + 1 < len(onsets) else meter
                step = (0, 7, 12, 7, 9, 7)[i % 6] if fig == "boogie" else (0, 4, 7, 9)[i % 4] if fig == "walking" else 0
                add(t0 + t, 1, 28 + (root % 12) + step, 105 if t == 0 else 90, (nxt - t) * 0.9)
        # Comp: guitar, keys or a pad.
        if comp_kind != "none":
            cf = comp_fig[part]
            chord = [0, 7, 12] if comp_kind == "dist" else [0, third, 7]
            base = 40 + root % 12 if comp_kind == "dist" else 52 + root % 12
            if in_break and brk_kind == "stop-time" or cf == "stop":
                onsets = [0.0]
            elif cf == "arpeggio":
                onsets = rhythm_figure(rng, meter, sub, "eighths")
            elif cf in ("eighths", "threes") and comp_kind == "dist" and rng.random() < 0.5:
                onsets = riffs[part]
            else:
                onsets = rhythm_figure(rng, meter, sub, cf)
            for i, t in enumerate(onsets):
                nxt = onsets[i + 1] if i + 1 < len(onsets) else meter
                length = (nxt - t) * (0.9 if comp_kind != "pad" else 1.0)
                notes = [chord[i % 3]] if cf == "arpeggio" else chord
                accent = 100 if (cf == "threes" or t == 0) else 80
                for d in notes:
                    add(t0 + t, 2, base + d, accent, length)
        if has_pad:
            for d in (0, third, 7):
                add(t0, 4, 60 + root % 12 + d, 60, meter * 0.98)
        # A melody: a random walk on the scale, on a rhythm of its own.
        if has_lead and not in_intro:
            t = 0.0
            while t < meter - 1e-9:
                length = float(_choose(rng, (0.5, 1.0, 1.5, 2.0, 0.75, 1 / 3 if sub == 3 else 0.25)))
                if rng.random() < lead_density:
                    lead_pos = int(np.clip(lead_pos + rng.integers(-2, 3), 0, 13))
                    note = 64 + key % 12 + scale[lead_pos % 7] + 12 * (lead_pos // 7)
                    add(t0 + t, 3, note, 90, min(length, meter - t))
                t += length
    recipe = {"meter": name, "tempo": how, "drums": "none" if drumless else f"{grooves[0]['feel']}/{grooves[1]['feel']}",
              "bass": "/".join(bass_fig), "comp": f"{comp_kind}:{'/'.join(comp_fig)}", "intro": f"{intro}:{intro_kind}"}
    ts = {"6/8": (6, 8), "12/8": (12, 8)}.get(name, (meter, 4))
    return Song(events, programs, bpm, meter, bars, ts, recipe)


def write_midi(song: Song, path) -> None:
    """``song`` as a type-1 MIDI file: its tempo map beat by beat, its time signature, one track a
    channel with its program (the drum kit on channel 10)."""
    import mido

    tpb = 480
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    meta = mido.MidiTrack()
    mid.tracks.append(meta)
    meta.append(mido.MetaMessage("time_signature", numerator=song.time_signature[0],
                                 denominator=song.time_signature[1], time=0))
    last, prev_bpm = 0, None
    for beat, bpm in enumerate(song.bpm):
        if prev_bpm is None or abs(bpm - prev_bpm) > 1e-9:
            meta.append(mido.MetaMessage("set_tempo", tempo=int(round(60e6 / bpm)), time=beat * tpb - last))
            last, prev_bpm = beat * tpb, bpm
    for ch in sorted({e[1] for e in song.events}):
        tr = mido.MidiTrack()
        mid.tracks.append(tr)
        msgs = [(0, 0, mido.Message("program_change", channel=ch, program=song.programs.get(ch, 0), time=0))]
        for start, c, note, vel, length in song.events:
            if c == ch:
                a = int(round(start * tpb))
                msgs.append((a, 2, mido.Message("note_on", channel=ch, note=note, velocity=vel)))
                msgs.append((a + max(1, int(round(length * tpb))) - 1, 1,
                             mido.Message("note_off", channel=ch, note=note, velocity=0)))
        msgs.sort(key=lambda m: (m[0], m[1]))
        now = 0
        for tick, _, msg in msgs:
            tr.append(msg.copy(time=tick - now))
            now = tick
    mid.save(path)
