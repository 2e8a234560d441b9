"""Cadence: which frames are dreamed when only every Nth is (``video.cadence``, ``zoom.cadence``).

The frames between carry the last dream without an ascent: a video frame the chain's carried
detail along the flow, a zoom frame the previous output under its transform. Dreamed frames sit
on one grid of output frame numbers, t % N == 0, the same in every segment, farm task and Ray
worker (each knows t), and a resumed render finds the same grid. A first frame and a scene cut
dream at once wherever they fall; a due reveal dreams its crops at once into a carried frame,
which stays carried (no ascent over the whole frame); a zoom's warm-up (frames before the first
shown, all at t = 0) keeps the cadence by its own count. N is a schedule evaluated at t, so an expression of
the music can force a dream: ``"1 if beat > 0.5 else 4"`` dreams every beat and every fourth frame
between. Pure: numbers in, a bool out."""
from __future__ import annotations


def dream_due(t: int, cadence: int) -> bool:
    """True when output frame ``t`` (0 the first) is dreamed at ``cadence`` (a whole number >= 1)."""
    return cadence <= 1 or t % cadence == 0
