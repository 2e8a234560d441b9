"""The log-frequency spectrogram and what is read off it: the SuperFlux onset activation (Böck and
Widmer, DAFx 2013) and band energies (bass, mid, high).

Frames are HOP samples apart at the analysis rate (100 a second at 22.05 kHz) and WIN samples long
(46 ms, as SuperFlux uses). A block of frames at a time, so a two-hour track
needs the same working space as a jingle.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

HOP = 220  # samples between frames: 100.2 frames a second at 22.05 kHz
WIN = 1024
BLOCK = 4096  # frames analysed at once (41 s of audio, about 40 MB of work space)
BANDS_PER_OCTAVE = 12
F_MIN, F_MAX = 30.0, 11000.0
# Edges of the band envelopes, Hz: the kick and bass; voices, guitars and snare bodies; cymbals,
# hats and air.
BASS_HZ = (30.0, 150.0)
MID_HZ = (150.0, 2000.0)
HIGH_HZ = (2000.0, 11000.0)
# Beats are heard in the low end first: the activation the tracker reads adds the flux below this.
LOW_FLUX_HZ = 250.0
# SuperFlux: compare a frame with the frame MU before it, max-filtered over 3 bands, so a tone's
# vibrato (a band's neighbour rising as it falls) is no onset.
MU = 2


@dataclass(frozen=True)
class Features:
    """Per spectral frame (float32 [n] each): ``flux`` (SuperFlux over all bands), ``low_flux``
    (below LOW_FLUX_HZ), ``bass``/``mid``/``high`` (mean magnitude in the band) and ``chroma``
    (float32 [n, 12], pitch-class energy of the log spectrum, for bar finding). ``rate``: frames a
    second; frame k is centred on k/rate seconds of the audio."""

    flux: np.ndarray
    low_flux: np.ndarray
    bass: np.ndarray
    mid: np.ndarray
    high: np.ndarray
    chroma: np.ndarray
    rate: float


@lru_cache(maxsize=4)
def filterbank(rate: int, win: int = WIN) -> tuple[np.ndarray, np.ndarray]:
    """Triangular filters log-spaced at BANDS_PER_OCTAVE from F_MIN to F_MAX, on the rfft bins of a
    ``win``-sample frame at ``rate`` Hz: (weights float32 [bins, bands], centre Hz [bands]). Bands
    whose centres fall on one bin are merged, as madmom's filterbank does, so no band is empty."""
    bins = np.fft.rfftfreq(win, 1.0 / rate)
    octaves = np.log2(min(F_MAX, rate / 2) / F_MIN)
    centres = F_MIN * 2.0 ** (np.arange(int(octaves * BANDS_PER_OCTAVE) + 1) / BANDS_PER_OCTAVE)
    idx = np.unique(np.clip(np.searchsorted(bins, centres), 1, bins.size - 1))
    weights = np.zeros((bins.size, idx.size - 2), np.float32)
    for j in range(1, idx.size - 1):
        lo, mid, hi = idx[j - 1], idx[j], idx[j + 1]
        weights[lo : mid + 1, j - 1] = np.linspace(0.0, 1.0, mid - lo + 1)
        weights[mid : hi + 1, j - 1] = np.linspace(1.0, 0.0, hi - mid + 1)
    return weights / weights.sum(axis=0, keepdims=True), bins[idx[1:-1]]


def features(samples: np.ndarray, rate: int) -> Features:
    """The rhythm features of mono float32 ``samples`` at ``rate`` Hz (see ``Features``)."""
    _, centres = filterbank(rate)
    n = frame_count(samples)
    low = centres < LOW_FLUX_HZ
    bands = {name: (centres >= a) & (centres < b) for name, (a, b) in
             (("bass", BASS_HZ), ("mid", MID_HZ), ("high", HIGH_HZ))}
    pitch = np.round(12 * np.log2(centres / 440.0)).astype(int) % 12
    to_chroma = np.zeros((centres.size, 12), np.float32)
    to_chroma[np.arange(centres.size), pitch] = centres > 60.0  # below 60 Hz a band spans semitones
    out = {k: np.zeros(n, np.float32) for k in ("flux", "low_flux", "bass", "mid", "high")}
    chroma = np.zeros((n, 12), np.float32)
    tail = None  # the last MU frames of the previous block, max-filtered
    for a, b, mag in band_blocks(samples, rate):
        for name, sel in bands.items():
            out[name][a:b] = mag[:, sel].mean(axis=1) if sel.any() else 0.0
        logmag = np.log1p(mag)
        chroma[a:b] = logmag @ to_chroma
        wide = _max3(logmag)
        ref = np.concatenate([tail if tail is not None else np.zeros((MU, wide.shape[1]), np.float32), wide])
        rise = np.maximum(logmag - ref[: b - a], 0.0)
        out["flux"][a:b] = rise.sum(axis=1)
        out["low_flux"][a:b] = rise[:, low].sum(axis=1)
        tail = ref[-MU:]
    return Features(chroma=chroma, rate=rate / HOP, **out)


def frame_count(samples: np.ndarray) -> int:
    """Spectral frames of ``samples``: frame k is centred on sample k*HOP, the last at or before the end."""
    return 1 + samples.size // HOP


def band_blocks(samples: np.ndarray, rate: int, first: int = 0, end: int | None = None, block: int = BLOCK):
    """Yield (first frame, end frame, band magnitudes float32 [frames, bands]) for frames ``first``
    to ``end`` (default: all) of mono float32 ``samples`` at ``rate`` Hz, ``block`` frames at a time."""
    weights, _ = filterbank(rate)
    window = np.hanning(WIN).astype(np.float32)
    end = frame_count(samples) if end is None else end
    for a in range(first, end, block):
        b = min(end, a + block)
        yield a, b, np.abs(np.fft.rfft(_frames(samples, a, b) * window, axis=1)).astype(np.float32) @ weights


def log_bands(samples: np.ndarray, rate: int, first: int = 0, end: int | None = None) -> np.ndarray:
    """log(1 + band magnitude) of frames ``first`` to ``end`` of mono float32 ``samples`` at ``rate``
    Hz: float32 [frames, bands], 1/(rate/HOP) s apart. What the beat model reads (rhythm/model.py)."""
    samples = np.asarray(samples, np.float32)
    parts = [np.log1p(mag) for _, _, mag in band_blocks(samples, rate, first, end)]
    return np.concatenate(parts) if parts else np.zeros((0, filterbank(rate)[0].shape[1]), np.float32)


def _max3(x: np.ndarray) -> np.ndarray:
    """Maximum of each band and its two neighbours, per frame (float32 [n, bands])."""
    out = x.copy()
    out[:, 1:] = np.maximum(out[:, 1:], x[:, :-1])
    out[:, :-1] = np.maximum(out[:, :-1], x[:, 1:])
    return out


def _frames(samples: np.ndarray, a: int, b: int) -> np.ndarray:
    """Frames a..b-1 [b-a, WIN] of ``samples``, frame k centred on sample k*HOP, zero past either end."""
    lo, hi = a * HOP - WIN // 2, (b - 1) * HOP + WIN // 2
    span = samples[max(lo, 0) : max(min(hi, samples.size), 0)]
    span = np.pad(span, (max(-lo, 0), hi - lo - span.size - max(-lo, 0)))
    return np.lib.stride_tricks.sliding_window_view(span, WIN)[::HOP]
