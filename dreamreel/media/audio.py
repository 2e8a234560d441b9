"""Decoding audio to samples with the bundled ffmpeg."""
from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dreamreel.errors import MediaError
from dreamreel.media.atomic import require_readable
from dreamreel.markers import MAX_SECONDS  # no track is longer
from dreamreel.media.ffmpeg import QUIET, ffmpeg_exe, last_line

ANALYSIS_RATE = 22050  # Hz: plenty for loudness, onsets and beats
# The fewest bytes a second of real audio takes: Opus at 6 kb/s with silence suppressed is above
# it; a WAV header that claims 1 Hz (350 KB "lasting" 49 hours, 15.6 GB decoded) is far below.
MIN_BYTES_PER_SECOND = 64
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.ASCII)
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)", re.ASCII)


@dataclass(frozen=True)
class AudioHeader:
    """What a file's header claims: its length (seconds, None when it does not say) and its first
    audio stream's codec (None: it has no audio stream)."""

    seconds: float | None
    codec: str | None
    problem: str | None = None  # ffmpeg's line when it could not read the file at all


def audio_header(src: Path) -> AudioHeader:
    """The header of ``src`` as ffmpeg reads it, without decoding anything."""
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(src)], stdin=subprocess.DEVNULL,
                          capture_output=True, check=False)
    text = proc.stderr.decode("utf-8", "replace")
    d, a = _DURATION.search(text), _AUDIO.search(text)
    seconds = int(d[1]) * 3600 + int(d[2]) * 60 + float(d[3]) if d else None
    declared = wav_seconds(src)
    if declared is not None:
        seconds = max(declared, seconds or 0.0)
    problem = None if "Input #" in text else last_line(proc.stderr)
    return AudioHeader(seconds, a[1] if a else None, problem)


def wav_seconds(src: Path) -> float | None:
    """The length a WAV file's own chunks declare (its data chunk's bytes over the format's bytes a
    second), None for anything else. ffmpeg measures a WAV by its size, so a file cut short reads
    as shorter, not as damaged; this is what it was meant to hold."""
    try:
        with open(src, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        tag, size = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if tag == b"fmt " and size >= 16 and pos + 24 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16:pos + 20], "little")
        elif tag == b"data":
            return size / byte_rate if byte_rate > 0 and size < 0xFFFFFFF0 else None  # 0xFFFFFFFF: streamed
        pos += 8 + size + (size & 1)
    return None


def check_header(src: Path) -> AudioHeader:
    """``src``'s header, once it is believable: MediaError when the file has no audio stream, or
    its header claims a length its size cannot hold (a damaged sample rate: decoding it would
    ask for gigabytes) or past any track. Before anything is decoded or allocated."""
    header = audio_header(src)
    if header.problem is not None:
        raise MediaError(f"{src}: cannot decode audio: {header.problem}")
    if header.codec is None:
        raise MediaError(f"{src}: has no audio stream")
    size = src.stat().st_size
    if header.seconds is not None and header.seconds > 0:
        if header.seconds > MAX_SECONDS:
            raise MediaError(f"{src}: its header says {header.seconds / 3600:.0f} hours of audio, past any track")
        if size / header.seconds < MIN_BYTES_PER_SECOND and header.seconds > 60:
            raise MediaError(f"{src}: its header says {header.seconds / 3600:.1f} hours of audio in "
                             f"{size / 1e3:.0f} KB, which cannot hold them (a damaged header: its sample rate?)")
    return header


def check_finite(samples: np.ndarray, src: Path, rate: int = ANALYSIS_RATE) -> None:
    """MediaError naming how many samples of ``src`` are NaN or infinite, and where the first is:
    a float file with such samples made every envelope 0 and no beats, and failed the mux after
    every frame was dreamed."""
    check_pieces_finite([(samples, 0)], src, rate)


def check_pieces_finite(pieces: Iterable[tuple[np.ndarray, int]], src: Path, rate: int) -> None:
    """``check_finite`` over ``pieces`` of a track ((samples, first sample number) each), counted
    across all of them: a whole track in memory is one piece, a track read through is many."""
    count, first = 0, None
    for piece, start in pieces:
        bad = ~np.isfinite(piece)
        if bad.any():
            count += int(bad.sum())
            first = start + int(np.argmax(bad)) if first is None else first
    if first is not None:
        raise MediaError(f"{src}: {count} audio samples are not numbers (NaN or infinite), the first at "
                         f"{first / rate:.2f} s; repair or re-export the file")


