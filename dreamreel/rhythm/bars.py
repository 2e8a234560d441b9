"""Bars: which beats are downbeats, and how many beats a bar has (3 or 4 unless set).

Beat-synchronous features, then an HMM over the beats (madmom's bar tracking, in miniature): the
state of a beat is its place in the bar under a meter; places advance one a beat, a bar may be
cut short or lengthened now and then (an edit, a pickup), and the meter rarely changes. A
downbeat is heard as a chord change (the harmony moves on the one), a heavier low end (the kick
and the bass's root) and a stronger onset.
"""
from __future__ import annotations

import numpy as np

from dreamreel.rhythm.spectrum import Features

SLIP = 0.02  # chance that a bar is cut short or lengthened at a beat
METER_CHANGE = 1e-4
# Four beats a bar is the common case: a three-beat reading must earn it (measured on plain clicks,
# where nothing but loudness marks the one); two (6/8 counted in dotted quarters) likewise, a bar
# at a time.
# With the learned downbeats a cost of 0.5, 1 or 2 for two beats a bar scored alike on the validation
# songs (scripts/tune_beat_decoder.py: downbeat F 0.850), but at 0.5 a rock song in 4/4 was read in
# twos, halving the precision of its bar lines: 2.
METER_COST = {2: 2.0, 3: 0.5}
# The meters found when none is given: 2 (6/8, 2/4), 3 and 4 from the learned downbeats; the dsp
# accents cannot tell a two-beat bar from half a four-beat one, so they choose 3 or 4.
METERS = (2, 3, 4)
DSP_METERS = (3, 4)
WEIGHTS = {"harmony": 1.0, "low": 1.0, "onset": 0.5}


def accents(beats: np.ndarray, f: Features, low_onset: np.ndarray) -> np.ndarray:
    """How strongly each beat (seconds) sounds like a downbeat: the sum of robust z-scores of its
    chord change, low-end rise and onset (float [beats])."""
    if beats.size < 2:
        return np.zeros(beats.size)
    idx = np.clip(np.round(beats * f.rate).astype(int), 0, f.flux.size - 1)
    ends = np.append(idx[1:], min(f.flux.size, idx[-1] + int(np.median(np.diff(idx)))))
    chroma = np.array([f.chroma[a:max(b, a + 1)].mean(axis=0) for a, b in zip(idx, ends)])
    chroma /= np.maximum(np.linalg.norm(chroma, axis=1, keepdims=True), 1e-9)
    change = 1.0 - np.sum(chroma[1:] * chroma[:-1], axis=1)
    # The first beat has nothing before it to change from: no evidence either way (0 would say
    # "no chord change", and a song's first beat is its likeliest downbeat).
    change = np.r_[np.median(change), change]
    near = np.clip(idx[:, None] + np.arange(-3, 6)[None, :], 0, f.flux.size - 1)
    low = low_onset[near].max(axis=1)
    onset = f.flux[near].max(axis=1)
    return (WEIGHTS["harmony"] * _z(change) + WEIGHTS["low"] * _z(low) + WEIGHTS["onset"] * _z(onset))


def downbeat_evidence(beats: np.ndarray, downbeat: np.ndarray, rate: float) -> np.ndarray:
    """The log-odds that each beat (seconds) starts a bar: the learned downbeat activation
    (float [frames] in [0,1] at ``rate`` frames a second) at its peak within two frames of the beat,
    clipped to [-8, 8] (float [beats])."""
    if beats.size == 0:
        return np.zeros(0)
    idx = np.clip(np.round(beats * rate).astype(int), 0, downbeat.size - 1)
    near = np.clip(idx[:, None] + np.arange(-2, 3)[None, :], 0, downbeat.size - 1)
    p = np.clip(downbeat[near].max(axis=1).astype(np.float64), 1e-6, 1 - 1e-6)
    return np.clip(np.log(p / (1 - p)), -8.0, 8.0)


def _z(x: np.ndarray) -> np.ndarray:
    """Robust z-scores clipped to [-3, 3]: one huge value (a track's first chord, out of silence)
    must not outvote a whole track's bars, and a feature that hardly varies says nothing."""
    x = np.asarray(x, float)
    spread = max(np.median(np.abs(x - np.median(x))) * 1.4826, 0.1 * float(np.std(x)))
    if spread <= 1e-12:
        return np.zeros_like(x)
    return np.clip((x - np.median(x)) / spread, -3.0, 3.0)


def downbeats(accent: np.ndarray, meters: tuple[int, ...] = (3, 4)) -> tuple[np.ndarray, int]:
    """(place in the bar of each beat, 1..N, int [beats]; the meter N most beats were in) from
    ``accent`` [beats]: the Viterbi path through (meter, place) states."""
    n = accent.size
    if n == 0:
        return np.zeros(0, int), meters[-1]
    states = [(m, p) for m in meters for p in range(m)]
    k = len(states)
    trans = np.full((k, k), -np.inf)
    for i, (m, p) in enumerate(states):
        for j, (m2, p2) in enumerate(states):
            if m2 == m:
                trans[i, j] = np.log(1 - SLIP) if p2 == (p + 1) % m else np.log(SLIP / (m - 1))
            elif p2 == 0 and p == m - 1:
                trans[i, j] = np.log(METER_CHANGE)
    is_down = np.array([p == 0 for _, p in states])
    cost = np.array([METER_COST.get(m, 0.0) if (p == 0 and len(meters) > 1) else 0.0 for m, p in states])
    score = np.where(is_down, accent[0], 0.0) - cost
    back = np.zeros((n, k), np.int8)
    for b in range(1, n):
        cand = score[:, None] + trans
        back[b] = np.argmax(cand, axis=0)
        score = cand[back[b], np.arange(k)] + np.where(is_down, accent[b], 0.0) - cost
    path = np.zeros(n, int)
    path[-1] = int(np.argmax(score))
    for b in range(n - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    places = np.array([states[s][1] + 1 for s in path])
    meter_of = np.array([states[s][0] for s in path])
    values, counts = np.unique(meter_of, return_counts=True)
    return places, int(values[np.argmax(counts)])
