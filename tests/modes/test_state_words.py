"""A checkpoint's state word is read back like any other input: checked by type and range, and a
damaged one makes its frame unchecked (dreamed again), never black frames, a traceback or a job
that cannot finish. Through the real command, on a render stopped part way."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.media.images import read_image
from dreamreel.motion.reveal import Bare
from dreamreel.modes.chain import parse_state
from tests.conftest import make_clip, video_stopped_after


def _config(tmp_path: Path, clip: Path, out: str) -> Path:
    cfg = tmp_path / f"{out}.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / out}\nframes: {{count: 8}}\nsize: {{width: 64}}\n"
                   "dream: {steps: 2, octaves: 1}\nvideo: {steps_after_first: 1}\n")
    return cfg


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("state")
    clip = make_clip(tmp / "c.mp4", seconds=1.0, size="96x64", audio=False)
    assert main(["render", str(_config(tmp, clip, "straight"))]) == 0
    return clip, [read_image(p) for p in sorted((tmp / "straight").glob("*.png"))]


@pytest.mark.parametrize("word", ["nan", "inf", "-0.5", "7", "abc", "0.01;zzz", "0.01;4x4x0x1000x!!!",
                                  "0.01;;fXX", "0.01;;f999999", "0.01;;f²", "0.01;;f0;extra"])
def test_a_damaged_state_word_is_dreamed_again_and_the_render_finishes(tmp_path, monkeypatch, reference, word):
    clip, frames = reference
    cfg = _config(tmp_path, clip, "out")
    with video_stopped_after(monkeypatch, 4):
        assert main(["render", str(cfg)]) == 130
    ledger = tmp_path / "out.work" / "checksums.txt"
    lines = ledger.read_text().splitlines()
    name, digest = lines[-1].split()[:2]
    ledger.write_text("\n".join([*lines[:-1], f"{name} {digest} {word}"]) + "\n")
    assert main(["render", str(cfg)]) == 0
    out = [read_image(p) for p in sorted((tmp_path / "out").glob("*.png"))]
    assert len(out) == len(frames) and all(np.array_equal(a, b) for a, b in zip(out, frames))


def test_state_words_are_checked_by_type_and_range():
    good = Bare(np.full((2, 3), 200, np.uint8), 4, 500).encode()
    assert parse_state("0.0125;" + good + ";f12", (8, 12)).fade_began == 12
    assert parse_state("", None).target is None and parse_state(None).bare is None
    for bad in ("nan", "1e999", "0x10", "٠.٥", "0.1;" + good, "0.1;2x3x0x2000x" + good.split("x", 4)[4]):
        assert parse_state(bad, (8, 8)) is None, bad
    bomb = "1x1x0x0x" + __import__("base64").urlsafe_b64encode(__import__("zlib").compress(bytes(1 << 24))).decode()
    assert parse_state("0.1;" + bomb) is None  # inflated no further than one byte past 1x1
