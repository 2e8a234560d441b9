"""The beat activation: how likely each spectral frame is to hold a beat, in [0,1], from the onset
features. The SuperFlux hears every onset; the rise of the bass band's energy adds what carries
the beat a person taps (the kick, the bass's attack), which hats and shakers between beats lack.
(The bass band's per-band flux was tried first: it heard an off-beat bass line over the kick.)"""
from __future__ import annotations

import numpy as np

from dreamreel.rhythm.spectrum import MU, Features

LOW_WEIGHT = 0.5  # 1.0 heard a sustained bass's attacks over the sample's kick (samples/beat.wav)
SHARP = 0.5
LOCAL_SECONDS = 6.0  # loud and quiet passages are scaled by their own level
FLOOR = 0.05  # the tracker's observation model needs no frame to be impossible
WIDEN = 2  # frames each side: a beat's first frames all see its onset


def onset_strength(f: Features) -> np.ndarray:
    """float64 [n] >= 0: the SuperFlux plus the bass band's energy rise, each scaled by its own
    level, less its local mean over 0.1 s (a held texture is no onset)."""
    x = _scaled(f.flux) + LOW_WEIGHT * _scaled(low_onset(f))
    return np.maximum(x - moving_mean(x, int(0.1 * f.rate) | 1), 0.0)


def low_onset(f: Features) -> np.ndarray:
    """float64 [n] >= 0: the bass band's energy rise (the kick and the bass's attack), counted in
    full only where it is sharp: a rise of at least SHARP of the energy within MU frames. A held
    bass tone that swells and fades (two tones beating) rises too, but slowly."""
    bass = f.bass.astype(np.float64)
    rise = np.maximum(np.concatenate([np.zeros(MU), bass[MU:] - bass[:-MU]]), 0.0)
    return rise * np.clip(rise / np.maximum(bass, 1e-12) / SHARP, 0.0, 1.0)


def normalised(strength: np.ndarray, rate: float) -> np.ndarray:
    """``strength`` over twice its local 95th percentile (LOCAL_SECONDS blocks): about 1 on a
    passage's strong onsets, loud or quiet passage alike."""
    return strength / (2.0 * np.maximum(moving_quantile(strength, int(LOCAL_SECONDS * rate)), 1e-12))


def beat_activation(norm: np.ndarray) -> np.ndarray:
    """float64 [n] in [FLOOR, 1-FLOOR]: ``normalised`` strength clipped to [0,1] and held over
    WIDEN frames each side."""
    act = np.clip(norm, 0.0, 1.0)
    if act.size > 2 * WIDEN:
        act = np.lib.stride_tricks.sliding_window_view(np.pad(act, WIDEN), 2 * WIDEN + 1).max(axis=1)
    return FLOOR + (1.0 - 2.0 * FLOOR) * act


def _scaled(x: np.ndarray) -> np.ndarray:
    top = float(np.percentile(x, 99)) if x.size else 0.0
    return x / top if top > 1e-12 else np.zeros(x.shape)


def moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Mean of ``x`` over a centred window of ``width`` samples (shorter at the ends)."""
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    i = np.arange(x.size)
    lo, hi = np.maximum(i - width // 2, 0), np.minimum(i + width // 2 + 1, x.size)
    return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)


def moving_quantile(x: np.ndarray, width: int, q: float = 95.0) -> np.ndarray:
    """The ``q``-th percentile of ``x`` in blocks of ``width`` samples, interpolated linearly
    between block centres: a level that follows the music's loudness, linear in its length."""
    n = x.size
    if n == 0:
        return np.zeros(0)
    width = max(1, min(width, n))
    starts = np.arange(0, n, width)
    levels = np.array([np.percentile(x[a : a + width], q) for a in starts])
    centres = np.minimum(starts + width / 2, n - 1)
    return np.interp(np.arange(n), centres, levels)
