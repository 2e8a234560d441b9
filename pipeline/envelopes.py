"""Audio envelopes sampled at video frame times: loudness, onset strength and beat pulses.

Pure numpy: mono float32 samples in, one value in [0,1] per frame out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HOP = 256  # samples between spectral frames (11.6 ms at 22.05 kHz)
WIN = 1024
BLOCK = 4096  # spectral frames analysed at once (47 s of audio, about 100 MB of work space)


@dataclass(frozen=True)
class Envelopes:
    """Per-frame envelopes, each float32 [frames] in [0,1]."""

    rms: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    tempo: float  # beats per minute found, 0 when there is no steady beat
    beats: np.ndarray = field(default_factory=lambda: np.zeros(0))  # beat times, seconds of the audio
    onsets: np.ndarray = field(default_factory=lambda: np.zeros(0))  # onset peak times, seconds of the audio
    offset: float = 0.0  # time of frame 0 in the audio, seconds

    def at(self, frame: int) -> dict[str, float]:
        i = min(max(frame, 0), len(self.rms) - 1)
        return {"rms": float(self.rms[i]), "onset": float(self.onset[i]), "beat": float(self.beat[i])}


def _normalise(x: np.ndarray) -> np.ndarray:
    top = np.percentile(x, 99.5) if x.size else 0.0
    return np.clip(x / top, 0.0, 1.0).astype(np.float32) if top > 1e-12 else np.zeros_like(x, np.float32)


def onset_strength(samples: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """Spectral flux (sum of rises of the log-magnitude spectrum), one value per HOP samples;
    returns (envelope float32 [1 + len // HOP], envelope rate in Hz); ``_env_time`` maps its
    index to seconds.

    Computed BLOCK spectral frames at a time over views of ``samples``, so the memory it needs
    beyond the samples themselves is the same for a jingle and a two-hour DJ set (the whole
    spectrum at once took 165 MB a minute of audio)."""
    window = np.hanning(WIN).astype(np.float32)
    n = 1 + samples.size // HOP
    env = np.zeros(n, np.float32)
    prev = None
    for a in range(0, n, BLOCK):
        b = min(n, a + BLOCK)
        frames = _frames(samples, a, b) * window
        mag = np.log1p(100.0 * np.abs(np.fft.rfft(frames, axis=1))).astype(np.float32)
        # Frame k vs k-1: the rise is at the centre of frame k (frame 0 rises from silence: 0).
        rows = mag if prev is None else np.concatenate([prev, mag])
        flux = np.maximum(rows[1:] - rows[:-1], 0.0).sum(axis=1)
        env[a + (prev is None) : b] = flux
        prev = mag[-1:]
    return env, rate / HOP


def _frames(samples: np.ndarray, a: int, b: int) -> np.ndarray:
    """Spectral frames a..b-1 [b-a, WIN] of ``samples`` behind a lead-in of WIN zeros (so a sound
    at t = 0 is a rise too; times are shifted back in _env_time): frame k is lead-in-and-samples
    [k*HOP, k*HOP + WIN), zero past either end."""
    lo, hi = a * HOP - WIN, (b - 1) * HOP  # the span of ``samples`` the block covers
    span = samples[max(lo, 0) : max(min(hi, samples.size), 0)]
    span = np.pad(span, (max(-lo, 0), max(hi - max(lo, 0) - span.size - max(-lo, 0), 0)))
    return np.lib.stride_tricks.sliding_window_view(span, WIN)[::HOP]


def _env_time(k: np.ndarray, env_rate: float) -> np.ndarray:
    # A rise shows in the flux once it is three quarters into the window (measured on clicks:
    # this lands every click in its own frame); minus the lead-in.
    return (k * HOP + 0.75 * WIN - WIN) / (env_rate * HOP)


def tempo_and_beats(env: np.ndarray, env_rate: float, duration: float) -> tuple[float, np.ndarray]:
    """Tempo (bpm, 60-200) by autocorrelation of the onset envelope, and beat times (seconds)
    placed on the phase that collects the most onset energy. No steady beat: (0, [])."""
    x = (env - env.mean()).astype(np.float64)
    if env.size < 8 or not np.any(x):
        return 0.0, np.zeros(0)
    lo, hi = int(env_rate * 60 / 200), int(env_rate * 60 / 60)
    if hi >= x.size or lo < 1:
        return 0.0, np.zeros(0)
    # Only the lags a tempo can have: linear in the track's length (a full correlation is
    # quadratic, minutes for an hour of audio).
    ac = np.array([np.dot(x[: x.size - k], x[k:]) for k in range(hi + 1)])
    best = lo + int(np.argmax(ac[lo : hi + 1]))
    if ac[best] <= 0.1 * ac[0]:
        return 0.0, np.zeros(0)
    period = best / env_rate
    phases = np.arange(best)
    scores = [env[p::best].sum() for p in phases]
    phase = phases[int(np.argmax(scores))]
    beats = _env_time(np.arange(phase, env.size, best), env_rate)
    return 60.0 / period, beats[beats <= duration]


def envelopes(samples: np.ndarray, rate: int, fps: float, frames: int, offset: float = 0.0,
              beats: np.ndarray | None = None) -> Envelopes:
    """Envelopes of mono ``samples`` at ``rate`` Hz for ``frames`` video frames at ``fps``.

    Frame i covers [offset + i/fps, offset + (i+1)/fps) seconds of the audio. rms is the
    loudness over that span, onset the strongest rise within it, beat a pulse that is 1 on a
    frame holding a beat and decays with a 0.1 s time constant. ``beats`` (seconds of the audio,
    e.g. from a marker file a person corrected) replace the detected beats, and the tempo is then
    their median spacing.
    """
    samples = np.asarray(samples, np.float32)
    starts = ((offset + np.arange(frames) / fps) * rate).astype(np.int64)
    ends = ((offset + (np.arange(frames) + 1) / fps) * rate).astype(np.int64)
    s0, s1 = np.clip(starts, 0, samples.size), np.clip(ends, 0, samples.size)
    rms = np.sqrt(_span_sums_of_squares(samples, s0, s1) / np.maximum(s1 - s0, 1))

    env, env_rate = onset_strength(samples, rate)
    t_env = _env_time(np.arange(env.size), env_rate)
    onset = _span_max(env, np.searchsorted(t_env, starts / rate), np.searchsorted(t_env, ends / rate))

    if beats is None:
        tempo, beats = tempo_and_beats(env, env_rate, samples.size / rate)
    else:
        beats = np.sort(np.asarray(beats, float))
        gaps = np.diff(beats)
        tempo = 60.0 / float(np.median(gaps)) if gaps.size and np.median(gaps) > 0 else 0.0
    times = offset + np.arange(frames) / fps
    beat = np.zeros(frames)
    if beats.size:
        on_frame = np.floor((beats - offset) * fps + 1e-9).astype(int)
        last = np.full(frames, -np.inf)
        for f, b in zip(on_frame, beats):
            if 0 <= f < frames:
                last[f] = b
        last = np.maximum.accumulate(last)
        beat = np.where(np.isfinite(last), np.exp(-np.maximum(times - last, 0.0) / 0.1), 0.0)
        beat[np.isin(np.arange(frames), on_frame)] = 1.0
    peaks = _peaks(env)
    return Envelopes(_normalise(rms), _normalise(onset), beat.astype(np.float32), float(tempo), beats,
                     _env_time(peaks, env_rate), offset)


def _peaks(env: np.ndarray, level: float = 0.3) -> np.ndarray:
    """Indices of the onset envelope's local maxima above ``level`` of its 99.5th percentile, at
    least 50 ms apart (the stronger kept): the onsets a person would mark."""
    if env.size < 3:
        return np.zeros(0, int)
    top = np.percentile(env, 99.5)
    if top <= 1e-12:
        return np.zeros(0, int)
    x = env / top
    cand = np.flatnonzero((x[1:-1] >= level) & (x[1:-1] >= x[:-2]) & (x[1:-1] > x[2:])) + 1
    keep: list[int] = []
    gap = 5  # envelope frames: 58 ms at 22.05 kHz and HOP 256
    for i in cand[np.argsort(-x[cand], kind="stable")]:
        if all(abs(i - k) >= gap for k in keep):
            keep.append(int(i))
    return np.array(sorted(keep), int)


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
    """max(env[lo[i]:hi[i]]) per i, 0 where the span is empty; spans are consecutive
    (hi[i] == lo[i+1]), as frames' spans of time are."""
    out = np.zeros(lo.size)
    full = np.flatnonzero(hi > lo)
    if full.size:
        # reduceat takes each segment up to the next index: the next non-empty span starts where
        # this one ends; the sentinel ends the last one at its own end.
        padded = np.append(env, -np.inf)
        out[full] = np.maximum.reduceat(padded, np.append(lo[full], hi[full[-1]]))[:-1]
    return out


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
