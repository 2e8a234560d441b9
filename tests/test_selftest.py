"""``dreamreel self-test``: what a user runs and pastes into a bug report."""
from __future__ import annotations

import io
import os
import resource
import subprocess
import sys

import pytest

from dreamreel import selftest


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


@pytest.mark.slow
def test_the_self_test_passes_here_and_says_what_it_measured():
    """The real command, in a child under time and memory limits: every check passes on this
    machine's CPU, each one line, the resume compared bit for bit, no host waits counted."""
    env = {k: v for k, v in os.environ.items() if k != "DREAMREEL_CHOICES"}
    proc = subprocess.run([sys.executable, "-m", "dreamreel", "self-test", "cpu"], capture_output=True, text=True,
                          timeout=240, env=env, preexec_fn=_limits, stdin=subprocess.DEVNULL)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = [ln.split()[0] for ln in lines[1:-1]]
    assert names == ["device", "still", "resume", "host", "choice", "speed", "speed"], lines
    assert "identical bit for bit" in lines[3] and "0 blocking copies or syncs" in lines[4]
    assert "640x360" in lines[6] and "1920x1080" in lines[7] and "frames/s" in lines[7]
    assert lines[-1].startswith("self-test passed in ")


def test_a_failed_check_is_one_line_and_exit_1(monkeypatch):
    def broken(tmp, device):
        raise selftest.CheckFailed("frame 7 of the resumed render differs from the uninterrupted one")

    monkeypatch.setattr(selftest, "_still", lambda tmp, device: "ok")
    monkeypatch.setattr(selftest, "_resume", broken)
    out = io.StringIO()
    assert selftest.self_test("cpu", out) == 1
    lines = out.getvalue().strip().splitlines()
    assert lines[-1] == ("dreamreel: self-test failed: resume: frame 7 of the resumed render differs from the "
                         "uninterrupted one")


def test_a_surprise_in_a_check_is_one_line_too(monkeypatch):
    monkeypatch.setattr(selftest, "_still", lambda tmp, device: {}["boom"])
    out = io.StringIO()
    assert selftest.self_test("cpu", out) == 1
    assert out.getvalue().strip().splitlines()[-1] == "dreamreel: self-test failed: still: KeyError: 'boom'"


def test_a_device_that_is_not_here_fails_in_one_line():
    out = io.StringIO()
    assert selftest.self_test("cuda:3", out) == 1
    assert out.getvalue().strip().splitlines()[-1].startswith("dreamreel: self-test failed: device: dream.device: cuda:3")


def test_the_upload_count_sees_a_blocking_copy_and_not_a_pinned_one():
    import torch

    with selftest.counted_uploads() as calls:
        torch.tensor([1.0, 2.0], device="cpu")
        torch.zeros(3).to("cpu")
        torch.zeros(3).to("cpu", non_blocking=True)
        torch.tensor([1.0])
    assert calls == ["torch.tensor(device=...)", "Tensor.to(device)"]
