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
        return Timeline(frames, fps)
    source = cfg.audio or fallback_audio
    if source is None:
        raise ConfigError(
            f"{users[0]}: reads an audio envelope (rms, onset or beat) but there is no audio; "
            "set audio: path/to/track.wav"
        )
    samples = read_audio(source)
    return Timeline(frames, fps, envelopes(samples, ANALYSIS_RATE, fps, frames, offset))
