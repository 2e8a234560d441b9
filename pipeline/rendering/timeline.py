"""Frame times and audio envelopes: the variables a schedule can read at each frame."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config
from pipeline.envelopes import Envelopes, envelopes
from pipeline.errors import ConfigError
from pipeline.media.audio import ANALYSIS_RATE, read_audio


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
            out.update(rms=0.0, onset=0.0, beat=0.0)
        return out


def build_timeline(cfg: Config, frames: int, fps: float, offset: float = 0.0,
                   fallback_audio: Path | None = None) -> Timeline:
    """The timeline of a render. Audio comes from ``cfg.audio``, else ``fallback_audio`` (a video's
    own track); it is analysed only when a schedule reads it. ``offset`` is the time of frame 0
    in the audio, seconds."""
    users = cfg.uses_audio()
    if not users:
        return check_schedules(cfg, Timeline(frames, fps))
    source = cfg.audio or fallback_audio
    if source is None:
        raise ConfigError(
            f"{users[0]}: reads an audio envelope (rms, onset or beat) but there is no audio; "
            "set audio: path/to/track.wav"
        )
    samples = read_audio(source)
    return check_schedules(cfg, Timeline(frames, fps, envelopes(samples, ANALYSIS_RATE, fps, frames, offset)))


# Evaluations a pre-flight may spend (a few microseconds each); past it, frames are sampled.
PREFLIGHT_BUDGET = 200_000


def check_schedules(cfg: Config, timeline: Timeline) -> Timeline:
    """Evaluate every scheduled setting at the render's frames before anything is dreamed, so
    ``log(t)`` at frame 0 or ``1/(t-2)`` at frame 2 is a config error now, not after an hour.

    Returns ``timeline``; ConfigError names the key and the frame."""
    scheds = [s for s in cfg.schedules().values() if not s.constant]
    if not scheds or timeline.frames <= 0:
        return timeline
    stride = max(1, (timeline.frames * len(scheds)) // PREFLIGHT_BUDGET)
    frames = sorted(set(range(0, timeline.frames, stride)) | {timeline.frames - 1})
    for t in frames:
        env = timeline.env(t)
        for s in scheds:
            s.at(t, env)
    return timeline
