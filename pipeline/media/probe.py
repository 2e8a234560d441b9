"""What a media file holds, read from the bundled ffmpeg's own description of it."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pipeline.errors import MediaError
from pipeline.media.atomic import require_readable
from pipeline.media.ffmpeg import ffmpeg_exe, last_line


@dataclass(frozen=True)
class MediaInfo:
    """A file's streams. fps is the average video rate, exact where it is a common one
    (30000/1001 rather than 29.97); frames is duration x fps, what the container promises."""

    path: Path
    width: int
    height: int
    fps: Fraction
    duration: float  # seconds
    frames: int
    has_audio: bool
    audio_codec: str | None
    video_codec: str
    variable_rate: bool = False  # the stream's base rate differs from its average rate


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{1,5})x(\d{1,5})")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_TBR = re.compile(r"([\d.]+)(k?) tbr")
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)")
_ROTATE = re.compile(r"rotation of (-?[\d.]+) degrees")


def exact_rate(value: float) -> Fraction:
    """Snap a printed rate (29.97, 23.98, 25) to the rational it stands for."""
    for candidate in (Fraction(round(value)), Fraction(round(value * 1.001) * 1000, 1001)):
        if candidate > 0 and abs(float(candidate) - value) < 0.006:
            return candidate
    return Fraction(value).limit_denominator(1001)


def parse_probe(text: str, path: Path) -> MediaInfo:
    """Parse ``ffmpeg -i`` stderr into MediaInfo; MediaError when there is no video stream."""
    video = _VIDEO.search(text)
    if video is None:
        if _AUDIO.search(text):
            raise MediaError(f"{path}: has audio but no video stream")
        raise MediaError(f"{path}: no video stream found")
    line = text[video.start():].splitlines()[0]
    rate = _FPS.search(line) or _TBR.search(line)
    if rate is None:
        raise MediaError(f"{path}: the video stream has no frame rate")
    fps = exact_rate(float(rate.group(1)) * (1000 if rate.group(2) else 1))
    d = _DURATION.search(text)
    duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else 0.0
    w, h = int(video.group(2)), int(video.group(3))
    rot = _ROTATE.search(text[video.start():])
    if rot and round(abs(float(rot.group(1)))) % 180 == 90:
        w, h = h, w  # ffmpeg turns rotated phone clips upright when it decodes them
    audio = _AUDIO.search(text)
    tbr = _TBR.search(line)
    vfr = bool(tbr) and abs(float(tbr.group(1)) * (1000 if tbr.group(2) else 1) - float(fps)) > 0.01 * float(fps)
    return MediaInfo(
        path=path, width=w, height=h, fps=fps, duration=duration, frames=int(round(duration * fps)),
        has_audio=audio is not None, audio_codec=audio.group(1) if audio else None, video_codec=video.group(1),
        variable_rate=vfr,
    )


def probe(path: Path) -> MediaInfo:
    """Describe the media file at ``path``; MediaError (one line) when it is missing or not media."""
    path = require_readable(path, "a video")
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    text = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        raise MediaError(f"{path}: not a readable video ({last_line(proc.stderr)})")
    return parse_probe(text, path)


def check_complete(path: Path) -> None:
    """MediaError when the file's video data ends before its index says it should.

    Copies the video packets to nowhere (no decoding, so this costs one read of the file): a
    truncated MP4 announces itself here, before any frame is dreamed, instead of partway through.
    """
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                           "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    text = proc.stderr.decode("utf-8", "replace")
    if "partial file" in text or "Truncat" in text or proc.returncode != 0:
        raise MediaError(f"{path}: the file is truncated or corrupt ({last_line(proc.stderr)})")
