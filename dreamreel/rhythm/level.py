"""The metrical level: is a decoded beat the pulse people tap, or twice or half of it?

The tracker's prior pulls every track toward 125 bpm, so a 196 bpm punk song can be read at 98 and
a 60 bpm ballad at 120. The onsets tell the level apart where the prior cannot:
- at half the pulse, the midpoints between beats sound as strongly as the beats (the snare
  between two kicks, the click between two clicks): the pulse is twice as fast;
- at twice the pulse, every other beat is much weaker than its neighbours (a hat between two
  kicks): the pulse is every other beat, on the stronger ones.
"""
from __future__ import annotations

import numpy as np

# Measured on the tuning songs and clicks (scripts/bench_beats.py): beats read at half the pulse had
# midpoints at 0.75-0.94 of the beats' strength, and a song read right at most 0.82 (funk's
# sixteenth hats, at 104 bpm); no pulse much above 200 bpm is taken from doubling, since a listener taps
# half of that. Alternate beats read at twice the pulse differed down to 0.49; songs read right
# (syncopated funk, bossa) went as low as 0.54, so halving only acts below 0.5.
DOUBLE_AT = 0.72  # midpoints at least this strong, against the beats: the pulse is twice as fast
MAX_DOUBLED = 205.0  # bpm: a 200 bpm click is doubled from 100, a 104 bpm funk song is not to 208
HALVE_AT = 0.5  # one set of alternate beats at most this strong, against the other: half as fast


def _strength_at(times: np.ndarray, norm: np.ndarray, rate: float, reach: int = 2) -> np.ndarray:
    f = np.clip(np.round(times * rate).astype(int), 0, norm.size - 1)
    idx = np.clip(f[:, None] + np.arange(-reach, reach + 1)[None, :], 0, norm.size - 1)
    return norm[idx].max(axis=1)


def level_change(beats: np.ndarray, norm: np.ndarray, rate: float) -> float:
    """2.0 when the pulse is twice ``beats``' rate, 0.5 when half, else 1.0 (the caller decodes
    again near that pulse, which finds its phase). ``norm``: the normalised onset strength at
    ``rate`` frames a second; ``beats`` in seconds."""
    if beats.size < 8:
        return 1.0
    s = np.minimum(_strength_at(beats, norm, rate), 1.0)
    mids = _strength_at((beats[1:] + beats[:-1]) / 2, norm, rate)
    mids = np.minimum(mids, 1.0)
    top = float(np.mean(s))
    if top <= 1e-9:
        return 1.0
    bpm = 60.0 / float(np.median(np.diff(beats)))
    if float(np.mean(mids)) >= DOUBLE_AT * top and 2 * bpm <= MAX_DOUBLED:
        return 2.0
    even, odd = float(np.mean(s[0::2])), float(np.mean(s[1::2]))
    if min(even, odd) <= HALVE_AT * max(even, odd):
        return 0.5
    return 1.0
