"""Decoding audio to samples with the bundled ffmpeg."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from pipeline.errors import MediaError
from pipeline.media.atomic import require_readable
from pipeline.media.ffmpeg import QUIET, ffmpeg_exe, last_line

ANALYSIS_RATE = 22050  # Hz: plenty for loudness, onsets and beats


def decode_audio_args(src: Path, rate: int = ANALYSIS_RATE) -> list[str]:
    """Arguments that decode the first audio stream of ``src`` to mono float32 PCM on stdout."""
    return [*QUIET, "-i", str(src), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1"]


def check_audio(src: Path) -> Path:
    """``src`` once its first audio stream is known to decode (its first second, read through);
    MediaError naming the file otherwise. Run before a render so a bad mux file fails before any
    frame is dreamed, not after the last."""
    src = require_readable(Path(src), "an audio file")
    proc = subprocess.run([ffmpeg_exe(), *QUIET, "-i", str(src), "-map", "0:a:0", "-vn", "-t", "1", "-f", "null", "-"],
                          stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"{src}: cannot decode audio: {last_line(proc.stderr)}")
    return src


def read_audio(src: Path, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """Mono float32 samples of ``src`` at ``rate`` Hz; MediaError when it has no readable audio.

    Read from ffmpeg into one growing buffer that becomes the array without a copy: the samples
    (88 KB a second, 318 MB an hour) are the only thing as long as the track."""
    src = Path(src)
    if not src.is_file():
        raise MediaError(f"{src}: audio file not found")
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
        if code != 0:
            err.seek(0)
            raise MediaError(f"{src}: cannot decode audio: {last_line(err.read())}")
    samples = np.frombuffer(buf, np.float32, count=len(buf) // 4)
    if samples.size == 0:
        raise MediaError(f"{src}: has no audio samples")
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
