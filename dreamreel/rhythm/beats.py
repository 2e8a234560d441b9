"""Beat tracking with a local tempo: an HMM over (tempo, position in the beat) decoded with Viterbi,
the bar-pointer model of Krebs, Böck and Widmer (ISMIR 2015) without the bar.

The state of a frame is the beat interval being played (whole frames a beat, every one between
the tempo range's ends) and how far into that beat the frame lies. Position advances one frame a
frame; at the end of a beat the interval may change, with a cost that grows with the ratio of
the change, so ramps and changes are followed and a steady tempo holds. A beat's first
frames expect an onset, the rest expect none. A log-Gaussian tempo prior favours the pulse
people tap.

Decoded a beat at a time, not a frame at a time: with every position's path fixed inside a
beat, the best path into "a beat of interval k starts at frame s" depends only on beats that
started at least one shortest interval earlier, so a block of that many frames is decoded in
one array step (a minute of audio in a few hundred steps), and memory is one byte a tempo a
frame for the back-pointers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrackerSettings:
    """``tempo_range``: bpm the beat may take; ``tempi``: at most this many beat intervals (log-spaced
    when fewer than the whole intervals in the range); ``prior_bpm``/``prior_octaves``: the centre
    and width (log2 units) of the tempo prior, ``prior_weight`` its log-weight a beat (0 turns it
    off); ``transition``: how strongly a tempo change is resisted (madmom's lambda, 100);
    ``observation``: the share 1/observation of a beat that expects its onset (madmom's 16).

    The defaults were chosen on scripts/bench_beats.py's tuning songs (docs/guides/music.md, "Audio-reactive"):
    a prior at 125 bpm, 0.4 octaves wide, weight 3, read the fewest songs at a wrong level."""

    tempo_range: tuple[float, float] = (55.0, 215.0)
    tempi: int = 1000  # every whole interval: log-spaced ones left a slow click between two, drifting
    prior_bpm: float = 125.0
    prior_octaves: float = 0.4
    prior_weight: float = 3.0
    transition: float = 100.0
    observation: float = 16.0


def intervals(rate: float, settings: TrackerSettings) -> np.ndarray:
    """Beat intervals the tracker considers, whole frames, ascending (int [k]): log-spaced between
    the tempo range's ends, at most ``settings.tempi`` of them."""
    lo_bpm, hi_bpm = settings.tempo_range
    shortest = max(2, int(np.floor(60.0 * rate / hi_bpm)))
    longest = max(shortest, int(np.ceil(60.0 * rate / lo_bpm)))
    n = min(settings.tempi, longest - shortest + 1)
    return np.unique(np.round(np.exp(np.linspace(np.log(shortest), np.log(longest), n))).astype(int))


def track(activation: np.ndarray, rate: float, settings: TrackerSettings = TrackerSettings()) -> np.ndarray:
    """Beat frames (int, ascending) of ``activation`` (float [n] in [0,1], ``rate`` frames a second):
    the most likely path of the model above. Fewer than two beats' worth of frames: none."""
    act = np.clip(np.asarray(activation, np.float64), 1e-6, 1.0 - 1e-6)
    lengths = intervals(rate, settings)
    if act.size < 2 * lengths[-1] or lengths.size == 0:
        return np.zeros(0, int)
    n, k = act.size, lengths.size
    lam = settings.observation
    beat_frames = np.maximum(1, np.ceil(lengths / lam).astype(int))
    # Cumulative log-likelihoods, padded so a beat may start before frame 0 or run past the end.
    pad = int(lengths[-1])
    lb = np.concatenate([np.zeros(pad), np.log(act), np.zeros(pad + 1)])
    ln = np.concatenate([np.zeros(pad), np.log((1.0 - act) / (lam - 1.0)), np.zeros(pad + 1)])
    cb = np.concatenate([[0.0], np.cumsum(lb)])
    cn = np.concatenate([[0.0], np.cumsum(ln)])

    bpm = 60.0 * rate / lengths
    prior = -0.5 * (np.log2(bpm / settings.prior_bpm) / settings.prior_octaves) ** 2
    prior = settings.prior_weight * (prior - prior.max())
    ratio = lengths[None, :] / lengths[:, None]
    move = -settings.transition * np.abs(ratio - 1.0)  # [from, to]
    move -= np.log(np.exp(move).sum(axis=1, keepdims=True))
    move += prior[None, :]

    total = n + 2 * pad + 1
    step = int(lengths[0])
    # score[j, p % ring]: best log-probability of a path where a beat of interval j starts at padded
    # frame p, counting the observations before p; the path may start anywhere in a beat. Only the
    # last longest interval of starts is ever looked back at, so a ring of them is kept: memory is
    # the same for a jingle and a two-hour set (the back-pointers, a byte a tempo a frame, remain).
    ring = 2 * pad + step
    score = np.full((k, ring), -np.inf)
    back = np.zeros((k, total), np.uint8 if k <= 256 else np.int16)
    for j, length in enumerate(lengths):
        score[j, np.arange(pad - length + 1, pad + 1) % ring] = -np.log(lengths.sum())
    rows = np.arange(k)[:, None]
    for a in range(pad + 1, n + pad, step):
        s = np.arange(a, min(a + step, n + pad))
        prev = s[None, :] - lengths[:, None]  # [k, len(s)]
        done = score[rows, prev % ring] + _beat_loglik(cb, cn, prev, lengths, beat_frames)
        cand = done[:, :, None] + move[:, None, :]  # [from, s, to]
        best = np.argmax(cand, axis=0)  # [s, to]
        score[:, s % ring] = np.take_along_axis(cand, best[None], axis=0)[0].T
        back[:, s] = best.T
    # The end: the last frame lies somewhere inside a beat that started at most one interval ago.
    end = n + pad  # one past the last real frame
    best_val, best_at = -np.inf, (0, pad)
    for j in range(k):
        p = np.arange(max(end - lengths[j], 0), end)
        partial = score[j, p % ring] + _beat_loglik(cb, cn, p[None, :], lengths[j : j + 1], beat_frames[j : j + 1],
                                                    stop=end)[0]
        i = int(np.argmax(partial))
        if partial[i] > best_val:
            best_val, best_at = float(partial[i]), (j, int(p[i]))
    beats = []
    j, p = best_at
    while p > pad - lengths[j]:  # a start at or before frame 0 began the path
        if p >= pad:
            beats.append(p - pad)
        if p <= pad:
            break
        j, p = int(back[j, p]), p - int(lengths[int(back[j, p])])
    return np.array(sorted(set(beats)), int)


def _beat_loglik(cb: np.ndarray, cn: np.ndarray, p: np.ndarray, lengths: np.ndarray, beat_frames: np.ndarray,
                 stop: int | None = None) -> np.ndarray:
    """Log-likelihood of the observations of a beat of each interval (rows) starting at padded
    frames ``p`` [k, m]: its first ``beat_frames`` frames expect an onset, the rest none; with
    ``stop``, frames from ``stop`` on are not counted."""
    mid = p + beat_frames[:, None]
    end = p + lengths[:, None]
    if stop is not None:
        mid, end = np.minimum(mid, stop), np.minimum(end, stop)
    return (cb[mid] - cb[p]) + (cn[end] - cn[mid])


def refine(frames: np.ndarray, activation: np.ndarray, rate: float, observation: float = 16.0) -> np.ndarray:
    """Beat times in seconds from decoded beat ``frames``: each moved to the activation's peak in
    the span the model let its onset lie in (from two frames before the beat to the end of its
    first 1/``observation``), with the peak's sub-frame place from a parabola through it and its
    neighbours; a beat with no peak there (a held note, a rest) is placed by its neighbours'
    refined times, so the grid stays even across it."""
    act = np.asarray(activation, np.float64)
    if frames.size == 0:
        return np.zeros(0)
    gaps = np.diff(frames, append=frames[-1] + (frames[-1] - frames[-2] if frames.size > 1 else 50))
    width = np.ceil(gaps / observation).astype(int) + 2
    lo = frames - 2
    window = np.clip(lo[:, None] + np.arange(int(width.max()))[None, :], 0, act.size - 1)
    vals = np.where(np.arange(int(width.max()))[None, :] < width[:, None], act[window], -1.0)
    at = window[np.arange(frames.size), np.argmax(vals, axis=1)]
    peak = act[at]
    left, right = act[np.maximum(at - 1, 0)], act[np.minimum(at + 1, act.size - 1)]
    curve = left - 2 * peak + right
    shift = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    times = (at + np.clip(shift, -0.5, 0.5)) / rate
    # A peak counts when it stands out from the rest of the beat.
    floor = np.array([np.median(act[f : f + max(g, 1)]) for f, g in zip(frames, gaps)])
    real = (peak > 2.0 * floor) & (peak > 0.1)
    if real.sum() >= 2:
        idx = np.flatnonzero(real)
        times = np.where(real, times, np.interp(np.arange(frames.size), idx, times[idx], left=np.nan, right=np.nan))
        edge = np.isnan(times)
        times[edge] = frames[edge] / rate
    else:
        times = frames / rate
    return np.maximum.accumulate(np.maximum(times, 0.0))


def heard(times: np.ndarray, activity: np.ndarray, rate: float, quiet: float) -> np.ndarray:
    """The beats of ``times`` (seconds) where the music plays: ``activity`` (float [n] at ``rate``
    frames a second) above ``quiet`` within 0.6 of a beat's spacing of it. A tracker keeps beating
    through silence and a song's last reverb; a beat nobody hears is no beat."""
    if times.size < 2:
        return times
    loud = np.concatenate([[0], np.cumsum(activity > quiet)])
    f = np.round(times * rate).astype(int)
    reach = np.maximum(1, np.round(0.6 * rate * np.gradient(times))).astype(int)
    lo, hi = np.clip(f - reach, 0, activity.size), np.clip(f + reach + 1, 0, activity.size)
    return times[loud[hi] - loud[lo] > 0]
