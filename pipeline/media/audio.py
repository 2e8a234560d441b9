"""Decoding audio to samples with the bundled ffmpeg."""
from __future__ import annotations

import subprocess
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
    """Mono float32 samples of ``src`` at ``rate`` Hz; MediaError when it has no readable audio."""
    src = Path(src)
    if not src.is_file():
        raise MediaError(f"{src}: audio file not found")
    proc = subprocess.run([ffmpeg_exe(), *decode_audio_args(src, rate)], stdin=subprocess.DEVNULL,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise MediaError(f"{src}: cannot decode audio: {last_line(proc.stderr)}")
    samples = np.frombuffer(proc.stdout, np.float32)
    if samples.size == 0:
        raise MediaError(f"{src}: has no audio samples")
    return samples.copy()
