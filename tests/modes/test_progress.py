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


def test_log_progress_prints_at_most_every_interval_with_a_measured_rate_and_eta():
    clock, out = Clock(), io.StringIO()
    p = LogProgress(100, "frame", "dreaming", initial=20, every=5.0, stream=out, clock=clock)
    clock.t += 6.0
    p.update(1)  # the first frame carries the start-up (loading, the trial): not a rate
    assert out.getvalue() == "dreamreel: dreaming 21/100 frames (21 %), ETA measuring\n"
    for _ in range(9):  # 9 frames in 4.5 s: no line yet
        clock.t += 0.5
        p.update(1)
    assert out.getvalue().count("\n") == 1
    clock.t += 0.5
    p.update(1)  # 10 frames in 5 s since timing started; 31 of 100 done
    assert out.getvalue().splitlines()[-1] == "dreamreel: dreaming 31/100 frames (31 %), 2.00 frames/s, ETA 34 s"
    clock.t += 1.0
    p.update(1)
    assert out.getvalue().count("\n") == 2  # the next line waits for the interval again


def test_a_video_times_its_rate_from_the_first_carried_frames_only():
    """A video's first frames are fresh dreams, several times a carried frame's cost: an ETA from
    them said 47 minutes for a 7-minute render (issue 38)."""
    clock, out = Clock(), io.StringIO()
    p = LogProgress(100, "frame", "dreaming", every=0.0001, stream=out, clock=clock, settle=None)
    clock.t += 20.0
    p.update(4)  # a batch of four fresh frames
    p.start_timing()  # the first batch holding a carried frame starts
    clock.t += 2.0
    p.update(4)
    assert out.getvalue().splitlines() == ["dreamreel: dreaming 4/100 frames (4 %), ETA measuring",
                                           "dreamreel: dreaming 8/100 frames (8 %), 2.00 frames/s, ETA 46 s"]


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
    first = next(ln for ln in proc.stderr.splitlines() if ln.startswith("dreamreel: dreaming"))
    assert first.endswith("ETA measuring")  # the fresh first frame is not taken for the rate
