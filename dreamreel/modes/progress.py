"""Progress: a tqdm bar on a terminal; in logs (farm jobs, pipes, CI) one line every few seconds."""
from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from tqdm import tqdm

# Seconds between progress lines when stderr is not a terminal; 0 turns them off.
EVERY_ENV, EVERY_DEFAULT = "DREAMREEL_PROGRESS_EVERY", 10.0


class LogProgress:
    """Counts units like a tqdm bar and prints ``dreamreel: dreaming 40/100 frames (40 %), 1.52
    frames/s, ETA 39 s`` at most every ``every`` seconds.

    The rate is measured, never guessed: it counts this run's units only (a resumed job's ETA is
    not flattered by frames it found done), and only from the moment timing starts, after
    ``settle`` units or at ``start_timing()``: the first units carry the start-up (loading, the
    precision trial, new kernels) and a video's first frames are fresh dreams, several times a
    carried frame's cost, so an ETA from them said 47 minutes for a 7-minute render. Until then
    the line says ``ETA measuring``."""

    def __init__(self, total: int, unit: str, desc: str, initial: int = 0, every: float = EVERY_DEFAULT,
                 stream: TextIO | None = None, clock=time.monotonic, settle: int | None = 1) -> None:
        self.total, self.unit, self.desc, self.n = total, unit, desc, initial
        self.every, self.stream, self.clock = every, stream, clock
        self._start = self._last = clock()
        self._initial = initial
        self._settle = None if settle is None else initial + settle
        self._timing = False

    def start_timing(self) -> None:
        """Measure the rate from here on (idempotent)."""
        if not self._timing:
            self._timing, self._start, self._initial = True, self.clock(), self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._settle is not None and self.n >= self._settle:
            self.start_timing()
        now = self.clock()
        if self.every > 0 and now - self._last >= self.every:
            self._last = now
            print(self.line(now), file=self.stream or sys.stderr, flush=True)

    def line(self, now: float) -> str:
        """The progress line at time ``now`` (the clock's seconds)."""
        pct = 100 * self.n / self.total if self.total else 100.0
        done = self.n - self._initial
        head = f"dreamreel: {self.desc} {self.n}/{self.total} {self.unit}s ({pct:.0f} %)"
        if not self._timing or done <= 0:
            return f"{head}, ETA measuring"
        rate = done / max(now - self._start, 1e-9)
        eta = (self.total - self.n) / rate
        return f"{head}, {rate:.2f} {self.unit}s/s, ETA {_duration(eta)}"

    def close(self) -> None:
        pass

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s} s")


class TermProgress(tqdm):
    """A tqdm bar whose rate and ETA start, as LogProgress's do, once timing starts; until then
    it shows ``ETA measuring``."""

    WAITING = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, ETA measuring]"

    def __init__(self, *args, settle: int | None = 1, **kwargs) -> None:
        super().__init__(*args, bar_format=self.WAITING, smoothing=0, **kwargs)
        self._settle = None if settle is None else self.n + settle
        self._timing = False

    def start_timing(self) -> None:
        if not self._timing:
            # tqdm's rate with smoothing 0 is (n - initial) / (now - start_t): restart both.
            self._timing, self.start_t, self.initial, self.bar_format = True, self._time(), self.n, None

    def update(self, n: float | None = 1) -> bool | None:
        if self._settle is not None and self.n + (n or 0) >= self._settle:
            self.start_timing()
        return super().update(n)


def bar(total: int, unit: str, desc: str, initial: int = 0, settle: int | None = 1) -> TermProgress | LogProgress:
    """A tqdm bar over ``total`` units starting at ``initial`` on a terminal; otherwise a
    ``LogProgress`` printing every ``DREAMREEL_PROGRESS_EVERY`` seconds (default 10, 0 = never).
    Either times its rate from the ``settle``-th unit on (None: from ``start_timing()``)."""
    if sys.stderr.isatty():
        return TermProgress(total=total, initial=initial, unit=unit, desc=desc, dynamic_ncols=True, leave=False,
                            settle=settle)
    try:
        every = float(os.environ.get(EVERY_ENV, EVERY_DEFAULT))
    except ValueError:
        every = EVERY_DEFAULT
    return LogProgress(total, unit, desc, initial, every=every, settle=settle)
