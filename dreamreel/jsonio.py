"""JSON in and out of the files dreamreel keeps: written strict (no NaN or Infinity, which other
tools' parsers refuse), read bounded (a regular file only, never a FIFO that blocks or a device
that never ends, and never more than a cap), and any failure to read is "no such record", never
a crash: every reader validates what it gets by type and range itself."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from dreamreel.media.atomic import open_regular

# Job-folder records and caches are kilobytes; a facts log of a two-hour render is about 40 MB.
STATE_BYTES = 16 << 20
LOG_BYTES = 256 << 20


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-Infinity) replaced by None, recursively through
    dicts, lists and tuples: what strict JSON can hold."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """Strict JSON text of ``obj`` (non-finite numbers become null); keywords as json.dumps."""
    return json.dumps(strict(obj), allow_nan=False, **kw)


def read_bounded(path: Path, limit: int = STATE_BYTES) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of at most ``limit`` bytes; else None."""
    fd, _ = open_regular(Path(path))
    if fd is None:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                return None
            # As large as the file says, plus one byte to see it grew: read(limit) would allocate
            # the whole cap up front (256 MB for a log of a few lines).
            data = fh.read(size + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(text: bytes | str) -> Any:
    """Strict JSON: NaN and Infinity refused. ValueError for anything that is not JSON, nested
    too deep included (Python's parser gives RecursionError there)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deep") from None


def load(path: Path, limit: int = STATE_BYTES) -> Any | None:
    """The strict JSON in ``path``, or None when it cannot be read as such (missing, not a regular
    file, larger than ``limit``, not UTF-8, not strict JSON, nested too deep)."""
    data = read_bounded(path, limit)
    if data is None:
        return None
    try:
        return parse(data)
    except (ValueError, UnicodeDecodeError):
        return None
