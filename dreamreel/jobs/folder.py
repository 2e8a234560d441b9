"""The job folder beside an animated output: PNG checkpoints, their checksums, and what made them.

``renders/city.mp4.work/`` holds ``job.json`` (the settings that shape the pixels),
``frames/000123.png`` (one lossless PNG per finished frame, named by source frame number) and
``checksums.txt`` (one "index sha256" line per frame, appended after the PNG is in place; a farm
task appends to its own ``checksums.sNNNNN.txt``), ``plan.json`` (the segments), ``locks/`` and
``segments/`` (per-segment locks, and the seconds and hosts each took), and
``owns.txt`` (the identity of each output file the job may replace: one that ``--force`` allowed
it to overwrite, and the one it wrote itself just before putting it in place), and
``.dreamreel-job``, written first into a folder this job made or found empty: what proves the
folder is ours. A folder without it is never used, changed or deleted, ``--force`` or not.
A render resumes from the first frame that is missing or fails its checksum.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import queue
import secrets
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from dreamreel.errors import MediaError, OutputExistsError
from dreamreel.jsonio import LOG_BYTES, dumps, load, parse, read_bounded
from dreamreel.media.atomic import atomic_write_bytes, held_flock, temp_prefix
from dreamreel.media.encode import FRAME_NAME
from dreamreel.media.images import encode_image, read_image
from dreamreel.modes.streams import Stream, tiles


def job_dir(output: Path) -> Path:
    """The job folder of ``output``: ``renders/city.mp4`` -> ``renders/city.mp4.work``."""
    output = Path(output)
    return output.parent / f"{output.name}.work"


# The file that marks a folder as a dreamreel job folder (see is_job_dir).
MARKER = ".dreamreel-job"
# What jobs before the marker wrote into their folders: such a folder, holding nothing else and a
# job.json of ours, is taken as ours (and gets the marker).
_LEGACY_NAMES = {"job.json", "frames", "plan.json", "locks", "segments", "owns.txt", "blend"}


def is_job_dir(root: Path) -> bool:
    """True when folder ``root`` provably belongs to dreamreel: it holds the marker, or it is
    exactly what an older dreamreel job left (our file names only, and a job.json with our
    fingerprint's ``settings`` digest). A user's folder that merely has the job folder's name
    (``take.mp4.work/`` holding notes) is not."""
    root = Path(root)
    if (root / MARKER).is_file():
        return True
    try:
        names = {p.name for p in root.iterdir()}
    except OSError:
        return False
    meta = load(root / "job.json")
    ours = all(n in _LEGACY_NAMES or n.startswith("checksums") or n.startswith(".") for n in names)
    return ours and isinstance(meta, dict) and isinstance(meta.get("settings"), str)


def not_ours(root: Path) -> OutputExistsError:
    """The one-line refusal for a folder at the job folder's place that dreamreel did not make."""
    return OutputExistsError(f"{root}: exists but is not a dreamreel job folder (no {MARKER} in it); "
                             "dreamreel will not use or delete it: move it away or choose another output")


def removing_dir(output: Path) -> Path:
    """Where a finished job folder is moved to be deleted: ``renders/.city.mp4.gone`` (short: an
    output name may take 241 of a name's 255 bytes)."""
    output = Path(output)
    return output.parent / f".{output.name}.gone"


def _identity(path: Path) -> str | None:
    """What tells one file from another at the same path: device and inode, plus size and
    modification time for a file (a folder of frames is the same folder while frames change)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):
        return f"dir {st.st_dev} {st.st_ino}"
    return f"file {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns}"


def clear_job(output: Path) -> None:
    """Remove the job folder beside ``output`` (``--force`` starting over), refusing a folder at its
    place that dreamreel did not make, as ``Job.open`` does."""
    root = job_dir(output)
    if not root.exists():
        return
    if not root.is_dir():
        raise OutputExistsError(f"{root}: is a file where the job folder goes; move it away")
    if any(root.iterdir()) and not is_job_dir(root):
        raise not_ours(root)
    Job(output, {}).remove()


def job_owns(output: Path) -> bool:
    """True when ``output`` is a file the unfinished job beside it may replace: so resuming
    never replaces a file that neither the job wrote nor ``--force`` handed to it."""
    ident = _identity(Path(output))
    try:
        owned = (job_dir(output) / "owns.txt").read_text().splitlines()
    except OSError:
        return False
    return ident is not None and ident in owned


def read_plan(root: Path) -> list[Stream]:
    """The segments stored in job folder ``root`` (``plan.json``), or [] when there is none."""
    if not is_job_dir(root):
        return []
    try:
        streams = [Stream(**d) for d in load(Path(root) / "plan.json")["segments"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
    # Every field as we wrote it (a "12" or a 3.5 would fail later, after dreaming).
    ok = all(type(getattr(st, f.name)) is (bool if f.name == "fresh" else int)
             for st in streams for f in dataclasses.fields(Stream))
    return streams if ok else []


# Records of finished frames (checksums, facts) reach the disk at most this long after they are
# written: three fsyncs a frame capped a 1080p render near 4 frames a second on a GPU machine, and
# a power cut now costs at most this span of frames, dreamed again on resume.
SYNC_SECONDS = 0.5

class Job:
    """A job folder: where frames are checkpointed and how far a previous run got."""

    def __init__(self, output: Path, fingerprint: dict[str, Any], writer: str = "") -> None:
        """``writer`` names this process's checksum file (``checksums.<writer>.txt``): farm
        tasks each append to their own, so no two processes append to one file (which shared
        filesystems such as NFS do not make atomic). Every run reads them all."""
        self.output = Path(output)
        self.root = job_dir(output)
        self.frames = self.root / "frames"
        self.fingerprint = fingerprint
        self._sums = self.root / (f"checksums.{writer}.txt" if writer else "checksums.txt")
        self._facts = self.root / (f"facts.{writer}.jsonl" if writer else "facts.jsonl")
        self._sync_lock = threading.Lock()
        self._synced: dict[Path, float] = {}  # when each record file was last flushed to the disk
        self._unsynced: set[Path] = set()

    def open(self, force: bool) -> None:
        """Create the folder, or reuse it when it was made by the same settings.

        A folder made with other settings is refused (its frames would not match), unless
        ``force``, which starts over and hands the existing output to the job to replace.
        """
        meta = self.root / "job.json"
        if self.root.exists() and not self.root.is_dir():
            raise OutputExistsError(f"{self.root}: is a file where the job folder goes; move it away")
        if self.root.is_dir() and any(self.root.iterdir()) and not is_job_dir(self.root):
            raise not_ours(self.root)
        if force and self.root.exists():
            shutil.rmtree(self.root)
        if meta.exists():
            old = load(meta)
            if old != self.fingerprint:
                raise OutputExistsError(
                    f"{self.root}: holds frames rendered with other settings; pass --force to start over"
                )
        elif self.root.is_dir() and self.checksums():
            # Frames whose settings nobody can tell: never taken for this render's.
            raise OutputExistsError(f"{self.root}: holds frames but no job.json saying what made them; "
                                    "pass --force to start over")
        try:
            if not (self.root / MARKER).is_file():
                self._make_root()
            self.frames.mkdir(exist_ok=True)
        except OSError as exc:
            raise MediaError(f"{self.root}: cannot create the job folder: {exc.strerror}") from None
        if not meta.exists():
            atomic_write_bytes(meta, (dumps(self.fingerprint, indent=2, sort_keys=True) + "\n").encode())
        if force:
            self.claim(self.output)

    def _make_root(self) -> None:
        """Create the job folder with its marker already in it: a folder prepared beside it and
        renamed into place. Farm tasks started together each try; one rename wins and the others
        find a marked folder. Made in place, a task saw the folder before its marker was written
        and refused it as not dreamreel's. An older job's folder (found ours by ``is_job_dir``)
        is marked where it is."""
        parent = self.root.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f"{temp_prefix(self.root.name)}{secrets.token_hex(4)}.part{self.root.suffix}"
        tmp.mkdir()
        try:
            self._mark(tmp)
            try:
                os.rename(tmp, self.root)  # onto nothing or an empty folder: both are taken
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not (self.root / MARKER).is_file():
            self._mark(self.root)

    def _mark(self, folder: Path) -> None:
        atomic_write_bytes(folder / MARKER, f"dreamreel job folder of {self.output.name}\n".encode())

    def claim(self, path: Path) -> None:
        """Record that the output at ``path`` (or the temp file about to become it) is this job's
        to replace; durable before the caller goes on."""
        ident = _identity(Path(path))
        if ident is None:
            return
        self._append(self.root / "owns.txt", f"{ident}\n".encode(), "record the output")

    def frames_done(self) -> int:
        """How many frames are checkpointed (finished lines in checksums.txt)."""
        return len(self.checksums())

    def _append(self, path: Path, line: bytes, what: str) -> None:
        """Append ``line`` (one O_APPEND write: whole even with several writer threads); flushed to
        the disk at most every SYNC_SECONDS (and by ``sync``), so a power cut costs at most the
        frames of that span, which the next run dreams again."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                now = time.monotonic()
                with self._sync_lock:
                    due = now - self._synced.get(path, 0.0) >= SYNC_SECONDS
                    if due:
                        self._synced[path] = now
                if due:
                    os.fsync(fd)
                else:
                    self._unsynced.add(path)
            finally:
                os.close(fd)
        except OSError as exc:
            raise MediaError(f"{path}: cannot {what}: {exc.strerror}") from None

    def sync(self) -> None:
        """Flush every record appended since the last flush to the disk (end of a run)."""
        with self._sync_lock:
            pending, self._unsynced = self._unsynced, set()
        for path in pending:
            try:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                pass

    def frame_path(self, index: int | str) -> Path:
        """Path of a checkpoint: a frame number (``000123.png``) or a checkpoint name."""
        return self.frames / (FRAME_NAME.format(index) if isinstance(index, int) else index)

    def checksums(self) -> dict[str, str]:
        """checkpoint name -> sha256 of every frame recorded as finished (a torn last line is ignored)."""
        out: dict[str, str] = {}
        for line in self._sum_lines():
            parts = line.split()
            if len(parts) >= 2 and len(parts[1]) == 64:
                name = FRAME_NAME.format(int(parts[0])) if parts[0].isascii() and parts[0].isdigit() else parts[0]
                out[name] = parts[1]
        return out

    def resume_point(self, start: int, count: int) -> int:
        """The first frame in ``start .. start+count-1`` that is missing or corrupt (or start+count)."""
        return start + self.first_missing([FRAME_NAME.format(i) for i in range(start, start + count)])

    def first_missing(self, names: list[str]) -> int:
        """Position in ``names`` of the first checkpoint missing or failing its checksum (or len)."""
        sums = self.checksums()
        for k, name in enumerate(names):
            want = sums.get(name)
            path = self.frames / name
            if want is None or not path.is_file():
                return k
            if hashlib.sha256(path.read_bytes()).hexdigest() != want:
                return k
        return len(names)

    def state(self, index: int | str) -> str | None:
        """What was recorded with a finished frame beside its checksum (the chain's state a resumed
        run needs to continue exactly), or None."""
        name = self.frame_path(index).name
        found = None
        for line in self._sum_lines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == name:
                found = parts[2]
        return found

    def _sum_lines(self) -> list[str]:
        lines: list[str] = []
        for path in sorted(self.root.glob("checksums*.txt")):
            try:
                lines += path.read_text().splitlines()
            except OSError:
                continue
        return lines

    def plan(self, make: Callable[[], list[Stream]], start: int, count: int) -> list[Stream]:
        """The job's segments for frames ``start .. start+count-1``: read from ``plan.json`` when
        a run (or a farm task) already made them, else ``make()`` and written there, so every
        task of a job works to one plan and the scene-cut pass runs once. A stored plan that is
        damaged or does not cover the range (see ``tiles``) is made again: the settings that made
        it are the job's, so the new one is what it should have been."""
        path = self.root / "plan.json"
        stored = read_plan(self.root)
        if stored and tiles(stored, start, count):
            return stored
        segments = make()
        doc = {"segments": [dataclasses.asdict(s) for s in segments]}
        atomic_write_bytes(path, (dumps(doc, indent=1) + "\n").encode())
        return segments

    @contextmanager
    def segment_lock(self, index: int) -> Iterator[bool]:
        """Hold segment ``index``'s lock while dreaming it: yields True, or False at once when
        another process holds it (its host and pid are in the lock file). The kernel drops the
        lock when the process dies."""
        path = self.root / "locks" / f"segment-{index:05d}.lock"
        with held_flock(path, f"{socket.gethostname()} {os.getpid()}\n",
                        f"{path.parent}: cannot create the segment locks") as mine:
            yield mine

    def holder(self, index: int) -> str:
        """Who holds segment ``index``'s lock, as "host pid" (best effort)."""
        try:
            return (self.root / "locks" / f"segment-{index:05d}.lock").read_text().strip() or "another process"
        except OSError:
            return "another process"

    def add_segment_time(self, index: int, seconds: float, frames: int, host: str | None = None) -> None:
        """Add a run's work on segment ``index`` to ``segments/NNNNN.json`` (seconds, frames
        dreamed, and the hosts that dreamed it), for the manifest."""
        path = self.root / "segments" / f"{index:05d}.json"
        info = self.segment_info(index)
        host = host or socket.gethostname()
        info = {"seconds": round(info.get("seconds", 0.0) + seconds, 3),
                "frames_dreamed": info.get("frames_dreamed", 0) + frames,
                "hosts": sorted(set(info.get("hosts", [])) | {host})}
        path.parent.mkdir(exist_ok=True)
        atomic_write_bytes(path, (dumps(info) + "\n").encode())

    def segment_info(self, index: int) -> dict[str, Any]:
        """What ``add_segment_time`` recorded for segment ``index``; {} when there is none or the
        record is not what it writes (it only feeds the manifest: never worth a failed render)."""
        info = load(self.root / "segments" / f"{index:05d}.json")
        ok = (isinstance(info, dict) and isinstance(info.get("seconds"), (int, float))
              and type(info.get("frames_dreamed")) is int and isinstance(info.get("hosts"), list)
              and all(isinstance(h, str) for h in info["hosts"]))
        return info if ok else {}

    def choices(self) -> dict[str, Any] | None:
        """The precision and layout this job's first run chose (choices.json), when valid: a
        resumed job keeps them whatever the cache of measured choices says since."""
        got = load(self.root / "choices.json")
        ok = (isinstance(got, dict) and got.get("precision") in ("fp32", "bf16", "fp16")
              and isinstance(got.get("channels_last"), bool))
        return got if ok else None

    def pin_choices(self, choices: dict[str, Any]) -> None:
        """Record the run's precision and layout for the runs that resume this job."""
        atomic_write_bytes(self.root / "choices.json", (dumps(choices) + "\n").encode())

    def add_facts(self, index: int | str, facts: dict[str, Any]) -> None:
        """Append frame ``index``'s measured facts (strength, flicker, ...) to facts.jsonl, for
        the render's report. A torn last line is ignored when read."""
        line = dumps({"name": self.frame_path(index).name, **facts}, separators=(",", ":")) + "\n"
        self._append(self._facts, line.encode(), f"record the facts of frame {index}")

    def frame_facts(self) -> dict[str, dict[str, Any]]:
        """checkpoint name -> the facts last recorded for it, by any writer; lines that are not
        what add_facts writes are skipped (they only feed the report)."""
        out: dict[str, dict[str, Any]] = {}
        for path in sorted(self.root.glob("facts*.jsonl")):
            data = read_bounded(path, LOG_BYTES)
            for line in (data or b"").splitlines():
                try:
                    rec = parse(line)
                except (ValueError, UnicodeDecodeError):
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("name"), str):
                    out[rec.pop("name")] = rec
        return out

    def record(self, index: int | str, png: bytes, state: str = "") -> None:
        """Checkpoint one finished frame: the PNG atomically, then its checksum line (with
        ``state``, one word, when given), durably."""
        path = self.frame_path(index)
        if not (self.root / MARKER).is_file():
            # Another run started over (--force) or finished while this one was paused: writing
            # on would make a job folder without job.json that the next run would trust.
            raise MediaError(f"{self.root}: the job folder was removed while this render ran (another run "
                             "started over or finished); stopping without writing into it")
        # No fsync of the PNG itself: its checksum line is the record, and a checkpoint whose bytes
        # do not match it (lost to a power cut before the page cache reached the disk) is
        # dreamed again on resume. A kill -9 loses nothing: the page cache outlives the process.
        atomic_write_bytes(path, png, durable=False)
        line = f"{path.name} {hashlib.sha256(png).hexdigest()}{' ' + state if state else ''}\n".encode()
        self._append(self._sums, line, f"record frame {index}")

    def remove(self) -> None:
        """Delete the job folder at once as far as a later run can tell: it is renamed aside
        first (atomic), so a kill during the deletion never leaves a job folder without the
        ``owns.txt`` that lets the next run finish over the output it placed."""
        trash = removing_dir(self.output)
        shutil.rmtree(trash, ignore_errors=True)  # left by a run killed while deleting
        try:
            os.replace(self.root, trash)
        except FileNotFoundError:
            return
        except OSError:
            trash = self.root  # cannot rename here: delete in place, as before
        shutil.rmtree(trash, ignore_errors=True)


class FrameWriter:
    """Checkpoints frames on ``workers`` background threads so PNG encoding (and the report's
    figures) overlap the next dream; PNG encoding and the figures release the GIL, so on a GPU
    machine with cores to spare several frames are encoded at once.

    ``put`` blocks when ``depth`` frames a worker are waiting; an error on a thread is raised by
    the next ``put`` or by ``close``.
    """

    def __init__(self, job: Job, depth: int = 4, workers: int = 1) -> None:
        self.job = job
        self._q: queue.Queue = queue.Queue(maxsize=depth * workers)
        self._error: BaseException | None = None
        self._threads = [threading.Thread(target=self._run, name=f"frame-writer-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            if self._error is not None:
                continue
            index, rgb, state, facts = item
            try:
                self.job.record(index, encode_image(rgb, ".png", checkpoint=True), state)
                if facts is not None:
                    # Measured here, beside the PNG encoding, so the dream loop does not wait for it.
                    self.job.add_facts(index, facts.measure(rgb))
            except BaseException as exc:  # handed to the main thread
                self._error = exc

    def put(self, index: int | str, rgb: np.ndarray, state: str = "", facts: Any = None) -> None:
        """Queue frame ``index``; ``facts`` (a report.FrameFacts, or None) is measured on the thread."""
        if self._error is not None:
            raise self._error
        self._q.put((index, rgb, state, facts))

    def close(self) -> None:
        """Wait for every queued frame to be on disk; re-raise a writer error."""
        for _ in self._threads:
            self._q.put(None)
        for t in self._threads:
            t.join()
        self.job.sync()
        if self._error is not None:
            raise self._error


class FrameStore(Protocol):
    """Where a dream loop gets the frame a resumed chain continues from and puts finished frames."""

    def context(self, name: str) -> tuple[np.ndarray, str | None]:
        """The finished frame ``name`` (RGB uint8 [H,W,3]) and the state recorded with it."""

    def put(self, name: str, rgb: np.ndarray, state: str, facts: Any = None) -> None:
        """Hand over finished frame ``name``, with what its report line is measured from."""

    def segment_done(self, index: int, seconds: float, frames: int) -> None:
        """Segment ``index`` ended in this run after ``seconds``, having dreamed ``frames``."""

    def close(self) -> None:
        """Everything put is stored (or raise what went wrong)."""


class JobStore:
    """The job folder as a FrameStore: checkpoints written by a FrameWriter thread."""

    def __init__(self, job: Job, writers: int = 1) -> None:
        self.job = job
        self.writer = FrameWriter(job, workers=writers)

    def context(self, name: str) -> tuple[np.ndarray, str | None]:
        return read_image(self.job.frame_path(name)), self.job.state(name)

    def put(self, name: str, rgb: np.ndarray, state: str, facts: Any = None) -> None:
        self.writer.put(name, rgb, state, facts)

    def segment_done(self, index: int, seconds: float, frames: int) -> None:
        self.job.add_segment_time(index, seconds, frames)

    def close(self) -> None:
        self.writer.close()
