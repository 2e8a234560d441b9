"""One track's rhythm: beats, their places in the bar, the meter and the tempo, from the samples
(or from beats a person marked). The steps of pipeline.rhythm composed, with the settings a
person gives when the music is known."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.rhythm.activation import beat_activation, low_onset, normalised, onset_strength
from pipeline.rhythm.bars import accents, downbeats
from pipeline.rhythm.beats import TrackerSettings, heard, refine, track
from pipeline.rhythm.level import level_change
from pipeline.rhythm.spectrum import Features, features

QUIET = 0.05  # of the track's strong onsets: below it no beat is heard


@dataclass(frozen=True)
class RhythmSettings:
    """What a person knows of the music: ``tempo_range`` (bpm), ``bpm`` (a hint: the tempo prior
    is centred there and the range narrowed to within 20 %; with ``bpm_exact`` to within 1 %),
    ``meter`` (beats a bar; None finds 3 or 4), ``tracker`` ("dreamreel" or "madmom")."""

    tempo_range: tuple[float, float] = (55.0, 215.0)
    bpm: float | None = None
    bpm_exact: bool = False
    meter: int | None = None
    tracker: str = "dreamreel"


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


def tracker_settings(s: RhythmSettings) -> TrackerSettings:
    """The HMM's settings for what a person said of the music."""
    lo, hi = s.tempo_range
    if s.bpm is None:
        return TrackerSettings(tempo_range=(lo, hi), prior_bpm=min(max(TrackerSettings.prior_bpm, lo), hi))
    spread = 1.01 if s.bpm_exact else 1.2
    return TrackerSettings(tempo_range=(s.bpm / spread, s.bpm * spread), prior_bpm=s.bpm, prior_octaves=0.1)


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
            beats: np.ndarray | None = None) -> Rhythm:
    """The rhythm of mono float32 ``samples`` at ``rate`` Hz. ``beats`` (seconds, e.g. a marker
    file a person corrected) replace the detected ones; bars are found on them all the same."""
    f = features(np.asarray(samples, np.float32), rate)
    strength = onset_strength(f)
    norm = normalised(strength, f.rate)
    if beats is None:
        if settings.tracker == "madmom":
            from pipeline.rhythm.madmom_beats import madmom_beats

            beats = madmom_beats(samples, rate)
        else:
            beats = _track(beat_activation(norm), norm, f.rate, settings)
        top = float(np.percentile(strength, 99)) if strength.size else 0.0
        beats = heard(beats, strength, f.rate, QUIET * top) if top > 0 else np.zeros(0)
    beats = np.asarray(beats, float)
    meters = (settings.meter,) if settings.meter else (3, 4)
    place, meter = downbeats(accents(beats, f, low_onset(f)), meters)
    gaps = np.diff(beats)
    tempo = 60.0 / float(np.median(gaps)) if gaps.size and np.median(gaps) > 0 else 0.0
    return Rhythm(beats, place, meter, tempo, f, strength)
