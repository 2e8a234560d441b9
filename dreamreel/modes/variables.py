"""Frame times and audio envelopes: the variables a schedule can read at each frame."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamreel.config import Config
from dreamreel.envelopes import COUNTS, LANES, Envelopes, envelopes, render_events
from dreamreel.errors import ConfigError
from dreamreel.markers import read_markers, usable_beats
from dreamreel.rhythm.analysis import RhythmSettings
from dreamreel.media.audio import ANALYSIS_RATE, read_audio


@dataclass(frozen=True)
class Timeline:
    """``frames`` frames at ``fps``; ``env(t)`` gives t, T, s, fps and the audio envelopes."""

    frames: int
    fps: float
    envelopes: Envelopes | None = None

    def env(self, t: int) -> dict[str, float]:
        out = {"t": float(t), "T": float(self.frames), "s": t / self.fps, "fps": self.fps}
        if self.envelopes is not None:
            out.update(self.envelopes.at(t))
        else:
            out.update({k: 0.0 for k in (*LANES, *COUNTS)})
        return out

    def envs(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """``env`` for an int array of frames at once: each variable an array like ``t``."""
        t = np.asarray(t, np.int64)
        out = {"T": np.full(t.shape, float(self.frames)), "s": t / self.fps, "fps": np.full(t.shape, self.fps)}
        for name in (*LANES, *COUNTS):
            if self.envelopes is None:
                out[name] = np.zeros(t.shape)
            else:
                track = self.envelopes.track(name)
                out[name] = track[np.clip(t, 0, len(track) - 1)].astype(float)
        return out


def build_timeline(cfg: Config, frames: int, fps: float, offset: float = 0.0,
                   fallback_audio: Path | None = None) -> Timeline:
    """The timeline of a render. Audio comes from ``cfg.audio.file``, else ``fallback_audio`` (a video's
    own track); it is analysed only when a schedule reads it. ``offset`` is the time of frame 0
    in the audio, seconds."""
    users = cfg.uses_audio()
    if not users:
        for key in ("audio_markers", "audio_bar_markers"):
            if getattr(cfg, key) is not None:
                read_markers(getattr(cfg, key), key)  # unused by any schedule, but a bad file is still one line
        return check_schedules(cfg, Timeline(frames, fps))
    source = cfg.audio.file or fallback_audio
    if source is None:
        raise ConfigError(
            f"{users[0]}: reads an audio envelope (rms, onset, bass, mid, high, beat, bar, ...) or keys on beats or "
            "bars, but there is no audio; "
            "set audio: path/to/track.wav"
        )
    envs = analyse_audio(cfg, source, frames, fps, offset)
    for note in envs.notes:
        # Said now, before the first frame, and kept in the report (report.py).
        print(f"dreamreel: note: {note}", file=sys.stderr, flush=True)
    return check_schedules(cfg, Timeline(frames, fps, envs))


def analyse_audio(cfg: Config, source: Path, frames: int, fps: float, offset: float = 0.0,
                  samples: np.ndarray | None = None) -> Envelopes:
    """The envelopes of ``source`` for ``frames`` frames at ``fps`` from ``offset`` seconds, with
    the beats of ``cfg.audio_markers`` and the bars of ``cfg.audio_bar_markers`` (when given) in
    place of the detected ones."""
    notes: list[str] = []
    if samples is None:
        samples = read_audio(source, notes=notes)
    duration = samples.size / ANALYSIS_RATE
    marked: dict[str, np.ndarray | None] = {"audio_markers": None, "audio_bar_markers": None}
    for key in marked:
        path = getattr(cfg, key)
        if path is not None:
            marked[key], said = usable_beats(read_markers(path, key), duration, path, key)
            notes += said
    return envelopes(samples, ANALYSIS_RATE, fps, frames, offset, beats=marked["audio_markers"],
                     settings=rhythm_settings(cfg), notes=tuple(notes), bars=marked["audio_bar_markers"])


def rhythm_settings(cfg: Config) -> RhythmSettings:
    """What ``cfg.audio`` says of the music, for the rhythm analysis."""
    a = cfg.audio
    return RhythmSettings(tempo_range=a.tempo_range, bpm=a.bpm, bpm_exact=a.bpm_exact,
                          meter=None if a.meter == "auto" else a.meter, downbeat=a.downbeat, tracker=a.beats)


# Frames a pre-flight evaluates at once (numpy work space of a few tens of MB per schedule).
PREFLIGHT_BLOCK = 1 << 20


def check_schedules(cfg: Config, timeline: Timeline) -> Timeline:
    """Evaluate every scheduled setting at every frame of the render before anything is dreamed
    (vectorised: about 0.2 s a million frames a schedule), so ``log(t)`` at frame 0 or
    ``1/(t-9999999)`` deep in a long zoom is a config error now, not after hours.

    Keys placed by time, beat or bar are bound to this render's frames first (the beats and
    bars its envelopes hold, markers included). Returns ``timeline``; ConfigError names the key
    and the frame."""
    env_ = timeline.envelopes
    beats = None if env_ is None else render_events(env_.beats, env_.offset, timeline.fps, timeline.frames)
    bars = None if env_ is None else render_events(env_.downbeats, env_.offset, timeline.fps, timeline.frames)
    for s in cfg.schedules().values():
        s.bind(timeline.fps, beats, bars)
    scheds = [s for s in cfg.schedules().values() if not s.constant]
    for a in range(0, timeline.frames if scheds else 0, PREFLIGHT_BLOCK):
        t = np.arange(a, min(timeline.frames, a + PREFLIGHT_BLOCK))
        env = timeline.envs(t)
        for s in scheds:
            s.over(t, env)
    return timeline


# What the timeline and the report say found the beats and bars (audio.beats).
TRACKER_NAMES = {"dreamreel": "dreamreel beat model", "dsp": "dsp onset tracker", "madmom": "madmom"}


def rhythm_sources(cfg: Config) -> dict[str, str]:
    """Where the beats and the bars of ``cfg``'s render come from, as the pages show it:
    ``beat_source`` and ``bar_source``."""
    detected = f"detected ({TRACKER_NAMES[cfg.audio.beats]})"
    bars = (f"markers: {cfg.audio_bar_markers}" if cfg.audio_bar_markers else
            f"audio.downbeat: {cfg.audio.downbeat:g} s" if cfg.audio.downbeat is not None else detected)
    return {"beat_source": f"markers: {cfg.audio_markers}" if cfg.audio_markers else detected, "bar_source": bars}
