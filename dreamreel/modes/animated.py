"""The skeleton every animated render (video, zoom) shares: job folder, resume, dream, encode,
clean up, and what a failed render tells the user it kept."""
from __future__ import annotations

import hashlib
import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from dreamreel.config import Config
from dreamreel.errors import DreamreelError, OutputExistsError
from dreamreel.media.encode import encode_frames
from dreamreel.media.mask import open_mask
from dreamreel.modes.context import RenderContext
from dreamreel.jobs.folder import Job, job_dir


class Animation(Protocol):
    """One animated render as the skeleton sees it. Whatever can fail before any work (probe,
    schedules, audio, mask) has already been checked when one exists."""

    ctx: RenderContext
    fps: Fraction
    timecode: str | None  # the output's start timecode, or None

    def fingerprint(self) -> dict[str, Any]:
        """What shapes the pixels: a job folder made with another fingerprint is refused."""

    def dream(self, job: Job) -> dict[str, Any]:
        """Dream every frame still missing from ``job``; returns facts for the manifest."""

    def assemble(self, job: Job) -> tuple[list[Path], dict[str, Any]]:
        """The finished frames in shown order, and the facts found while ordering them."""

    def measured(self, frames: list[Path], recorded: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The report's facts for the output ``frames`` (in shown order): ``recorded`` (by
        checkpoint name), with the frames the dream's own facts do not describe measured again
        where the source allows (frames blended at assembly, frames whose facts were lost)."""


def render_animated(anim: Animation, force: bool, writer: str = "", encode: bool = True) -> dict[str, Any]:
    """Open (or resume) the job, dream what is missing, encode, remove the job; returns facts.

    ``encode`` False (a farm task) stops after dreaming; ``writer`` names its checksum file. A
    plain render that fails says how many frames it kept for the next run, or leaves no empty job
    behind; a farm task leaves the folder alone, since other tasks may be working in it."""
    cfg = anim.ctx.cfg
    root = job_dir(cfg.output)
    had_job = root.is_dir()
    job = Job(cfg.output, anim.fingerprint(), writer=writer)
    if encode:
        from dreamreel.inspect.report import check_report_files

        check_report_files(cfg.output, force)
    try:
        job.open(force)
        facts = anim.dream(job)
        if not encode:
            return facts
        frames, found = anim.assemble(job)
        codec = cfg.output_codec()
        crf, preset = (cfg.video.crf, cfg.video.preset) if cfg.mode == "video" else (cfg.zoom.crf, cfg.zoom.preset)
        encode_frames(frames, anim.fps, cfg.output, crf, preset, anim.ctx.audio, claim=job.claim, codec=codec,
                      timecode=anim.timecode)
        # Before the job folder goes: the frames' facts live in it.
        from dreamreel.inspect.report import write_report

        report = write_report(cfg, anim.ctx, [p.name for p in frames], anim.measured(frames, job.frame_facts()),
                              found, facts)
        facts["report"] = str(report[-1])
    except DreamreelError as exc:
        if writer or not root.is_dir() or isinstance(exc, OutputExistsError):
            raise  # refused before any work (another job's settings, a lock), or a farm task
        done = Job(cfg.output, {}).frames_done()
        if done == 0 and not had_job:
            shutil.rmtree(root, ignore_errors=True)  # nothing to resume from: leave no trace
            raise
        raise type(exc)(f"{exc} ({done} finished frame{'s' if done != 1 else ''} kept in {root}: "
                        "the same settings resume from there)") from None
    # GIF, WebP and frame folders carry neither sound nor timecode: the manifest says what is there.
    carries = cfg.output.suffix.lower() in (".mp4", ".mov")
    facts.update(found, codec=codec if carries else None, timecode=anim.timecode if carries else None,
                 audio=str(anim.ctx.audio[0]) if anim.ctx.audio and carries else None)
    job.remove()
    return facts


def settings_digest(conf: dict[str, Any]) -> str:
    """sha256 of a config dump (keys sorted), for a job's fingerprint."""
    return hashlib.sha256(json.dumps(conf, sort_keys=True, default=str).encode()).hexdigest()


def file_identity(path: Path) -> dict:
    """Path, size and modification time of an input: a changed file invalidates the job's frames."""
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def input_identities(cfg: Config) -> dict[str, Any]:
    """The identity (path, size, modification time) of every file besides the source that shapes
    the pixels: the audio whose envelopes schedules read, its beat and bar markers, the guide image, a weights file given by
    path, and the mask. A resumed job whose files were replaced is refused, not continued with
    frames of the old ones."""
    d = cfg.dream
    files = {"audio": cfg.audio.file, "audio_markers": cfg.audio_markers, "guide": d.guide, "mask": d.mask,
             "weights": d.weights if d.weights not in (None, "random") else None}
    if cfg.audio_bar_markers is not None:  # only when set: a job started before the key existed still resumes
        files["audio_bar_markers"] = cfg.audio_bar_markers
    return {k: file_identity(Path(v)) if v is not None else None for k, v in files.items()}


def check_mask(cfg: Config, size: tuple[int, int], fps: Fraction) -> None:
    """Open ``dream.mask`` once before any job exists: a missing or unreadable mask fails now,
    not after a job folder is made. ``size``: (h, w) of the render."""
    track = open_mask(cfg.dream.mask, size, fps, 0, cfg.dream.mask_invert, cfg.dream.mask_feather,
                      cfg.limits.max_pixels)
    if track is not None:
        with track:
            track.at(0)
