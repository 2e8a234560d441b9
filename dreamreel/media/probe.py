"""What a media file holds, from the bundled ffmpeg's machine-readable ``framecrc`` output.

ffmpeg's human-readable banner mixes stream facts with the file's own metadata, which anyone
can set (a title may read "Stream #0:0: Video: h264, 36x64, 250 fps"). The framecrc muxer
instead prints, per stream, the codec, time base and dimensions ffmpeg itself uses, and one
line per packet: nothing in it comes from tags. ``0:V`` selects video that is not an attached
picture, so a song's cover art is never taken for a clip.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from dreamreel.errors import MediaError
from dreamreel.media.atomic import require_readable
from dreamreel.media.ffmpeg import QUIET, ffmpeg_exe, last_line

DEFAULT_MAX_PIXELS = 100_000_000  # see LimitsConfig.max_pixels


@dataclass(frozen=True)
class MediaInfo:
    """A file's streams. fps is the average video rate, exact where it is a common one
    (30000/1001 rather than 29.97); frames is duration x fps, counted from the packets."""

    path: Path
    width: int
    height: int
    fps: Fraction
    duration: float  # seconds
    frames: int
    has_audio: bool
    audio_codec: str | None
    video_codec: str
    variable_rate: bool = False  # the stream's nominal rate differs from its average rate
    timecode: str | None = None  # the source's start timecode (tmcd track or timecode tag)


@dataclass(frozen=True)
class StreamFacts:
    """One stream of a framecrc listing: header facts and its packets' (pts, duration) in ``tb``."""

    media_type: str
    codec: str
    tb: Fraction
    width: int = 0
    height: int = 0
    packets: tuple[tuple[int, int], ...] = ()


_HEADER = re.compile(r"#(tb|media_type|codec_id|dimensions) (\d+): (\S+)")
_PACKET = re.compile(r"(\d+),\s*(-?\d+),\s*(-?\d+),\s*(\d+),")


def parse_framecrc(text: str) -> dict[int, StreamFacts]:
    """Parse a framecrc listing into {output stream index: StreamFacts}. Pure; lines that are
    neither a header nor a packet are ignored."""
    head: dict[int, dict[str, str]] = {}
    packets: dict[int, list[tuple[int, int]]] = {}
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            head.setdefault(int(m.group(2)), {})[m.group(1)] = m.group(3)
            continue
        m = _PACKET.match(line)
        if m:
            packets.setdefault(int(m.group(1)), []).append((int(m.group(3)), int(m.group(4))))
    out = {}
    for idx, h in head.items():
        w, _, ht = h.get("dimensions", "0x0").partition("x")
        num, _, den = h.get("tb", "1/1").partition("/")
        out[idx] = StreamFacts(h.get("media_type", "?"), h.get("codec_id", "?"), Fraction(int(num), int(den or 1)),
                               int(w or 0), int(ht or 0), tuple(packets.get(idx, ())))
    return out


def parse_ffmetadata(text: str) -> list[dict[str, str]]:
    """Parse ffmpeg's ``ffmetadata`` listing into [global tags, stream 0 tags, stream 1 tags, ...]
    (chapters are skipped). Values are unescaped (``\\=``, ``\\;``, ``\\#``, ``\\\\``, escaped newlines)."""
    sections: list[dict[str, str]] = [{}]
    current: dict[str, str] | None = sections[0]
    lines = iter(text.splitlines())
    for line in lines:
        while line.endswith("\\") and not line.endswith("\\\\"):
            line = line[:-1] + "\n" + next(lines, "")
        if line.startswith(";") or not line.strip():
            continue
        if line.startswith("["):
            current = {} if line.strip() == "[STREAM]" else None
            if current is not None:
                sections.append(current)
            continue
        if current is None:
            continue
        key, value, escaped, in_key = [], [], False, True
        for ch in line:
            if escaped:
                (key if in_key else value).append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == "=" and in_key:
                in_key = False
            else:
                (key if in_key else value).append(ch)
        if not in_key:
            current["".join(key)] = "".join(value)
    return sections


