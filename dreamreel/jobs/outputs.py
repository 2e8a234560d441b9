"""Guarding and describing outputs: no silent overwrite, one writer at a time, a manifest beside."""
from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from dreamreel.errors import MediaError, OutputExistsError
from dreamreel.jsonio import dumps
from dreamreel.media.atomic import atomic_write_bytes, held_flock, is_temp_name, is_temp_of
from dreamreel.media.encode import foreign_files
from dreamreel.jobs.folder import job_dir, removing_dir
from dreamreel.runtime import cpu_facts_dict


def sidecar(output: Path, suffix: str) -> Path:
    """A file beside ``output`` named after it: ``renders/x.mp4`` + ``.timeline.json`` ->
    ``renders/x.mp4.timeline.json`` (manifest, report, timeline, preview)."""
    output = Path(output)
    return output.parent / f"{output.name}{suffix}"


def manifest_path(output: Path) -> Path:
    """The manifest that describes ``output``: ``renders/x.mp4`` -> ``renders/x.mp4.manifest.json``."""
    return sidecar(output, ".manifest.json")


def check_output(output: Path, force: bool, folder: bool = False, owned: bool = False) -> None:
    """Refuse an output that would replace what it must not; check its folder is writable.

    An existing output needs ``force``, unless ``owned`` (the unfinished job beside it wrote
    it, or was handed it by ``--force``). ``folder``: the output is a folder of frames, which
    may exist only empty or holding frames dreamreel wrote; a file output may not be a folder.
    """
    output = Path(output)
    if output.is_dir() and not folder:
        raise OutputExistsError(f"{output}: is a folder; this render writes a file there, so choose another name")
    if output.exists() and folder:
        if not output.is_dir():
            raise OutputExistsError(f"{output}: is a file; a frames output is a folder, so choose another name")
        foreign = foreign_files(output)
        if foreign:
            raise OutputExistsError(
                f"{output}: folder holds files dreamreel did not write ({foreign[0]}"
                f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}); "
                "a frames output needs a new or empty folder, even with --force")
    exists = output.exists() and not (folder and not os.listdir(output))
    if exists and not force and not owned:
        raise OutputExistsError(f"{output}: output exists; pass --force to overwrite it")
    parent = output.parent if str(output.parent) else Path(".")
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise MediaError(f"{parent}: output folder is not writable")


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``output`` for the whole render; a second render fails at once."""
    output = Path(output)
    lock = output.parent / f".{output.name}.lock"
    with held_flock(lock, str(os.getpid()), f"{lock.parent}: output folder is not writable") as mine:
        if not mine:
            raise OutputExistsError(f"{output}: another render is writing this output right now")
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("dreamreel", "torch", "torchvision", "opencv-python-headless", "imageio-ffmpeg", "numpy", "pydantic"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def write_manifest(output: Path, config: dict[str, Any], extra: dict[str, Any]) -> Path:
    """Write the manifest beside ``output``: resolved config, versions, machine, plus ``extra``."""
    doc = {
        "output": str(output),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config,
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
                    "cpu": cpu_facts_dict()},
        **extra,
    }
    path = manifest_path(output)
    atomic_write_bytes(path, (dumps(doc, indent=2, default=str) + "\n").encode())
    return path


def remove_stale_temps(output: Path) -> int:
    """Delete temporary files a killed render left beside ``output`` and in its job folder
    (``.NAME.<hex>.part.ext`` of the output and its manifest, the encoder's ``.NAME.seq`` links,
    a frames folder's ``.NAME.part``, a job folder half made or a finished one half deleted,
    ``.NAME.gone``); call only under the lock. Names are compared literally, never as patterns,
    so another output's files are never touched. Returns how many went."""
    output = Path(output)
    parent = output.parent if str(output.parent) else Path(".")
    owners = [output.name, manifest_path(output).name, job_dir(output).name]  # the last: a job folder being made
    stale = [parent / f".{output.name}.seq", parent / f".{output.name}.part", removing_dir(output)]
    if parent.is_dir():
        stale += [parent / n for n in os.listdir(parent) if any(is_temp_of(n, o) for o in owners)]
    job = parent / f"{output.name}.work"
    for folder in (job, job / "frames"):
        if folder.is_dir():  # inside our own job folder every temp file is ours
            stale += [folder / n for n in os.listdir(folder) if is_temp_name(n)]
    removed = 0
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        elif path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed

