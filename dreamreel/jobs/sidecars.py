"""Files written beside an output that a person may open, edit or keep (the timeline's pages and
label tracks): one rule for all of them. A file there is replaced only when it is provably ours,
unchanged since we wrote it (its SHA-256 is in the ledger we wrote with it), or with ``--force``;
a file the config reads (a marker file) is never written, even with ``--force``."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from dreamreel.errors import OutputExistsError
from dreamreel.jsonio import dumps, load
from dreamreel.media.atomic import atomic_write_bytes, open_regular

# A timeline of ten hours at 30 fps is about 90 MB of JSON; its ledger is read from it.
MAX_LEDGER_BYTES = 256 << 20


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_ledger(path: Path, fmt: str) -> dict[str, str] | None:
    """``{file name: sha256}`` of the files the JSON at ``path`` (of format ``fmt``) says it wrote,
    or None when there is no such file of ours. Read bounded, only from a regular file, and
    validated: anything else (a FIFO, a huge or nested file, bad JSON, another format) is not ours."""
    data = load(path, MAX_LEDGER_BYTES)
    if not isinstance(data, dict) or data.get("format") != fmt:
        return None
    written = data.get("written", {})
    if not isinstance(written, dict):
        return {}
    return {k: v for k, v in written.items() if isinstance(k, str) and isinstance(v, str)}


def pending_path(ledger_json: Path) -> Path:
    """Where ``write_ledgered`` notes the digests of files it is about to write, until the ledger
    itself says so: ``.NAME.pending`` beside the ledger ``NAME``."""
    return ledger_json.with_name(f".{ledger_json.name}.pending")


def file_digest(path: Path) -> str | None:
    fd, _ = open_regular(path)
    if fd is None:
        return None
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def check_sidecars(ledger_json: Path, fmt: str, others: list[Path], force: bool,
                   inputs: tuple[Path | None, ...] = ()) -> list[Path]:
    """Which of ``others`` may be written beside the ledger ``ledger_json`` (a JSON of format
    ``fmt`` that lists what it wrote), checked before anything is: a folder in the way, or a file
    that is not provably ours, is an OutputExistsError naming it unless ``force``. The ledger
    itself is ours when it reads as one. Files that are ``inputs`` of the config are left out of
    the returned list, never written."""
    ledger = read_ledger(ledger_json, fmt)
    # A write stopped part way (killed between a page and the ledger) left files whose digests the
    # pending note has and the ledger not yet: ours too, so the same command finishes the job.
    pending = read_ledger(pending_path(ledger_json), fmt) or {}
    _check(ledger_json, ledger is not None, force)
    writable = []
    for path in others:
        if any(same_file(path, i) for i in inputs if i is not None and Path(i).exists()):
            continue
        known = {d for d in ((ledger or {}).get(path.name), pending.get(path.name)) if d is not None}
        _check(path, path.exists() and bool(known) and file_digest(path) in known, force)
        writable.append(path)
    return writable


def _check(path: Path, ours: bool, force: bool) -> None:
    if path.is_dir():
        raise OutputExistsError(f"{path}: is a folder; dreamreel writes a file there, so move it or "
                                "choose another output name")
    if path.exists() and not force and not ours:
        raise OutputExistsError(f"{path}: exists and is not as dreamreel wrote it (edited since, or "
                                "made by someone else); pass --force to replace it, or move it")


def write_ledgered(ledger_json: Path, data: dict[str, Any], files: dict[Path, bytes]) -> list[Path]:
    """Write ``files`` and then the JSON ``data`` at ``ledger_json`` with their SHA-256 under
    ``written``, each atomically; returns the paths, the ledger first. The digests to come are
    noted first (``pending_path``), so a run stopped anywhere between leaves only files the next
    run can tell are ours; the note goes once the ledger holds them."""
    data["written"] = {p.name: digest(b) for p, b in files.items()}
    pending = pending_path(ledger_json)
    atomic_write_bytes(pending, dumps({"format": data.get("format"), "written": data["written"]}).encode())
    for path, blob in files.items():
        atomic_write_bytes(path, blob)
    atomic_write_bytes(ledger_json, dumps(data, separators=(",", ":")).encode())
    pending.unlink(missing_ok=True)
    return [ledger_json, *files]
