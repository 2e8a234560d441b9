"""Decoding audio to samples with the bundled ffmpeg."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from pipeline.errors import MediaError
from pipeline.media.ffmpeg import QUIET, ffmpeg_exe, last_line

ANALYSIS_RATE = 22050  # Hz: plenty for loudness, onsets and beats


def decode_audio_args(src: Path, rate: int = ANALYSIS_RATE) -> list[str]:
    """Arguments that decode the first audio stream of ``src`` to mono float32 PCM on stdout."""
    return [*QUIET, "-i", str(src), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1"]


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
