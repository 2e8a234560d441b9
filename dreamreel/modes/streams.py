"""Splitting a clip into streams that are dreamed side by side in one batch, without seams."""
from __future__ import annotations

from dataclasses import dataclass

from dreamreel.media.encode import FRAME_NAME


@dataclass(frozen=True)
class Stream:
    """One chain of carried dreams over source frames ``first .. own_to - 1``.

    It owns ``own_from .. own_to - 1`` (their checkpoints are the output frames). Before that it
    dreams a pre-roll (discarded) and a crossover (blended into the previous stream's last frames),
    so its chain is warm where it takes over. ``fresh``: it starts at the clip's start or at a
    scene cut, where a fresh dream is right and nothing needs hiding.
    """

    index: int
    first: int
    own_from: int
    own_to: int
    crossover: int
    fresh: bool

    def name(self, frame: int) -> str:
        """Checkpoint name of this stream's dream of ``frame``."""
        if frame >= self.own_from:
            return FRAME_NAME.format(frame)
        return f"{frame:06d}.s{self.index}.png"

    def names(self) -> list[str]:
        return [self.name(f) for f in range(self.first, self.own_to)]

    def crossfade_weight(self, frame: int) -> float:
        """Weight of this stream's version of ``frame`` in the blend with the previous stream
        (0 outside the crossover), rising linearly across it."""
        lo = self.own_from - self.crossover
        if self.fresh or not lo <= frame < self.own_from:
            return 0.0
        return (frame - lo + 1) / (self.crossover + 1)


def tiles(streams: list[Stream], start: int, count: int) -> bool:
    """True when ``streams`` are a plan of frames ``start .. start+count-1``: numbered 0, 1, ...,
    each owning the frames right after the previous one's, the first from ``start``, the last to
    the end, each starting at or before what it owns. A plan read back from a job folder that
    does not (cut short, edited, of another range) is not to be trusted."""
    at = start
    for i, s in enumerate(streams):
        if s.index != i or s.own_from != at or not s.first <= s.own_from < s.own_to or s.crossover < 0:
            return False
        at = s.own_to
    return bool(streams) and at == start + count


def stream_count(count: int, batch: int, preroll: int, crossover: int) -> int:
    """How many streams ``plan_streams`` makes of ``count`` frames (a clip too short to split
    into ``batch`` stays fewer, down to one): known before the scene-cut pass."""
    return max(1, min(batch, count // (preroll + crossover + 1)))


def plan_streams(start: int, count: int, batch: int, cuts: list[int], preroll: int, crossover: int) -> list[Stream]:
    """Split frames ``start .. start+count-1`` into ``batch`` streams of near-equal length.

    A boundary within reach of a scene cut moves onto it (the dream restarts there anyway, so
    the stream starts fresh with no pre-roll or crossover). A clip too short to split stays one
    stream.
    """
    end = start + count
    batch = stream_count(count, batch, preroll, crossover)
    if batch == 1:
        return [Stream(0, start, start, end, 0, True)]
    bounds = [start + round(i * count / batch) for i in range(batch + 1)]
    fresh = [True] + [False] * (batch - 1)
    for i in range(1, batch):
        near = [c for c in cuts if bounds[i] - preroll - crossover <= c <= bounds[i] + preroll
                and bounds[i - 1] < c < bounds[i + 1]]
        if near:
            bounds[i] = min(near, key=lambda c: abs(c - bounds[i]))
            fresh[i] = True
    out = []
    for i in range(batch):
        lead = 0 if fresh[i] else min(preroll + crossover, bounds[i] - start)
        xf = 0 if fresh[i] else min(crossover, lead)
        out.append(Stream(i, bounds[i] - lead, bounds[i], bounds[i + 1], xf, fresh[i]))
    return out
