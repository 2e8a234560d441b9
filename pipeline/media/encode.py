"""Turning a folder of numbered PNG frames into the final output file, atomically."""
from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

from pipeline.errors import MediaError
from pipeline.media.atomic import atomic_path
from pipeline.media.ffmpeg import (
    MP4_AUDIO_COPY,
    encode_gif_args,
    encode_mp4_args,
    encode_webp_args,
    run_ffmpeg,
)

FRAME_NAME = "{:06d}.png"
FRAME_PATTERN = "%06d.png"


def audio_plan(choice: str, source: Path | None, source_has_audio: bool, source_codec: str | None,
               start_seconds: float) -> tuple[Path, float, bool] | None:
    """Which audio goes into the MP4: (file, start seconds, copy codec?) or None.

    choice: "source", "none", or a path to another audio file. A source without audio gives None.
    Copying is only exact from the very start; a cut elsewhere is re-encoded to AAC.
    """
    if choice == "none":
        return None
    if choice == "source":
        if source is None or not source_has_audio:
            return None
        return source, start_seconds, start_seconds == 0 and source_codec in MP4_AUDIO_COPY
    path = Path(choice)
    if not path.is_file():
        raise MediaError(f"video.audio: audio file not found: {path}")
    return path, 0.0, False


def encode_frames(frames: list[Path], fps: Fraction, out: Path, crf: int = 18,
                  preset: str = "medium", audio: tuple[Path, float, bool] | None = None) -> None:
    """Encode the PNG files ``frames`` (in that order) to ``out`` (.mp4, .gif, .webp, or a folder
    of PNGs), atomically: ``out`` appears only once it is whole."""
    out = Path(out)
    suffix = out.suffix.lower()
    count = len(frames)
    if suffix == "":
        _copy_frames(frames, out)
        return
    # ffmpeg's image2 reader wants consecutive numbers from -start_number; a renumbered view
    # of the frames keeps the checkpoint names equal to source frame numbers.
    seq = out.parent / f".{out.name}.seq"
    shutil.rmtree(seq, ignore_errors=True)
    seq.mkdir()
    try:
        for i, path in enumerate(frames):
            (seq / FRAME_NAME.format(i)).symlink_to(Path(path).resolve())
        pattern = str(seq / FRAME_PATTERN)
        with atomic_path(out) as tmp:
            if suffix == ".mp4":
                args = encode_mp4_args(pattern, fps, tmp, crf, preset, audio, duration=float(count / fps))
            elif suffix == ".gif":
                args = encode_gif_args(pattern, fps, tmp)
            elif suffix == ".webp":
                args = encode_webp_args(pattern, fps, tmp)
            else:
                raise MediaError(f"{out}: cannot write {suffix} (use .mp4, .gif, .webp or a folder)")
            run_ffmpeg(args, f"encoding {out}")
    finally:
        shutil.rmtree(seq, ignore_errors=True)


def _copy_frames(frames: list[Path], out: Path) -> None:
    """A folder output: the PNG frames themselves, numbered from 0, placed atomically."""
    tmp = out.parent / f".{out.name}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for i, path in enumerate(frames):
            shutil.copy2(path, tmp / FRAME_NAME.format(i))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MediaError(f"{out}: cannot write frames: {exc.strerror or exc}") from None
