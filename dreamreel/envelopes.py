"""Audio envelopes sampled at video frame times: loudness, onsets, bands, beats and bars.

Pure numpy: mono float32 samples in, one value per video frame out. The rhythm itself (beats,
bars, tempo) comes from dreamreel.rhythm.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dreamreel.rhythm.analysis import Rhythm, RhythmSettings, analyse

# The variables a schedule reads per frame, in the order the timeline shows them.
LANES = ("rms", "onset", "bass", "mid", "high", "beat", "bar")
COUNTS = ("beat_number", "beat_in_bar", "bar_number")
PULSE_SECONDS = 0.1  # a beat's and a bar's pulse decays with this time constant


@dataclass(frozen=True)
class Envelopes:
    """Per-frame envelopes, each float32 [frames]: ``rms``, ``onset``, ``bass``, ``mid``, ``high``
    in [0,1]; ``beat`` and ``bar`` pulses (1 on the frame holding a beat or downbeat, decaying);
    ``beat_number`` (1 from the render's first beat, 0 before it), ``beat_in_bar`` (1..meter at the
    last beat, 0 before the first) and ``bar_number`` (1 from the render's first downbeat, 0 before it). ``beats``, ``downbeats`` and ``onsets`` are times
    in seconds of the audio; ``offset`` is frame 0's time there."""

    rms: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    tempo: float  # beats per minute (median spacing), 0 when there is no steady beat
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    onsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offset: float = 0.0
    bass: np.ndarray | None = None
    mid: np.ndarray | None = None
    high: np.ndarray | None = None
    bar: np.ndarray | None = None
    beat_in_bar: np.ndarray | None = None
    bar_number: np.ndarray | None = None
    downbeats: np.ndarray = field(default_factory=lambda: np.zeros(0))
    meter: int = 4
    notes: tuple[str, ...] = ()
    beat_number: np.ndarray | None = None

    def track(self, name: str) -> np.ndarray:
        """The per-frame values of variable ``name`` (zeros where it was not computed)."""
        v = getattr(self, name)
        return np.zeros(len(self.rms), np.float32) if v is None else v

    def at(self, frame: int) -> dict[str, float]:
        i = min(max(frame, 0), len(self.rms) - 1)
        return {k: float(self.track(k)[i]) for k in (*LANES, *COUNTS)}


def _normalise(x: np.ndarray) -> np.ndarray:
    top = np.percentile(x, 99.5) if x.size else 0.0
    return np.clip(x / top, 0.0, 1.0).astype(np.float32) if top > 1e-12 else np.zeros_like(x, np.float32)


def envelopes(samples: np.ndarray, rate: int, fps: float, frames: int, offset: float = 0.0,
              beats: np.ndarray | None = None, settings: RhythmSettings = RhythmSettings(),
              notes: tuple[str, ...] = (), bars: np.ndarray | None = None) -> Envelopes:
    """Envelopes of mono ``samples`` at ``rate`` Hz for ``frames`` video frames at ``fps``.

    Frame i covers [offset + i/fps, offset + (i+1)/fps) seconds of the audio: rms is the loudness
    over that span; onset, bass, mid and high the strongest value within it. ``beats`` (seconds
    of the audio, e.g. from a marker file a person corrected) replace the detected beats; ``bars``
    (seconds, a corrected bars file) start a bar on the beat nearest each.
    """
    samples = np.asarray(samples, np.float32)
    starts = ((offset + np.arange(frames) / fps) * rate).astype(np.int64)
    ends = ((offset + (np.arange(frames) + 1) / fps) * rate).astype(np.int64)
    s0, s1 = np.clip(starts, 0, samples.size), np.clip(ends, 0, samples.size)
    rms = np.sqrt(_span_sums_of_squares(samples, s0, s1) / np.maximum(s1 - s0, 1))

    rh = analyse(samples, rate, settings, beats, bars)
    f = rh.features
    grid = np.arange(f.flux.size) / f.rate  # spectral frame k is centred on k / f.rate seconds
    lo = np.searchsorted(grid, starts / rate)
    hi = np.maximum(np.searchsorted(grid, ends / rate), lo + 1)
    lo, hi = np.minimum(lo, f.flux.size), np.minimum(hi, f.flux.size)
    per_frame = {name: _normalise(_span_max(x, lo, hi)) for name, x in
                 (("onset", rh.strength), ("bass", f.bass), ("mid", f.mid), ("high", f.high))}
    times = offset + np.arange(frames) / fps
    beat = pulse(rh.beats, times, offset, fps)
    bar = pulse(rh.downbeats, times, offset, fps)
    beat_number, in_bar, bar_number = counts(rh, offset, fps, frames)
    onsets = peaks(rh.strength, 0.3, int(0.05 * f.rate) + 1) / f.rate
    return Envelopes(rms=_normalise(rms), onset=per_frame["onset"], beat=beat, tempo=float(rh.tempo), beats=rh.beats,
                     onsets=onsets, offset=offset, bass=per_frame["bass"], mid=per_frame["mid"], high=per_frame["high"],
                     bar=bar, beat_in_bar=in_bar, bar_number=bar_number, downbeats=rh.downbeats, meter=rh.meter,
                     notes=tuple(notes), beat_number=beat_number)


def frame_of(times: np.ndarray, offset: float, fps: float) -> np.ndarray:
    """The output frame nearest each time (seconds of the audio): round((t - offset) * fps), halves
    up; the one rule for beats, bars, ``beat:N`` moments and the timeline's numbers. (Frame i is
    shown at i/fps: a kick at 0.49 s at 24 fps is frame 12, at 0.5 s, not frame 11 at 0.458 s.)"""
    return np.floor((np.asarray(times, float) - offset) * fps + 0.5 + 1e-9).astype(np.int64)


def pulse(events: np.ndarray, times: np.ndarray, offset: float, fps: float) -> np.ndarray:
    """float32 [frames]: 1 on a frame holding an event, decaying with PULSE_SECONDS after it."""
    frames = times.size
    out = np.zeros(frames)
    if events.size:
        on_frame = frame_of(events, offset, fps)
        last = np.full(frames, -np.inf)
        inside = (on_frame >= 0) & (on_frame < frames)
        last[on_frame[inside]] = np.asarray(events, float)[inside]
        last = np.maximum.accumulate(last)
        out = np.where(np.isfinite(last), np.exp(-np.maximum(times - last, 0.0) / PULSE_SECONDS), 0.0)
        out[on_frame[inside]] = 1.0
    return out.astype(np.float32)


def counts(rh: Rhythm, offset: float, fps: float, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame (float32 [frames] each), ``beat_number`` (1 from the render's first beat, 0 before
    it), ``beat_in_bar`` (the place in the bar of the last beat at or before it, 0 before the
    first) and ``bar_number`` (1 from the first downbeat of the render, 0 before it)."""
    t = np.arange(frames)
    on = frame_of(rh.beats, offset, fps)
    k = np.searchsorted(on, t, side="right")  # beats up to frame t
    in_bar = np.where(k > 0, np.append([0], rh.place)[k], 0).astype(np.float32)
    beat_number = np.searchsorted(on[on >= 0], t, side="right").astype(np.float32)
    down = frame_of(rh.downbeats, offset, fps)
    bar_number = np.searchsorted(down[down >= 0], t, side="right").astype(np.float32)
    return beat_number, in_bar, bar_number


def render_events(times: np.ndarray, offset: float, fps: float, frames: int) -> np.ndarray:
    """The events (seconds of the audio) that fall within the render's frames, as seconds of the
    output, ascending: number 1 is the first of these (beats for ``beat:N``, bars for ``bar:N``)."""
    f = frame_of(times, offset, fps)
    return np.asarray(times, float)[(f >= 0) & (f < frames)] - offset


def peaks(x: np.ndarray, level: float, gap: int) -> np.ndarray:
    """Indices of ``x``'s peaks: values at least ``level`` of its 99.5th percentile that are the
    largest within ``gap`` samples either side (the first of equal ones). Linear in the length:
    a window maximum, not a comparison of each peak with every other."""
    x = np.asarray(x, np.float64)
    if x.size < 3:
        return np.zeros(0, int)
    top = np.percentile(x, 99.5)
    if top <= 1e-12:
        return np.zeros(0, int)
    padded = np.pad(x, gap, constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * gap + 1)
    biggest = windows.max(axis=1)
    first = np.argmax(windows, axis=1) == gap  # the first maximum of its window is this sample
    return np.flatnonzero((x >= level * top) & (x >= biggest) & first)


def _span_sums_of_squares(samples: np.ndarray, s0: np.ndarray, s1: np.ndarray) -> np.ndarray:
    """sum(samples[s0[i]:s1[i]] ** 2) per i (float64), for consecutive spans; a block of spans at a
    time, so no array as long as the track is made."""
    out = np.zeros(s0.size)
    step = 4096
    for a in range(0, s0.size, step):
        b = min(s0.size, a + step)
        base = int(s0[a])
        sq = samples[base : int(s1[b - 1])].astype(np.float64) ** 2
        cum = np.concatenate([[0.0], np.cumsum(sq)])
        out[a:b] = cum[s1[a:b] - base] - cum[s0[a:b] - base]
    return out


def _span_max(env: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(env[lo[i]:hi[i]]) per i, 0 where the span is empty."""
    out = np.zeros(lo.size)
    full = np.flatnonzero(hi > lo)
    if full.size:
        # Spans overlap when a frame is shorter than a spectral frame: take each span's max from
        # a sliding maximum of the widest span.
        width = int((hi[full] - lo[full]).max())
        padded = np.pad(np.asarray(env, float), (0, width), constant_values=-np.inf)
        win = np.lib.stride_tricks.sliding_window_view(padded, width)[: env.size]
        cols = np.arange(width)[None, :] < (hi[full] - lo[full])[:, None]
        out[full] = np.where(cols, win[np.minimum(lo[full], env.size - 1)], -np.inf).max(axis=1)
    return np.maximum(out, 0.0)


def onset_frames(env: Envelopes, threshold: float = 0.5) -> list[int]:
    """Frames where the onset envelope peaks above ``threshold`` (local maxima)."""
    return peak_frames(env.onset, threshold).tolist()


def peak_frames(values: np.ndarray, threshold: float) -> np.ndarray:
    """Indices (int, ascending) where ``values`` [n] is at least ``threshold`` and a local maximum
    (at least its left neighbour, above its right one; the ends count their one neighbour)."""
    v = np.asarray(values, float)
    left = np.concatenate([[-np.inf], v[:-1]])
    right = np.concatenate([v[1:], [-np.inf]])
    return np.flatnonzero((v >= threshold) & (v >= left) & (v > right))
