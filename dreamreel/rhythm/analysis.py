"""One track's rhythm: beats, their places in the bar, the meter and the tempo, from the samples
(or from beats and bars a person marked). The steps of dreamreel.rhythm composed, with the settings a
person gives when the music is known.

Three trackers: ``dreamreel`` (the default) decodes the learned beat and downbeat activations
(rhythm/model.py) with the tempo HMM (rhythm/beats.py) and the bar HMM (rhythm/bars.py); ``dsp``
decodes the hand-made onset activation (rhythm/activation.py) and finds bars by harmony and low end;
``madmom`` is madmom's RNN and DBN (opt-in, non-commercial models)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dreamreel.rhythm.activation import beat_activation, low_onset, normalised, onset_strength
from dreamreel.rhythm.bars import DSP_METERS, METERS, accents, downbeat_evidence, downbeats
from dreamreel.rhythm.beats import TrackerSettings, heard, refine, track
from dreamreel.rhythm.level import level_change
from dreamreel.rhythm.spectrum import HOP, Features, features

QUIET = 0.05  # of the track's strong onsets: below it no beat is heard


@dataclass(frozen=True)
class RhythmSettings:
    """What a person knows of the music: ``tempo_range`` (bpm), ``bpm`` (a hint: the tempo prior
    is centred there and the range narrowed to within 20 %; with ``bpm_exact`` to within 1 %),
    ``meter`` (beats a bar; None finds 2, 3 or 4), ``downbeat`` (seconds: a bar starts on the beat
    nearest it, and every ``meter`` beats from there, before and after), ``tracker`` (TRACKERS)."""

    tempo_range: tuple[float, float] = (55.0, 215.0)
    bpm: float | None = None
    bpm_exact: bool = False
    meter: int | None = None
    downbeat: float | None = None
    tracker: str = "dreamreel"


TRACKERS = ("dreamreel", "dsp", "madmom")


@dataclass(frozen=True)
class Rhythm:
    """``beats`` (seconds, ascending), ``place`` (int [beats], 1..meter: 1 is a downbeat),
    ``meter``, ``tempo`` (bpm, median; 0 with fewer than two beats), ``features`` and
    ``strength`` (the onset strength per spectral frame, at ``features.rate``)."""

    beats: np.ndarray
    place: np.ndarray
    meter: int
    tempo: float
    features: Features
    strength: np.ndarray

    @property
    def downbeats(self) -> np.ndarray:
        return self.beats[self.place == 1]


# Bars from the model's downbeats alone read 0.657 downbeat F on the 44 style songs and two accented
# click tracks, 0.803 on 15 validation songs; with the heard accents added at this weight 0.796 and
# 0.821, and the accented 3/4 and 4/4 clicks right (at 1.0: 0.825 and 0.821, the 3/4 clicks read as 4).
HEARD_ACCENT = 1.5
# The learned activation knows the pulse's level itself: the tempo prior only breaks near-ties.
LEARNED = TrackerSettings(prior_weight=1.0, prior_octaves=0.6)


def tracker_settings(s: RhythmSettings, learned: bool = False) -> TrackerSettings:
    """The HMM's settings for what a person said of the music, over the learned activation
    (``learned``) or the hand-made one."""
    lo, hi = s.tempo_range
    base = LEARNED if learned else TrackerSettings()
    if s.bpm is None:
        return replace(base, tempo_range=(lo, hi), prior_bpm=min(max(base.prior_bpm, lo), hi))
    spread = 1.01 if s.bpm_exact else 1.2
    return replace(base, tempo_range=(s.bpm / spread, s.bpm * spread), prior_bpm=s.bpm, prior_octaves=0.1)


def _track(act: np.ndarray, norm: np.ndarray, rate: float, settings: RhythmSettings) -> np.ndarray:
    """Beats (seconds) decoded from ``act``; when the onsets say the pulse is twice or half the
    decoded one (rhythm/level.py) and no bpm was given, decoded again within 30 % of that pulse."""
    tr = tracker_settings(settings)
    beats = refine(track(act, rate, tr), norm, rate, tr.observation)
    if settings.bpm is not None or beats.size < 8:
        return beats
    factor = level_change(beats, norm, rate)
    if factor == 1.0:
        return beats
    pulse = 60.0 / float(np.median(np.diff(beats))) * factor
    lo, hi = settings.tempo_range
    if not lo <= pulse <= hi:
        return beats
    narrowed = replace(tr, tempo_range=(max(lo, pulse / 1.3), min(hi, pulse * 1.3)), prior_bpm=pulse)
    return refine(track(act, rate, narrowed), norm, rate, tr.observation)


def analyse(samples: np.ndarray, rate: int, settings: RhythmSettings = RhythmSettings(),
            beats: np.ndarray | None = None, bars: np.ndarray | None = None) -> Rhythm:
    """The rhythm of mono float32 ``samples`` at ``rate`` Hz. ``beats`` (seconds, e.g. a marker
    file a person corrected) replace the detected ones; ``bars`` (seconds, a corrected bars file)
    put a bar's first beat on the beat nearest each. Without them, bars come from the tracker."""
    f = features(np.asarray(samples, np.float32), rate)
    strength = onset_strength(f)
    norm = normalised(strength, f.rate)
    act, act_rate = None, f.rate
    if settings.tracker == "dreamreel":
        from dreamreel.rhythm.model import RATE as MODEL_RATE, activations

        act, act_rate = activations(samples, rate), MODEL_RATE / HOP
    if beats is None:
        if settings.tracker == "madmom":
            from dreamreel.rhythm.madmom_beats import madmom_beats

            beats = madmom_beats(samples, rate)
        elif act is not None:
            tr = tracker_settings(settings, learned=True)
            beats = refine(track(act[0], act_rate, tr), act[0], act_rate, tr.observation)
        else:
            beats = _track(beat_activation(norm), norm, f.rate, settings)
        top = float(np.percentile(strength, 99)) if strength.size else 0.0
        beats = heard(beats, strength, f.rate, QUIET * top) if top > 0 else np.zeros(0)
    beats = np.asarray(beats, float)
    meters = (settings.meter,) if settings.meter else METERS if act is not None else DSP_METERS
    if bars is not None:
        place, meter = places_from_bars(beats, np.asarray(bars, float))
    elif settings.downbeat is not None:
        meter = settings.meter or downbeats(_accents(beats, f, act, act_rate), meters)[1]
        place = places_from(beats, settings.downbeat, meter)
    else:
        place, meter = downbeats(_accents(beats, f, act, act_rate), meters)
    gaps = np.diff(beats)
    tempo = 60.0 / float(np.median(gaps)) if gaps.size and np.median(gaps) > 0 else 0.0
    return Rhythm(beats, place, meter, tempo, f, strength)


