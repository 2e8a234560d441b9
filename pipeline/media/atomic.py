"""Atomic file writes: a reader sees the old file or the whole new one, never half of one."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import MediaError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any error the temporary file is removed and ``path`` is untouched. The temp name keeps
    the suffix, so tools that pick a format by extension (ffmpeg) still work.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=parent)
        os.close(fd)
        # mkstemp creates 0600; a rendered file should get the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except OSError as exc:
        raise MediaError(f"{parent}: cannot write here: {exc.strerror}") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def require_readable(path: Path, kind: str) -> Path:
    """``path`` as a Path once it is known to be a readable file; MediaError naming why not.

    kind names what was expected ("an image", "a video") for the folder case.
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: input file not found")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not {kind}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise MediaError(f"{path}: cannot read: {exc.strerror}") from None
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (fsync before rename)."""
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise MediaError(f"{path}: cannot write: {exc.strerror or exc}") from None
