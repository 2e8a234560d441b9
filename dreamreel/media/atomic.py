"""Atomic file writes: a reader sees the old file or the whole new one, never half of one."""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from dreamreel.errors import MediaError

# A temp name is ".NAME.<8 hex>.part<suffix>"; NAME is cut (and told apart by a hash) when the
# whole would pass the 255 bytes a file name may have.
_TEMP_NAME_ROOM = 200


def temp_prefix(name: str) -> str:
    """The fixed start of every temporary file of the file called ``name``."""
    if len(name.encode()) <= _TEMP_NAME_ROOM:
        return f".{name}."
    cut = name.encode()[:_TEMP_NAME_ROOM - 20].decode("utf-8", "ignore")
    return f".{cut}~{hashlib.sha256(name.encode()).hexdigest()[:12]}."


_TEMP = re.compile(r"\..+\.[0-9a-f]{8}\.part(\.[^.]+)?")


def is_temp_name(candidate: str) -> bool:
    """True when ``candidate`` has the form of any atomic write's temp file (``.X.<hex>.part.ext``);
    for folders whose every file is ours, such as a job folder."""
    return _TEMP.fullmatch(candidate) is not None


def is_temp_of(candidate: str, name: str) -> bool:
    """True when the file name ``candidate`` is a temporary file of the file called ``name``:
    compared literally, so ``out/city`` never claims ``.city.v2.mp4.<hex>.part.mp4``."""
    prefix, suffix = temp_prefix(name), f".part{Path(name).suffix}"
    if not (candidate.startswith(prefix) and candidate.endswith(suffix)):
        return False
    middle = candidate[len(prefix): len(candidate) - len(suffix)]
    return re.fullmatch(r"[0-9a-f]{8}", middle) is not None


@contextmanager
def atomic_path(path: Path, before_replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any error the temporary file is removed and ``path`` is untouched. The temp name keeps
    the suffix, so tools that pick a format by extension (ffmpeg) still work.
    ``before_replace(tmp)`` runs just before the rename (a job records the file it is about to own).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    umask = os.umask(0)
    os.umask(umask)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp_path = parent / f"{temp_prefix(path.name)}{secrets.token_hex(4)}.part{path.suffix}"
            try:
                fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~umask)
                break
            except FileExistsError:
                continue
        os.close(fd)
    except OSError as exc:
        raise MediaError(f"{parent}: cannot write here: {exc.strerror}") from None
    try:
        yield tmp_path
        if before_replace is not None:
            before_replace(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def open_regular(path: Path) -> tuple[int | None, str | None]:
    """Open ``path`` for reading if it is a regular file: (fd, None), or (None, problem) with
    problem "missing", "folder", "special" (a FIFO or device) or an OS error text.

    A FIFO would block the reader forever and a device never ends, so only files are read. The
    open is non-blocking, so a path swapped for a FIFO after the stat cannot make it wait."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return None, "folder"
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, "special"
    return fd, None


def require_readable(path: Path, kind: str) -> Path:
    """``path`` as a Path once it is known to be a readable file; MediaError naming why not.

    kind names what was expected ("an image", "a video") for the folder case.
    """
    path = Path(path)
    fd, problem = open_regular(path)
    if fd is not None:
        os.close(fd)
        return path
    raise MediaError({"missing": f"{path}: input file not found", "folder": f"{path}: is a folder, not {kind}",
                      "special": f"{path}: is not a regular file (a pipe or device?), not {kind}"}
                     .get(problem, f"{path}: cannot read: {problem}"))


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (whole or not at all, as any process sees it), and
    with ``durable`` also past a power cut (fsync before the rename). Without it the caller has
    its own proof of the bytes (a job's checksum lines)."""
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
        except OSError as exc:
            raise MediaError(f"{path}: cannot write: {exc.strerror or exc}") from None


@contextmanager
def held_flock(path: Path, owner: str, unwritable: str) -> Iterator[bool]:
    """Try an exclusive flock on ``path`` (created with its folder): yields True holding it, with
    ``owner`` written inside for whoever is refused, or False at once when another process holds
    it. The kernel drops the lock when the process dies, so a killed holder leaves none behind.
    MediaError "``unwritable``: <reason>" when the file cannot be created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MediaError(f"{unwritable}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, owner.encode())
        yield True
    finally:
        os.close(fd)