def _accents(beats: np.ndarray, f: Features, act: np.ndarray | None, act_rate: float) -> np.ndarray:
    """How strongly each beat sounds like a bar's first: harmony, low end and onset (rhythm/bars.py),
    plus, with the model, its downbeat log-odds near the beat (``act`` at ``act_rate`` frames a second)."""
    heard = accents(beats, f, low_onset(f))
    if act is None:
        return heard
    return downbeat_evidence(beats, act[1], act_rate) + HEARD_ACCENT * heard


def places_from(beats: np.ndarray, downbeat: float, meter: int) -> np.ndarray:
    """Places in the bar (1..``meter``, int [beats]) counted from the beat nearest ``downbeat`` (s)."""
    if beats.size == 0:
        return np.zeros(0, int)
    first = int(np.argmin(np.abs(beats - downbeat)))
    return (np.arange(beats.size) - first) % meter + 1


def places_from_bars(beats: np.ndarray, bars: np.ndarray) -> tuple[np.ndarray, int]:
    """Places in the bar (1..meter, int [beats]) with a bar starting on the beat nearest each of
    ``bars`` (seconds), and every meter-th beat after it until the next (so a marked bar of three
    stays three, and an unmarked stretch goes on in bars); before the first mark, counted back.
    The meter: the most common number of beats between marks (4 with one mark)."""
    if beats.size == 0 or bars.size == 0:
        return np.ones(beats.size, int), 4
    starts = np.unique([int(np.argmin(np.abs(beats - b))) for b in bars])
    lengths = np.diff(starts)
    meter = int(np.bincount(lengths).argmax()) if lengths.size else 4
    idx = np.arange(beats.size)
    last = np.maximum(np.searchsorted(starts, idx, side="right") - 1, 0)  # the mark at or before each beat
    return ((idx - starts[last]) % max(meter, 1) + 1).astype(int), meter
