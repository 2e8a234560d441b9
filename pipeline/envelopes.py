"""Audio envelopes sampled at video frame times: loudness, onset strength and beat pulses.

Pure numpy: mono float32 samples in, one value in [0,1] per frame out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOP = 256  # samples between spectral frames (11.6 ms at 22.05 kHz)
WIN = 1024


@dataclass(frozen=True)
class Envelopes:
    """Per-frame envelopes, each float32 [frames] in [0,1]."""

    rms: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    tempo: float  # beats per minute found, 0 when there is no steady beat

    def at(self, frame: int) -> dict[str, float]:
        i = min(max(frame, 0), len(self.rms) - 1)
        return {"rms": float(self.rms[i]), "onset": float(self.onset[i]), "beat": float(self.beat[i])}


def _normalise(x: np.ndarray) -> np.ndarray:
    top = np.percentile(x, 99.5) if x.size else 0.0
    return np.clip(x / top, 0.0, 1.0).astype(np.float32) if top > 1e-12 else np.zeros_like(x, np.float32)


def onset_strength(samples: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """Spectral flux (sum of rises of the log-magnitude spectrum), one value per HOP samples;
    returns (envelope, envelope rate in Hz); ``_env_time`` maps its index to seconds."""
    # Lead-in silence, so a sound at t = 0 is a rise too (times are shifted back in _env_time).
    samples = np.concatenate([np.zeros(WIN, np.float32), samples])
    if samples.size < WIN:
        samples = np.pad(samples, (0, WIN - samples.size))
    n = 1 + (samples.size - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    frames = samples[idx] * np.hanning(WIN)[None, :].astype(np.float32)
    mag = np.log1p(100.0 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(mag[1:] - mag[:-1], 0.0).sum(axis=1)
    # Frame k+1 vs k: the rise is at the centre of frame k+1.
    env = np.concatenate([[0.0], flux])
    return env, rate / HOP


def _env_time(k: np.ndarray, env_rate: float) -> np.ndarray:
    # A rise shows in the flux once it is three quarters into the window (measured on clicks:
    # this lands every click in its own frame); minus the lead-in.
    return (k * HOP + 0.75 * WIN - WIN) / (env_rate * HOP)


def tempo_and_beats(env: np.ndarray, env_rate: float, duration: float) -> tuple[float, np.ndarray]:
    """Tempo (bpm, 60-200) by autocorrelation of the onset envelope, and beat times (seconds)
    placed on the phase that collects the most onset energy. No steady beat: (0, [])."""
    x = env - env.mean()
    if env.size < 8 or not np.any(x):
        return 0.0, np.zeros(0)
    ac = np.correlate(x, x, mode="full")[x.size - 1 :]
    lo, hi = int(env_rate * 60 / 200), int(env_rate * 60 / 60)
    if hi >= ac.size or lo < 1:
        return 0.0, np.zeros(0)
    best = lo + int(np.argmax(ac[lo : hi + 1]))
    if ac[best] <= 0.1 * ac[0]:
        return 0.0, np.zeros(0)
    period = best / env_rate
    phases = np.arange(best)
    scores = [env[p::best].sum() for p in phases]
    phase = phases[int(np.argmax(scores))]
    beats = _env_time(np.arange(phase, env.size, best), env_rate)
    return 60.0 / period, beats[beats <= duration]


def envelopes(samples: np.ndarray, rate: int, fps: float, frames: int, offset: float = 0.0) -> Envelopes:
    """Envelopes of mono ``samples`` at ``rate`` Hz for ``frames`` video frames at ``fps``.

    Frame i covers [offset + i/fps, offset + (i+1)/fps) seconds of the audio. rms is the
    loudness over that span, onset the strongest rise within it, beat a pulse that is 1 on a
    frame holding a beat and decays with a 0.1 s time constant.
    """
    samples = np.asarray(samples, np.float32)
    starts = ((offset + np.arange(frames) / fps) * rate).astype(np.int64)
    ends = ((offset + (np.arange(frames) + 1) / fps) * rate).astype(np.int64)
    sq = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    s0, s1 = np.clip(starts, 0, samples.size), np.clip(ends, 0, samples.size)
    rms = np.sqrt((sq[s1] - sq[s0]) / np.maximum(s1 - s0, 1))

    env, env_rate = onset_strength(samples, rate)
    t_env = _env_time(np.arange(env.size), env_rate)
    onset = np.zeros(frames)
    for i in range(frames):
        sel = (t_env >= starts[i] / rate) & (t_env < ends[i] / rate)
        onset[i] = env[sel].max() if sel.any() else 0.0

    tempo, beats = tempo_and_beats(env, env_rate, samples.size / rate)
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
    return Envelopes(_normalise(rms), _normalise(onset), beat.astype(np.float32), float(tempo))


def onset_frames(env: Envelopes, threshold: float = 0.5) -> list[int]:
    """Frames where the onset envelope peaks above ``threshold`` (local maxima)."""
    o = env.onset
    return [i for i in range(len(o)) if o[i] >= threshold and (i == 0 or o[i] >= o[i - 1])
            and (i == len(o) - 1 or o[i] > o[i + 1])]
