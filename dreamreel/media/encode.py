"""Turning a folder of numbered PNG frames into the final output file, atomically."""
from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Callable

from dreamreel.errors import MediaError
from dreamreel.media.atomic import atomic_path
from dreamreel.media.audio import check_audio
from dreamreel.media.ffmpeg import (
    MP4_AUDIO_COPY,
    encode_gif_args,
    encode_video_args,
    encode_webp_args,
    run_ffmpeg,
)

FRAME_NAME = "{:06d}.png"
FRAME_PATTERN = "%06d.png"
# Inside a frames-folder output: the names of the frames dreamreel wrote there, one a line.
# They are the only files a later render into the same folder may ever replace or remove.
FRAMES_RECORD = ".dreamreel-frames"


def recorded_frames(folder: Path) -> set[str] | None:
    """Names of the frames dreamreel wrote into ``folder`` (None: no record, not ours)."""
    try:
        text = (Path(folder) / FRAMES_RECORD).read_text()
    except OSError:
        return None
    # Only plain frame names count, so a damaged record cannot name "../x" or a config file.
    return {ln for ln in text.splitlines() if len(ln) == 10 and ln[:6].isdigit() and ln.endswith(".png")}


def foreign_files(folder: Path) -> list[str]:
    """Files in ``folder`` that no dreamreel render wrote (what a frames output must not touch)."""
    ours = recorded_frames(folder) or set()
    return sorted(n for n in os.listdir(folder) if n != FRAMES_RECORD and n not in ours)


def audio_plan(choice: str, source: Path | None, source_has_audio: bool, source_codec: str | None,
               start_seconds: float, file_start: float = 0.0, key: str = "video.audio") -> tuple[Path, float, bool] | None:
    """Which audio goes into the MP4: (file, start seconds, copy codec?) or None.

    choice: "source", "none", or a path to another audio file, cut from ``file_start`` seconds
    (the render's start when the file runs along the source's timeline, as a top-level ``audio:``
    does: the effects read it from there too). A source without audio gives None. Copying is
    only exact from the very start; a cut elsewhere is re-encoded to AAC. ``key``: the config key
    an error names.
    """
    if choice == "none":
        return None
    if choice == "source":
        if source is None or not source_has_audio:
            return None
        return source, start_seconds, start_seconds == 0 and source_codec in MP4_AUDIO_COPY
    try:
        return check_audio(Path(choice)), file_start, False
    except MediaError as exc:
        raise MediaError(f"{key}: {exc}") from None


def encode_frames(frames: list[Path], fps: Fraction, out: Path, crf: int = 18,
                  preset: str = "medium", audio: tuple[Path, float, bool] | None = None,
                  claim: Callable[[Path], None] | None = None, codec: str = "h264",
                  timecode: str | None = None) -> None:
    """Encode the PNG files ``frames`` (in that order) to ``out`` (.mp4, .mov, .gif, .webp, or a
    folder of PNGs), atomically: ``out`` appears only once it is whole. ``claim(path)`` is told
    the file (or folder) about to become ``out``, before it does. ``codec`` and ``timecode``
    apply to .mp4 and .mov (see ``encode_video_args``)."""
    out = Path(out)
    suffix = out.suffix.lower()
    count = len(frames)
    if suffix == "":
        write_frames_folder(frames, out, claim)
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
        with atomic_path(out, before_replace=claim) as tmp:
            if suffix in (".mp4", ".mov"):
                args = encode_video_args(pattern, fps, tmp, crf, preset, audio, duration=float(count / fps),
                                         codec=codec, timecode=timecode)
            elif suffix == ".gif":
                args = encode_gif_args(pattern, fps, tmp)
            elif suffix == ".webp":
                args = encode_webp_args(pattern, fps, tmp)
            else:
                raise MediaError(f"{out}: cannot write {suffix} (use .mp4, .mov, .gif, .webp or a folder)")
            run_ffmpeg(args, f"encoding {out}")
    finally:
        shutil.rmtree(seq, ignore_errors=True)


def write_frames_folder(frames: list[Path], out: Path, claim: Callable[[Path], None] | None = None) -> None:
    """A folder output: the PNG frames themselves, numbered from 0.

    A new folder appears whole (built beside it, then renamed). Into an existing folder, frames
    are moved one by one (each rename atomic), and of what was there only the frames an earlier
    render recorded are replaced or removed: never a file dreamreel did not write."""
    names = [FRAME_NAME.format(i) for i in range(len(frames))]
    tmp = out.parent / f".{out.name}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for name, path in zip(names, frames):
            shutil.copy2(path, tmp / name)
        if not out.exists():
            (tmp / FRAMES_RECORD).write_text("".join(f"{n}\n" for n in names))
            if claim is not None:
                claim(tmp)
            tmp.rename(out)
            return
        if claim is not None:
            claim(out)
        old = recorded_frames(out) or set()
        clash = set(names) & set(foreign_files(out))
        if clash:
            raise MediaError(f"{out}: holds {min(clash)}, which dreamreel did not write; choose a new folder")
        # The record first names old and new frames together, so a kill midway leaves every
        # frame of ours recorded and nothing of anyone else's in it.
        _write_record(out, old | set(names))
        for name in names:
            os.replace(tmp / name, out / name)
        for name in sorted(old - set(names)):
            (out / name).unlink(missing_ok=True)
        _write_record(out, set(names))
    except OSError as exc:
        raise MediaError(f"{out}: cannot write frames: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_record(folder: Path, names: set[str]) -> None:
    part = folder / f"{FRAMES_RECORD}.part"
    part.write_text("".join(f"{n}\n" for n in sorted(names)))
    os.replace(part, folder / FRAMES_RECORD)
