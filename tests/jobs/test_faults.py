"""Faults lose nothing: kill -9, Ctrl-C, a full disk, a corrupt checkpoint, two renders at once."""
from __future__ import annotations

import hashlib
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.warm import WARM

RENDER = [shutil.which("dreamreel"), "render"] if shutil.which("dreamreel") else [sys.executable, "-m", "dreamreel", "render"]
# Slow enough per frame (~0.1-0.3 s) that a kill lands mid-render, small enough to stay quick.
BODY = """\
input: {clip}
output: {out}
frames: {{count: 12}}
dream: {{steps: 6, octaves: 2, jitter: 4}}
video: {{steps_after_first: 4, preset: ultrafast}}
"""


def config(tmp_path: Path, clip: Path, out: str) -> Path:
    p = tmp_path / f"{out}.yaml"
    p.write_text(BODY.format(clip=clip, out=tmp_path / out))
    return p


def digests(folder: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))]


def done_frames(job: Path) -> int:
    try:
        return len((job / "checksums.txt").read_text().splitlines())
    except FileNotFoundError:
        return 0


# `render` that stops after its N-th finished frame is handed to the job folder and waits there
# for a signal: a fault sent then lands mid-render on every machine. Sent after a count of
# frames on disk alone, it raced the render's end: on a loaded machine the render finished first
# (Ctrl-C test: exit 0, expected 130).
HELD = """\
import faulthandler, os, signal, sys, time
from dreamreel.cli import main
from dreamreel.jobs import folder as jobs

after, put, seen, parent = int(sys.argv[1]), jobs.JobStore.put, [0], os.getppid()


def held(self, *args, **kwargs):
    put(self, *args, **kwargs)
    seen[0] += 1
    while seen[0] == after:
        if os.getppid() != parent:  # the test process is gone: nobody will signal
            os._exit(1)
        time.sleep(0.05)


jobs.JobStore.put = held
faulthandler.register(signal.SIGUSR1, all_threads=True)  # what it was doing, if it hangs
sys.exit(main(["render", *sys.argv[2:]]))
"""


def _sigint_default() -> None:
    # A process started in the background by a non-interactive shell (`pytest ... &`, some CI
    # runners) inherits SIGINT ignored, and Python then leaves it ignored: Ctrl-C is meant for the
    # foreground. The render under test is a foreground render, so it gets the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_child_outlives_its_test():
    # A held render waits for its signal forever: a test that fails before sending it must not
    # leave it behind.
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(cfg: Path, *extra: str, hold: int | None = None) -> subprocess.Popen:
    """``render CFG EXTRA`` as a child; with ``hold``, one held after that many frames (HELD)."""
    cmd = [*RENDER] if hold is None else [sys.executable, "-c", HELD, str(hold)]
    proc = subprocess.Popen([*cmd, str(cfg), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    _STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen, sig: int, timeout: float = 120.0) -> str:
    """Send ``sig`` to a held render and wait for it to exit; returns its stderr. If it does not
    exit in time, fail with every thread's stack (faulthandler in HELD) instead of a bare timeout."""
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        err = proc.communicate()[1]
        pytest.fail(f"render did not exit {timeout:.0f} s after signal {sig}; its threads:\n{err[-6000:]}")


def wait_for(cond, timeout: float = 120.0) -> None:
    t = time.monotonic()
    while not cond():
        assert time.monotonic() - t < timeout, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clips) -> tuple[Path, list[str]]:
    d = tmp_path_factory.mktemp("ref")
    cfg = config(d, clips["plain"], "frames")
    assert WARM.run(["render", str(cfg)], ROOT, 300).returncode == 0
    return clips["plain"], digests(d / "frames")


@pytest.mark.parametrize("after", [1, 5, 9, 12])
def test_kill_9_then_resume_gives_bit_identical_frames(tmp_path, reference, after):
    clip, want = reference
    cfg = config(tmp_path, clip, "frames")
    job = tmp_path / "frames.work"
    proc = start(cfg, hold=after)
    wait_for(lambda: done_frames(job) >= after)
    proc.kill()  # SIGKILL: no cleanup of any kind runs
    proc.wait()
    assert not (tmp_path / "frames").exists() and done_frames(job) == after
    resumed = WARM.run(["render", str(cfg)], ROOT, 300)
    assert resumed.returncode == 0, resumed.stderr
    assert digests(tmp_path / "frames") == want


