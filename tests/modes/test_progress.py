"""Progress in logs: when stderr is not a terminal, a line every few seconds instead of a bar."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys

from dreamreel.modes.progress import LogProgress
from tests.conftest import ROOT
from tests.modes.test_video import config

LINE = re.compile(r"^dreamreel: dreaming (\d+)/(\d+) frames \((\d+) %\), ([\d.]+) frames/s, ETA (.+)$")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_log_progress_prints_at_most_every_interval_with_rate_and_eta():
    clock, out = Clock(), io.StringIO()
    p = LogProgress(100, "frame", "dreaming", initial=20, every=5.0, stream=out, clock=clock)
    for _ in range(10):  # 10 frames in 4 s: no line yet
        clock.t += 0.4
        p.update(1)
    assert out.getvalue() == ""
    clock.t += 1.0
    p.update(1)  # 11 frames this run in 5 s; 31 of 100 done
    assert out.getvalue() == "dreamreel: dreaming 31/100 frames (31 %), 2.20 frames/s, ETA 31 s\n"
    clock.t += 1.0
    p.update(1)
    assert out.getvalue().count("\n") == 1  # the next line waits for the interval again


def test_a_logged_render_shows_where_it_is(tmp_path, clips):
    cfg = config(tmp_path, clips["plain"], "out.mp4")
    env = {**os.environ, "DREAMREEL_PROGRESS_EVERY": "0.001"}
    proc = subprocess.run([sys.executable, "-m", "dreamreel", "render", str(cfg)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [m for m in (LINE.match(ln) for ln in proc.stderr.splitlines()) if m]
    assert len(lines) >= 2, proc.stderr
    done = [int(m.group(1)) for m in lines]
    assert done == sorted(done) and all(int(m.group(2)) == 12 for m in lines)
    assert "\r" not in proc.stderr  # no bar redraws in a log
