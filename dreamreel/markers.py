"""Beat marker files a person can correct: Audacity label tracks, CSV and plain lists of times.

Read: one time per line, as the first field (tab, comma or semicolon separated). Audacity's
label track (``start<TAB>end<TAB>label``, spectral lines starting with a backslash skipped),
a CSV with or without a header row, or a text file of times all read the same way. A time is
seconds (``12.5``), ``m:ss.s`` or ``h:mm:ss.s``. Written: Audacity's format, which the other
tools read too. Pure text handling: no audio, no I/O beyond the one file.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from dreamreel.errors import ConfigError

MAX_BYTES = 16 << 20  # a marker file of a two-hour set at 200 bpm is under 1 MB
MAX_SECONDS = 100 * 3600.0  # no track is longer; 1e300 is a typo, not a time
SAME = 0.001  # markers closer than this (seconds) are one marker written twice
# ASCII digits only: Python's \d and int() take other scripts' digits ("٣"), and isdigit() says
# yes to "²", which int() then refuses with a traceback.
_CLOCK = re.compile(r"^(?:(\d{1,3}):)?(\d{1,3}):(\d{1,2}(?:\.\d*)?)$", re.ASCII)
# Plain decimal seconds: no "1_0" (Python's float reads it as 10), no "nan", "inf" or hex.
_SECONDS = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_NUMBER_WORDS = {"nan", "inf", "infinity", "+inf", "-inf", "+nan", "-nan", "+infinity", "-infinity"}


def parse_clock(text: str) -> float:
    """Seconds from ``12.5``, ``0:42.5`` or ``1:02:03.5``; ValueError when it is none of them."""
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        h, mnt, sec = m.groups()
        if float(sec) >= 60:
            raise ValueError(f"{text!r}: seconds must be under 60")
        value = (int(h) if h else 0) * 3600 + int(mnt) * 60 + float(sec)
        if value > MAX_SECONDS:
            raise ValueError(f"{text!r} is past any track (at most {MAX_SECONDS / 3600:.0f} hours)")
        return value
    if text.lower() in _NUMBER_WORDS:
        raise ValueError(f"{text!r} is not a finite time")
    if not _SECONDS.match(text):
        raise ValueError(f"{text!r} is not a time")
    value = float(text)
    if not math.isfinite(value) or value > MAX_SECONDS:
        raise ValueError(f"{text!r} is past any track (at most {MAX_SECONDS:.0f} s)")
    return value


def ascii_whole(text: str) -> bool:
    """True when ``text`` is a whole number written in ASCII digits (no sign, no space)."""
    return text.isascii() and text.isdigit()


def read_markers(path: Path, key: str = "audio_markers") -> np.ndarray:
    """Marker times of ``path``, seconds, sorted (float64 [n], n >= 1). ConfigError naming the
    config ``key``, the file and line of the first bad one."""
    path = Path(path)
    if not path.is_file():
        kind = ("is a folder, not a marker file" if path.is_dir() else
                "is not a regular file (a pipe or device?)" if path.exists() else "file not found")
        raise ConfigError(f"{key}: {path}: {kind}")
    if path.stat().st_size > MAX_BYTES:
        raise ConfigError(f"{key}: {path}: larger than {MAX_BYTES >> 20} MiB; not a marker file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{key}: {path}: not a text file (an Audacity label track, CSV or TXT of times)") from None
    times: list[float] = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "\\")):
            continue  # blank, a comment, or an Audacity spectral-selection line
        first = re.split(r"[\t,;]", stripped, maxsplit=1)[0].strip()
        try:
            t = parse_clock(first)
        except ValueError as exc:
            if "past any track" in str(exc) or "finite" in str(exc):
                raise ConfigError(f"{key}: {path}:{n}: {exc}") from None
            if not times and n == _first_content_line(text) and not re.search(r"\d", first):
                continue  # a CSV header ("time,label"): words, no number
            shown = first if len(first) <= 40 else first[:37] + "..."
            raise ConfigError(f"{key}: {path}:{n}: {shown!r} is not a time "
                              "(seconds, m:ss.s or h:mm:ss.s)") from None
        if t < 0:
            raise ConfigError(f"{key}: {path}:{n}: {first!r} is before the start of the track")
        times.append(t)
    if not times:
        raise ConfigError(f"{key}: {path}: holds no marker times")
    return np.sort(np.array(times, float))


def usable_beats(times: np.ndarray, duration: float, path: Path | str,
                 key: str = "audio_markers") -> tuple[np.ndarray, list[str]]:
    """``times`` (sorted seconds) as beats of a track ``duration`` seconds long, and what a person
    should know of them: markers written twice (closer than SAME) count once, markers past the
    end of the audio are left out; each with a note naming the file."""
    notes = []
    times = np.asarray(times, float)
    keep = np.concatenate([[True], np.diff(times) >= SAME]) if times.size else times.astype(bool)
    if not keep.all():
        notes.append(f"{key}: {path}: {int((~keep).sum())} marker(s) repeat the one before "
                     f"(within {SAME * 1000:g} ms) and count once")
    times = times[keep]
    past = times > duration
    if past.any():
        notes.append(f"{key}: {path}: {int(past.sum())} marker(s) after the end of the audio "
                     f"({duration:.3f} s) are left out, the first at {times[past][0]:.3f} s")
    return times[~past], notes


def _first_content_line(text: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.strip().startswith(("#", "\\")):
            return n
    return 0


def format_labels(times: np.ndarray, name: str) -> str:
    """An Audacity label track of point labels ``name 1``, ``name 2``, ... at ``times`` (seconds)."""
    return "".join(f"{t:.6f}\t{t:.6f}\t{name} {i}\n" for i, t in enumerate(np.asarray(times, float), 1))
