"""SMPTE timecode arithmetic (``HH:MM:SS:FF``, drop-frame ``HH:MM:SS;FF``): pure functions.

An editor conforms a dreamed clip onto its source by timecode, so the output's timecode is the
source's plus the first frame rendered. Drop-frame (29.97 and 59.94 fps) skips frame numbers 0
and 1 (0-3 at 59.94) at the start of every minute except each tenth, so the clock keeps time.
"""
from __future__ import annotations

import re
from fractions import Fraction

_TC = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})")


def _nominal(fps: Fraction) -> int:
    return max(1, round(float(fps)))


def _drop_count(fps: Fraction) -> int:
    """Frame numbers dropped per minute: 2 at 29.97, 4 at 59.94, 0 for other rates."""
    nominal = _nominal(fps)
    return nominal // 15 if fps.denominator == 1001 and nominal % 30 == 0 else 0


def timecode_to_frames(tc: str, fps: Fraction) -> tuple[int, bool]:
    """(frame count since 00:00:00:00, drop-frame?) of ``tc`` at ``fps``; ValueError if malformed."""
    m = _TC.fullmatch(tc.strip())
    if m is None:
        raise ValueError(f"not a timecode: {tc!r}")
    hh, mm, ss, sep, ff = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), int(m.group(5))
    nominal = _nominal(fps)
    if mm > 59 or ss > 59 or ff >= nominal:
        raise ValueError(f"not a timecode at {float(fps):g} fps: {tc!r}")
    drop = sep in ";," and _drop_count(fps) > 0
    frames = (hh * 3600 + mm * 60 + ss) * nominal + ff
    if drop:
        minutes = 60 * hh + mm
        frames -= _drop_count(fps) * (minutes - minutes // 10)
    return frames, drop


def frames_to_timecode(frames: int, fps: Fraction, drop: bool = False) -> str:
    """The timecode of frame ``frames`` (since 00:00:00:00) at ``fps``; wraps at 24 hours."""
    nominal = _nominal(fps)
    d = _drop_count(fps) if drop else 0
    if d:
        per_10min = 10 * 60 * nominal - 9 * d
        per_min = 60 * nominal - d
        tens, rest = divmod(frames, per_10min)
        frames += 9 * d * tens + (d * ((rest - d) // per_min) if rest > d else 0)
    ff = frames % nominal
    secs = frames // nominal
    sep = ";" if d else ":"
    return f"{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{sep}{ff:02d}"


def offset_timecode(tc: str, frames: int, fps: Fraction) -> str:
    """``tc`` moved on by ``frames`` frames at ``fps``, keeping its drop-frame style."""
    start, drop = timecode_to_frames(tc, fps)
    return frames_to_timecode(start + frames, fps, drop)
