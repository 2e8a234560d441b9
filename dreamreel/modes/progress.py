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
    frames/s, ETA 39 s`` at most every ``every`` seconds. The rate counts only this run's units,
    so a resumed job's ETA is not flattered by frames it found done."""

    def __init__(self, total: int, unit: str, desc: str, initial: int = 0, every: float = EVERY_DEFAULT,
                 stream: TextIO | None = None, clock=time.monotonic) -> None:
        self.total, self.unit, self.desc, self.n = total, unit, desc, initial
        self.every, self.stream, self.clock = every, stream, clock
        self._start = self._last = clock()
        self._initial = initial

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if self.every > 0 and now - self._last >= self.every:
            self._last = now
            print(self.line(now), file=self.stream or sys.stderr, flush=True)

    def line(self, now: float) -> str:
        """The progress line at time ``now`` (the clock's seconds)."""
        done = self.n - self._initial
        rate = done / max(now - self._start, 1e-9)
        pct = 100 * self.n / self.total if self.total else 100.0
        eta = (self.total - self.n) / rate if rate > 0 else float("inf")
        return (f"dreamreel: {self.desc} {self.n}/{self.total} {self.unit}s ({pct:.0f} %), "
                f"{rate:.2f} {self.unit}s/s, ETA {_duration(eta)}")

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


def bar(total: int, unit: str, desc: str, initial: int = 0) -> tqdm | LogProgress:
    """A tqdm bar over ``total`` units starting at ``initial`` on a terminal; otherwise a
    ``LogProgress`` printing every ``DREAMREEL_PROGRESS_EVERY`` seconds (default 10, 0 = never)."""
    if sys.stderr.isatty():
        return tqdm(total=total, initial=initial, unit=unit, desc=desc, dynamic_ncols=True, leave=False)
    try:
        every = float(os.environ.get(EVERY_ENV, EVERY_DEFAULT))
    except ValueError:
        every = EVERY_DEFAULT
    return LogProgress(total, unit, desc, initial, every=every)