def decode_audio_args(src: Path, rate: int = ANALYSIS_RATE) -> list[str]:
    """Arguments that decode the first audio stream of ``src`` to mono float32 PCM on stdout."""
    return [*QUIET, "-i", str(src), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1"]


def check_audio(src: Path) -> Path:
    """``src`` once its first audio stream is known to decode (its first second, read through);
    MediaError naming the file otherwise. Run before a render so a bad mux file fails before any
    frame is dreamed, not after the last."""
    src = require_readable(Path(src), "an audio file")
    header = check_header(src)
    proc = subprocess.run([ffmpeg_exe(), *QUIET, "-i", str(src), "-map", "0:a:0", "-vn", "-t", "1", "-f", "null", "-"],
                          stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"{src}: cannot decode audio: {last_line(proc.stderr)}")
    if header.codec.startswith("pcm_f"):
        # Only floating-point samples can be NaN or infinite (they made the mux fail with ffmpeg's
        # "Invalid argument" after the last frame): read them through, a piece at a time.
        check_pieces_finite(_pieces(src, ANALYSIS_RATE), src, ANALYSIS_RATE)
    return src


def _pieces(src: Path, rate: int) -> Iterator[tuple[np.ndarray, int]]:
    """Mono float32 samples of ``src`` at ``rate`` Hz, a megabyte at a time, with each piece's
    first sample number."""
    proc = subprocess.Popen([ffmpeg_exe(), *decode_audio_args(src, rate)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    done = 0
    try:
        while chunk := proc.stdout.read(1 << 20):
            piece = np.frombuffer(chunk, np.float32, count=len(chunk) // 4)
            yield piece, done
            done += piece.size
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def read_audio(src: Path, rate: int = ANALYSIS_RATE, notes: list[str] | None = None) -> np.ndarray:
    """Mono float32 samples of ``src`` at ``rate`` Hz; MediaError when it has no readable audio.
    ``notes`` gets a line when less decoded than the header promised (a damaged or cut file:
    the seconds lost are said, not silently dropped).

    Read from ffmpeg into one growing buffer that becomes the array without a copy: the samples
    (88 KB a second, 318 MB an hour) are the only thing as long as the track."""
    src = require_readable(Path(src), "an audio file")  # a folder or a FIFO says so, not "not found"
    header = check_header(src)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([ffmpeg_exe(), *decode_audio_args(src, rate)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        buf = bytearray()
        try:
            while chunk := proc.stdout.read(1 << 20):
                buf += chunk
        finally:
            proc.stdout.close()
            code = proc.wait()
        err.seek(0)
        problems = err.read()
        if code != 0:
            raise MediaError(f"{src}: cannot decode audio: {last_line(problems)}")
    samples = np.frombuffer(buf, np.float32, count=len(buf) // 4)
    if samples.size == 0:
        raise MediaError(f"{src}: has no audio samples")
    check_finite(samples, src, rate)
    got = samples.size / rate
    if notes is not None and header.seconds is not None and header.seconds - got > max(0.25, 0.01 * header.seconds):
        why = f" ({last_line(problems)})" if problems.strip() else ""
        notes.append(f"audio: {src.name} decoded to {got:.2f} s of the {header.seconds:.2f} s its header says: "
                     f"{header.seconds - got:.2f} s lost, a damaged or cut file{why}")
    return samples


def listening_copy(src: Path, start: float, seconds: float, bitrate: str = "32k") -> bytes:
    """``seconds`` of ``src``'s audio from ``start`` as a small mono Opus-in-Ogg file (32 kb/s:
    2.4 MB for ten minutes), for a page to play offline; MediaError when it cannot be made."""
    args = [*QUIET, *(["-ss", f"{start:.6f}"] if start > 0 else []), "-i", str(src), "-map", "0:a:0", "-vn",
            "-t", f"{max(seconds, 0.01):.6f}", "-ac", "1", "-c:a", "libopus", "-b:a", bitrate, "-f", "ogg", "pipe:1"]
    proc = subprocess.run([ffmpeg_exe(), *args], stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise MediaError(f"{src}: cannot make a listening copy: {last_line(proc.stderr)}")
    return proc.stdout
