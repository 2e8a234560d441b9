"""Guarding and describing outputs: no silent overwrite, one writer at a time, a manifest beside."""
from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from pipeline.errors import MediaError, OutputExistsError
from pipeline.media.atomic import atomic_write_bytes


def manifest_path(output: Path) -> Path:
    """The manifest that describes ``output``: ``renders/x.mp4`` -> ``renders/x.mp4.manifest.json``."""
    output = Path(output)
    return output.parent / f"{output.name}.manifest.json"


def check_output(output: Path, force: bool) -> None:
    """Refuse to overwrite an existing output without ``force``; check its folder is writable."""
    output = Path(output)
    if output.exists() and not force:
        raise OutputExistsError(f"{output}: output exists; pass --force to overwrite it")
    parent = output.parent if str(output.parent) else Path(".")
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise MediaError(f"{parent}: output folder is not writable")


@contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``output`` for the whole render; a second render fails at once.

    flock is released by the kernel when the process dies, so a killed render leaves no stale lock.
    """
    output = Path(output)
    lock = output.parent / f".{output.name}.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MediaError(f"{lock.parent}: output folder is not writable: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputExistsError(f"{output}: another render is writing this output right now") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


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
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
        **extra,
    }
    path = manifest_path(output)
    atomic_write_bytes(path, (json.dumps(doc, indent=2, default=str) + "\n").encode())
    return path


def remove_stale_temps(output: Path) -> int:
    """Delete temporary files a killed render left beside ``output`` and in its job folder
    (``.NAME.xxxx.part.ext``, the encoder's ``.NAME.seq`` links); call only under the lock.
    Returns how many were removed."""
    output = Path(output)
    parent = output.parent if str(output.parent) else Path(".")
    stale = list(parent.glob(f".{output.name}.*.part*")) + [parent / f".{output.name}.seq",
                                                            parent / f".{output.name}.part"]
    frames = parent / f"{output.name}.work" / "frames"
    if frames.is_dir():
        stale += list(frames.glob(".*.part*"))
    removed = 0
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        elif path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
