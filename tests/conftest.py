"""Shared fixtures: real clips made with the bundled ffmpeg, the real default network."""
from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamreel.media.ffmpeg import ffmpeg_exe
from dreamreel.media.images import read_image, to_tensor

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

# Measured speed choices go to a cache of the test session's own (children inherit it), never
# the user's ~/.cache/dreamreel: a test run neither reads nor changes what renders here chose.
os.environ["DREAMREEL_CACHE"] = tempfile.mkdtemp(prefix="dreamreel-test-cache-")
# Tests compare renders bit for bit across runs: they take the rule for auto precision and layout,
# which a measurement could decide differently from run to run (tests/speed/test_choices.py
# measures).
os.environ["DREAMREEL_CHOICES"] = "rule"


# Only tests marked ``cuda`` may see a GPU; every other test is about the CPU's path and its bit-
# for-bit promises, and rendered on ``auto`` it would take a GPU where there is one (then
# fail or flake). Pinned here: in this process (torch.cuda.is_available is False) and in the
# children it starts (CUDA_VISIBLE_DEVICES is empty).
def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs a CUDA device")
    if not _real_cuda_available():
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)


_real_cuda_available = torch.cuda.is_available


@pytest.fixture(autouse=True)
def _cpu_unless_marked_cuda(request, monkeypatch):
    if "cuda" not in request.keywords:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    yield


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly; fail the test with its message if it fails."""
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def make_clip(path: Path, *, seconds: float = 1.0, size: str = "96x64", rate: str = "12",
              audio: bool = True, source: str = "testsrc2") -> Path:
    """An H.264 MP4 from an ffmpeg test source, with a sine tone when ``audio``."""
    args = ["-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    ffmpeg(*args, str(path))
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real test clips: plain with audio, silent, a hard cut, an odd size, a variable rate."""
    d = tmp_path_factory.mktemp("clips")
    out = {
        "plain": make_clip(d / "plain.mp4", seconds=1.0),
        "silent": make_clip(d / "silent.mp4", seconds=0.5, audio=False),
        "odd": make_clip(d / "odd.mp4", seconds=0.5, size="67x45", audio=False),
    }
    a = make_clip(d / "a.mp4", seconds=0.5, audio=False, source="testsrc2")
    b = make_clip(d / "b.mp4", seconds=0.5, audio=False, source="smptebars")
    ffmpeg("-i", str(a), "-i", str(b), "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(d / "cut.mp4"))
    out["cut"] = d / "cut.mp4"
    # Variable rate: drop frames unevenly, keep their timestamps, write with -fps_mode vfr.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=1",
           "-vf", "select='not(eq(mod(n\\,5)\\,1))*not(eq(mod(n\\,7)\\,3))'", "-fps_mode", "vfr",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(d / "vfr.mp4"))
    out["vfr"] = d / "vfr.mp4"
    return out


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The sample photo, RGB uint8 [512,512,3]."""
    return read_image(SAMPLES / "astronaut.png")


@pytest.fixture(scope="session")
def small_photo(astronaut: np.ndarray) -> torch.Tensor:
    """The sample photo at 128x128, [1,3,128,128] in [0,1]."""
    from dreamreel.dream.engine import resize

    return resize(to_tensor(astronaut, torch.device("cpu")), (128, 128))


@pytest.fixture(scope="session")
def net():
    """mobilenet_v2 with its real ImageNet weights, cut after features.13 (features.6 also tapped)."""
    from dreamreel.models.net import load_dream_net

    n, _ = load_dream_net("mobilenet_v2", ["features.13", "features.6"], None, torch.device("cpu"))
    return n


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@contextmanager
def stopped_after(monkeypatch: pytest.MonkeyPatch, store: type, frames: int):
    """Within the block, a render stops as Ctrl-C stops it (KeyboardInterrupt) when it hands
    ``store`` (its checkpoint writer class) one frame more than ``frames``; the first ``frames``
    are kept."""
    real = store.put
    seen = {"n": 0}

    def put(self, index, rgb, *args, **kwargs):
        if seen["n"] == frames:
            raise KeyboardInterrupt
        seen["n"] += 1
        real(self, index, rgb, *args, **kwargs)

    monkeypatch.setattr(store, "put", put)
    try:
        yield
    finally:
        monkeypatch.setattr(store, "put", real)


def zoom_stopped_after(monkeypatch: pytest.MonkeyPatch, frames: int):
    """``stopped_after`` for a zoom render."""
    import dreamreel.modes.zoom as zoom_mod

    return stopped_after(monkeypatch, zoom_mod.FrameWriter, frames)


def video_stopped_after(monkeypatch: pytest.MonkeyPatch, frames: int):
    """``stopped_after`` for a video render."""
    import dreamreel.modes.video as video_mod

    return stopped_after(monkeypatch, video_mod.JobStore, frames)
