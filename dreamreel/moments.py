"""Moments of a render named the way a person thinks of them, for ``--preview-at``: a time
(``12.5``, ``0:42.5``, ``1:02:03``), a frame (``f120``), a beat (``beat:64``, the 64th), every
onset above a level (``onsets``, ``onsets:0.7``), or the first frame of every scene cut (``cuts``). Pure: frame count, rate, beats and the onset
envelope in; output frame numbers out."""
from __future__ import annotations

import numpy as np

from dreamreel.errors import ConfigError
from dreamreel.envelopes import frame_of, peak_frames
from dreamreel.markers import ascii_whole, parse_clock

FORMS = "12.5, 0:42.5, f120, beat:64, bar:16, onsets, onsets:0.7 or cuts"
ONSET_LEVEL = 0.5


def wants_cuts(spec: str) -> bool:
    """True when ``spec`` names ``cuts`` (finding them costs a pass over the video)."""
    return any(item.strip().lower() == "cuts" for item in spec.split(","))


def resolve_moments(spec: str, frames: int, fps: float, beats: np.ndarray | None = None,
                    onset: np.ndarray | None = None, limit: int = 48, bars: np.ndarray | None = None,
                    cuts: list[int] | None = None) -> list[int]:
    """Output frames (0-based, sorted, distinct) of the comma-separated moments in ``spec``.
    ``beats``, ``bars``: beat and downbeat times in seconds of the output, the render's own
    (``envelopes.render_events``: beat 1 is the render's first); ``onset``: the onset envelope per frame in
    [0,1]; ``cuts``: the first output frame of each scene cut. Onsets past ``limit`` keep the strongest; more named moments than ``limit`` is an error.
    ConfigError names the moment that is not one or lies outside the render."""
    duration = frames / fps
    found: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        low = item.lower()
        if low.startswith("onsets"):
            found |= set(_onsets(item, onset, limit))
            continue
        if low == "cuts":
            if not cuts:
                raise ConfigError("--preview-at: 'cuts': this render has no scene cuts (a zoom has none; a video "
                                  "shot in one take neither)")
            found |= {int(c) for c in cuts if 0 <= c < frames}
            continue
        if low.startswith(("beat:", "bar:")):
            kind = low.split(":", 1)[0]
            events = beats if kind == "beat" else bars
            n = _whole(item[len(kind) + 1:], item, kind)
            if events is None or len(events) == 0:
                raise ConfigError(f"--preview-at: {item!r}: this render has no {kind}s (no audio, or no steady beat)")
            if not 1 <= n <= len(events):
                raise ConfigError(f"--preview-at: {item!r}: the render has {kind}s 1 to {len(events)}")
            frame = int(frame_of(events[n - 1], 0.0, fps))
        elif low.startswith("f") and ascii_whole(low[1:]):
            frame = int(low[1:])
        else:
            try:
                seconds = parse_clock(item)
            except ValueError:
                raise ConfigError(f"--preview-at: {item!r} is not a moment ({FORMS})") from None
            if not 0 <= seconds < duration:
                raise ConfigError(f"--preview-at: {item!r} is outside the render (0 to {duration:.3f} s)")
            frame = int(seconds * fps + 1e-9)  # the frame on screen at that time (beats take the nearest)
        if not 0 <= frame < frames:
            raise ConfigError(f"--preview-at: {item!r} is outside the render (frames 0 to {frames - 1})")
        found.add(frame)
    if not found:
        raise ConfigError(f"--preview-at: no moments given ({FORMS})")
    if len(found) > limit:
        raise ConfigError(f"--preview-at: {len(found)} moments; a contact sheet holds at most {limit}")
    return sorted(found)


def _whole(text: str, item: str, kind: str = "beat") -> int:
    if not ascii_whole(text.strip()):
        raise ConfigError(f"--preview-at: {item!r}: a {kind} is named by its number, 1 for the first")
    return int(text)


def _onsets(item: str, onset: np.ndarray | None, limit: int) -> list[int]:
    """Frames where the onset envelope peaks at or above the level in ``item`` (the strongest
    ``limit`` of them)."""
    level = ONSET_LEVEL
    if ":" in item:
        try:
            level = float(item.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"--preview-at: {item!r}: the level is a number from 0 to 1") from None
        if not 0 <= level <= 1:
            raise ConfigError(f"--preview-at: {item!r}: the level is a number from 0 to 1")
    if onset is None or not np.any(onset):
        raise ConfigError(f"--preview-at: {item!r}: this render has no onsets (no audio, or a silent track)")
    o = np.asarray(onset, float)
    peaks = peak_frames(o, level)
    strongest = peaks[np.argsort(-o[peaks], kind="stable")][:limit]
    return sorted(int(p) for p in strongest)