def test_ctrl_c_stops_cleanly_with_130_and_resumes(tmp_path, reference):
    clip, want = reference
    cfg = config(tmp_path, clip, "frames")
    job = tmp_path / "frames.work"
    proc = start(cfg, hold=3)
    wait_for(lambda: done_frames(job) >= 3)
    err = stop(proc, signal.SIGINT)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    kept = done_frames(job)
    assert kept >= 3 and not (tmp_path / "frames").exists()
    assert not list(tmp_path.glob(".frames*"))  # lock and temp files gone
    assert WARM.run(["render", str(cfg)], ROOT, 300).returncode == 0
    assert digests(tmp_path / "frames") == want


def test_full_disk_is_a_clear_error_and_the_frames_stay(tmp_path, reference):
    clip, want = reference
    cfg = tmp_path / "mp4.yaml"
    cfg.write_text(BODY.format(clip=clip, out=tmp_path / "out.mp4"))
    frame_png = 64 * 1024  # each checkpoint is well under this; the MP4 is not

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (frame_png, frame_png))

    full = subprocess.run([*RENDER, str(cfg), "video.crf=0"], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=limit)
    assert full.returncode == 3, full.stderr
    assert full.stderr.count("\n") == 1 and "dreamreel: error:" in full.stderr and "out.mp4" in full.stderr
    assert not (tmp_path / "out.mp4").exists()
    assert done_frames(tmp_path / "out.mp4.work") == 12  # everything dreamed is kept
    again = WARM.run(["render", str(cfg), "video.crf=0"], ROOT, 300)
    assert again.returncode == 0, again.stderr
    import json

    assert json.loads((tmp_path / "out.mp4.manifest.json").read_text())["resumed_at"] == 12


def test_corrupt_checkpoint_is_rendered_again(tmp_path, reference):
    clip, want = reference
    cfg = config(tmp_path, clip, "frames")
    job = tmp_path / "frames.work"
    proc = start(cfg, hold=6)
    wait_for(lambda: done_frames(job) >= 6)
    proc.kill()
    proc.wait()
    victim = job / "frames" / "000003.png"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    done = WARM.run(["render", str(cfg)], ROOT, 300)
    assert done.returncode == 0, done.stderr
    import json

    assert json.loads((tmp_path / "frames.manifest.json").read_text())["resumed_at"] == 3
    assert digests(tmp_path / "frames") == want


def test_second_render_into_the_same_output_is_refused(tmp_path, reference):
    clip, _ = reference
    cfg = config(tmp_path, clip, "frames")
    first = start(cfg, hold=1)  # held mid-render: still running when the second starts
    try:
        wait_for(lambda: done_frames(tmp_path / "frames.work") >= 1)
        second = WARM.run(["render", str(cfg)], ROOT, 300)
        assert second.returncode == 2
        assert "another render is writing this output" in second.stderr
        assert first.poll() is None  # the first one is unharmed and still going
    finally:
        first.kill()
        first.wait()


def test_sigterm_stops_cleanly_and_stale_temp_files_are_swept(tmp_path, reference):
    clip, want = reference
    cfg = config(tmp_path, clip, "frames")
    job = tmp_path / "frames.work"
    proc = start(cfg, hold=2)
    wait_for(lambda: done_frames(job) >= 2)
    err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 143 and "interrupted" in err
    # What a kill -9 mid-write would leave: a temp file beside the output and in the job.
    litter = [tmp_path / ".frames.part", tmp_path / ".frames.manifest.json.0a1b2c3d.part.json",
              job / "frames" / ".000005.png.1a2b3c4d.part.png"]
    for p in litter:
        p.write_bytes(b"half")
    assert WARM.run(["render", str(cfg)], ROOT, 300).returncode == 0
    assert not any(p.exists() for p in litter)
    assert digests(tmp_path / "frames") == want


def test_a_kill_while_the_finished_job_is_deleted_leaves_no_half_job(tmp_path, monkeypatch):
    from dreamreel.jobs import folder as jobs_mod
    from dreamreel.jobs.folder import Job, job_dir, removing_dir
    from dreamreel.jobs.outputs import remove_stale_temps

    out = tmp_path / "o.mp4"
    job = Job(out, {"settings": "x"})
    job.open(force=False)
    job.record(0, b"png bytes")
    (job.root / "owns.txt").write_text("file 1 2 3 4\n")
    real = jobs_mod.shutil.rmtree

    def killed(path, *args, **kwargs):
        if Path(path).exists():
            raise KeyboardInterrupt  # the process dies mid-deletion
        return real(path, *args, **kwargs)

    monkeypatch.setattr(jobs_mod.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        job.remove()
    monkeypatch.setattr(jobs_mod.shutil, "rmtree", real)
    # The job folder is gone whole (renamed aside), never left without its owns.txt...
    assert not job_dir(out).exists() and removing_dir(out).is_dir()
    # ...and the next run into that output sweeps the remains.
    assert remove_stale_temps(out) >= 1 and not removing_dir(out).exists()
