"""The timeline's data: every frame's time, envelopes and scheduled values, the beats and onsets,
cuts and segments, as one JSON-ready dict (the format docs/reference/formats.md documents). Pure: arrays in,
a dict out; reading files and the audio happens in inspect/timeline.py."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from dreamreel.config import Config
from dreamreel.envelopes import LANES, frame_of, render_events
from dreamreel.modes.variables import Timeline

FORMAT = "dreamreel.timeline"
VERSION = 1
# Waveform peaks (min and max pairs) kept for the whole track: a 10-minute song at 100 a second.
MAX_PEAKS = 60_000
PEAK_RATE = 100.0


def rounded(values: np.ndarray, digits: int = 6) -> list[float]:
    """``values`` as a JSON list with ``digits`` significant digits (a tenth of the size of repr)."""
    a = np.asarray(values, float)
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in a.tolist()]


def scheduled_values(cfg: Config, timeline: Timeline) -> dict[str, dict[str, Any]]:
    """{dotted key: {values [frames], source, keyframes [[frame, value]]}} of every setting that
    changes over time (a constant is not a lane)."""
    t = np.arange(timeline.frames)
    env = timeline.envs(t)
    out: dict[str, dict[str, Any]] = {}
    for key, sched in cfg.schedules().items():
        # The dream's and this mode's settings: a zoom's timeline has no video.* lanes.
        if sched.constant or not key.startswith(("dream.", f"{cfg.mode}.")):
            continue
        values = sched.over(t, env)
        keys = sorted({int(round(k)) for k, _ in sched.keys if 0 <= k < timeline.frames})
        frames = [k for k in keys if len(sched.keys) > 1]
        out[key] = {"values": rounded(values), "source": _source(sched.source),
                    "keyframes": [[f, rounded(values[f:f + 1])[0]] for f in frames]}
    return out


def _source(source: Any) -> Any:
    return source if isinstance(source, (str, int, float)) else {str(k): v for k, v in dict(source).items()}


def beat_numbers(frames: int, fps: float, beats: np.ndarray) -> np.ndarray:
    """Per frame, the number of the last beat it holds or follows: 0 before the first beat, 1
    from the frame holding the first, ... (int [frames]). ``beats``: seconds of the output, those
    of the render only (``render_events``), so number N is the render's Nth beat, as ``beat:N``
    names it. A frame holds a beat that falls in its span of time, as the ``beat`` envelope counts it."""
    return np.searchsorted(frame_of(np.sort(np.asarray(beats, float)), 0.0, fps), np.arange(frames), side="right")


def waveform(samples: np.ndarray, rate: int, start: float, seconds: float) -> dict[str, Any]:
    """Min and max of the samples in buckets (PEAK_RATE a second, fewer for a long track) over
    ``seconds`` from ``start``: what the page draws as the waveform."""
    a = int(max(start, 0) * rate)
    b = min(samples.size, a + int(seconds * rate))
    chunk = samples[a:b]
    per_sec = min(PEAK_RATE, MAX_PEAKS / max(seconds, 1e-6))
    bucket = max(1, int(rate / per_sec))
    n = chunk.size // bucket
    if n == 0:
        return {"rate": rate / bucket, "min": [], "max": []}
    blocks = chunk[: n * bucket].reshape(n, bucket)
    return {"rate": rate / bucket, "min": rounded(blocks.min(axis=1), 3), "max": rounded(blocks.max(axis=1), 3)}


def planned_dreams(cfg: Config, timeline: Timeline, cuts: list[int]) -> list[bool]:
    """Per output frame, whether the render dreams it (``video.cadence``, ``zoom.cadence``: every
    Nth frame, N evaluated at each frame; a first frame and a cut always). A video frame whose
    flow is lost over a tenth of it also dreams at once; those only the render finds (its report
    says which frames it dreamed, and the report's page draws that)."""
    n = timeline.frames
    sched = getattr(getattr(cfg, cfg.mode, None), "cadence", None)
    if sched is None or n == 0:
        return [True] * n
    t = np.arange(n)
    every = np.maximum(1, sched.over(t.astype(float), timeline.envs(t)).astype(np.int64))
    due = (t % every == 0)
    due[[c for c in cuts if 0 <= c < n]] = True
    due[0] = True
    return due.tolist()


def timeline_data(cfg: Config, timeline: Timeline, *, title: str, first_frame: int = 0,
                  audio: dict[str, Any] | None = None, cuts: list[int] | None = None,
                  segments: list[dict[str, Any]] | None = None, wave: dict[str, Any] | None = None,
                  notes: list[str] | None = None) -> dict[str, Any]:
    """The timeline of a render as a JSON-ready dict. Frame numbers are the output's (0 is its
    first frame); times are seconds of the output; ``first_frame`` is frame 0's number in the source.
    ``audio``: {file, offset, beat_source, note}; beat and onset times come from the timeline's
    envelopes, moved from audio time to output time."""
    n, fps = timeline.frames, timeline.fps
    times = np.arange(n) / fps
    env = timeline.envelopes
    duration = n / fps
    data: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "title": title, "mode": cfg.mode, "fps": fps, "frames": n,
        "first_frame": first_frame, "duration": duration, "time": rounded(times, 9),
        "audio": None, "envelopes": {}, "beats": [], "bars": [], "onsets": [], "beat_number": [],
        "beat_in_bar": [], "bar_number": [],
        "schedules": scheduled_values(cfg, timeline), "cuts": cuts or [], "segments": segments or [],
        "waveform": wave, "notes": list(notes or []), "dreamed": planned_dreams(cfg, timeline, cuts or []),
    }
    if env is not None:
        offset = env.offset
        beats = render_events(env.beats, offset, fps, n)
        data["beats"] = rounded(beats, 9)
        data["bars"] = rounded(render_events(env.downbeats, offset, fps, n), 9)
        data["onsets"] = rounded(render_events(env.onsets, offset, fps, n), 9)
        data["beat_number"] = env.track("beat_number").astype(int).tolist()
        data["beat_in_bar"] = env.track("beat_in_bar").astype(int).tolist()
        data["bar_number"] = env.track("bar_number").astype(int).tolist()
        data["envelopes"] = {k: rounded(env.track(k), 4) for k in LANES}
        tempo = env.tempo if math.isfinite(env.tempo) else 0.0
        data["audio"] = {"tempo": round(tempo, 3), "meter": env.meter, **(audio or {})}
    else:
        data["envelopes"] = {k: [0.0] * n for k in LANES}
        data["beat_number"] = data["beat_in_bar"] = data["bar_number"] = [0] * n
        if audio:
            data["audio"] = {"tempo": 0.0, "meter": 0, **audio}
    return data