def read_timecode(path: Path) -> str | None:
    """The start timecode a file carries: a stream's (the tmcd track's) ``timecode`` tag, else the
    container's; None when there is none."""
    proc = _run([*QUIET, "-i", str(path), "-map", "0", "-c", "copy", "-f", "ffmetadata", "-"])
    sections = parse_ffmetadata(proc.stdout.decode("utf-8", "replace")) if proc.returncode == 0 else [{}]
    for tags in [*sections[1:], sections[0]]:
        tc = tags.get("timecode", "").strip()
        if tc:
            return tc
    return None


def exact_rate(value: float) -> Fraction:
    """Snap a measured rate (29.97, 23.98, 25) to the rational it stands for."""
    for candidate in (Fraction(round(value)), Fraction(round(value * 1.001) * 1000, 1001)):
        if candidate > 0 and abs(float(candidate) - value) < 0.006:
            return candidate
    return Fraction(value).limit_denominator(1001)


def check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    """MediaError when a declared size exceeds the pixel limit, before anything is decoded."""
    if width * height > max_pixels:
        raise MediaError(f"{path}: declares {width}x{height} pixels ({width * height / 1e6:.0f} MP), over the "
                         f"limit of {max_pixels / 1e6:g} MP; raise limits.max_pixels if it is meant")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([ffmpeg_exe(), *args], stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise MediaError(f"cannot run ffmpeg: {exc.strerror}") from None


def probe(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> MediaInfo:
    """Describe the media file at ``path``; MediaError (one line) when it is missing, not media,
    has no video (cover art does not count), is truncated, or declares more than ``max_pixels``.

    Two ffmpeg runs: one copies every packet to a framecrc listing (no decoding: a read of the
    file, which also finds truncation before any frame is dreamed); one decodes a single frame
    for the upright size (phone clips carry a rotation) and the nominal rate.
    """
    path = require_readable(path, "a video")
    proc = _run([*QUIET, "-i", str(path), "-map", "0:V:0?", "-map", "0:a:0?", "-c", "copy", "-f", "framecrc", "-"])
    err = proc.stderr.decode("utf-8", "replace")
    streams = parse_framecrc(proc.stdout.decode("utf-8", "replace"))
    video = next((s for s in streams.values() if s.media_type == "video"), None)
    audio = next((s for s in streams.values() if s.media_type == "audio"), None)
    if video is None:
        if proc.returncode != 0 and audio is None and "matches no streams" not in err \
                and "does not contain any stream" not in err:
            raise MediaError(f"{path}: not a readable video ({last_line(proc.stderr)})")
        if audio is not None:
            raise MediaError(f"{path}: has audio but no video stream")
        raise MediaError(f"{path}: no video stream found")
    if proc.returncode != 0 or "partial file" in err or "Truncat" in err:
        raise MediaError(f"{path}: the file is truncated or corrupt ({last_line(proc.stderr)})")
    check_pixels(path, video.width, video.height, max_pixels)
    if not video.packets:
        raise MediaError(f"{path}: the video stream holds no frames")
    first = min(p for p, _ in video.packets)
    end = max(p + d for p, d in video.packets)
    span = float((end - first) * video.tb)
    count = len(video.packets)
    width, height, nominal = _decoded_facts(path)
    avg = count / span if span > 0 else float(nominal)
    fps = exact_rate(avg)
    vfr = abs(float(nominal) - float(fps)) > 0.01 * float(fps)
    duration = span if span > 0 else count / float(fps)
    return MediaInfo(path=path, width=width, height=height, fps=fps, duration=duration,
                     frames=max(1, int(round(duration * fps))), has_audio=audio is not None,
                     audio_codec=audio.codec if audio else None, video_codec=video.codec, variable_rate=vfr,
                     timecode=read_timecode(path))


def _decoded_facts(path: Path) -> tuple[int, int, Fraction]:
    """(width, height, nominal rate) of the first decoded frame, after ffmpeg turns a rotated
    clip upright: what the frame reader will actually get."""
    proc = _run([*QUIET, "-i", str(path), "-map", "0:V:0", "-frames:v", "1", "-f", "framecrc", "-"])
    facts = parse_framecrc(proc.stdout.decode("utf-8", "replace")).get(0)
    if proc.returncode != 0 or facts is None or not facts.width:
        raise MediaError(f"{path}: no video frame can be decoded ({last_line(proc.stderr)})")
    # The encoder's time base is 1/rate (1001/30000 for 29.97): the stream's nominal rate.
    return facts.width, facts.height, 1 / facts.tb
