"""Cadence (issue 40): only every Nth frame is dreamed; the frames between carry the last dream
(a video along the flow, a zoom under its transform) with no ascent and no network call."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.media.images import read_image
from dreamreel.modes.cadence import dream_due
from tests.conftest import SAMPLES, video_stopped_after

TINY = "size: {width: 64}\ndream: {steps: 2, octaves: 1, jitter: 2}\nvideo: {steps_after_first: 1, preset: ultrafast, cadence: CAD}\n"


def config(tmp_path: Path, clip: Path, out: str, cadence: str, extra: str = "") -> Path:
    p = tmp_path / f"{Path(out).stem}.yaml"
    p.write_text(f"input: {clip}\noutput: {tmp_path / out}\n" + TINY.replace("CAD", cadence) + extra)
    return p


def report(tmp_path: Path, out: str) -> dict:
    return json.loads((tmp_path / f"{out}.report.json").read_text())


def frames_of(folder: Path) -> list[np.ndarray]:
    return [read_image(p) for p in sorted(folder.glob("*.png"))]


def test_dreamed_frames_sit_on_one_grid_of_output_frames():
    assert [dream_due(t, 3) for t in range(7)] == [True, False, False, True, False, False, True]
    assert all(dream_due(t, 1) for t in range(5))


def test_a_video_at_cadence_3_dreams_every_third_frame_and_cuts_at_once(tmp_path, clips, monkeypatch):
    from dreamreel.modes import chain

    batches = []
    real = chain.dream_batch
    monkeypatch.setattr(chain, "dream_batch", lambda work, *a: (batches.append(len(work)), real(work, *a))[1])
    # No reveals here (tests/modes/test_coherence.py has a pan at cadence 4): the grid alone.
    assert main(["render", str(config(tmp_path, clips["cut"], "v.mp4", "3")), "video.reveal=false"]) == 0
    frames = report(tmp_path, "v.mp4")["report"]["frames"]
    # cut.mp4: two 6-frame shots; the second starts fresh at frame 6 (on the grid anyway) and
    # frames 0, 3, 6, 9 are dreamed: 4 network passes for 12 frames.
    assert frames["dreamed"] == [t % 3 == 0 for t in range(12)]
    assert sum(batches) == 4
    assert all(s == 0 for s, d in zip(frames["seconds"], frames["dreamed"]) if not d)
    summary = report(tmp_path, "v.mp4")["report"]["summary"]
    assert summary["frames dreamed"] == 4


def test_beats_can_force_a_dream_through_the_cadence_expression(tmp_path, clips):
    cfg = config(tmp_path, clips["cut"], "v.mp4", "'1 if t == 4 else 6'")
    assert main(["render", str(cfg), "video.reveal=false"]) == 0
    assert report(tmp_path, "v.mp4")["report"]["frames"]["dreamed"] == [t in (0, 4, 6) for t in range(12)]
    timeline = json.loads((tmp_path / "v.mp4.report.json").read_text())
    assert timeline["dreamed"] == [t in (0, 4, 6) for t in range(12)]  # the plan the report's page draws


def test_a_carried_frame_keeps_the_dream_and_a_resume_is_bit_identical(tmp_path, clips, monkeypatch):
    cfg = config(tmp_path, clips["plain"], "frames", "3", "frames: {count: 8}\n")
    assert main(["render", str(cfg)]) == 0
    reference = frames_of(tmp_path / "frames")
    with video_stopped_after(monkeypatch, 4):  # stop after a carried frame
        assert main(["render", str(cfg), "--force"]) == 130
    assert main(["render", str(cfg)]) == 0
    resumed = frames_of(tmp_path / "frames")
    assert len(resumed) == 8 and all(np.array_equal(a, b) for a, b in zip(resumed, reference))
    frames = report(tmp_path, "frames")["report"]["frames"]
    dreamed = [s for s, d in zip(frames["strength"], frames["dreamed"]) if d]
    carried = [s for s, d in zip(frames["strength"], frames["dreamed"]) if not d]
    # A carried frame keeps the dream (it is not the footage): over half a dreamed frame's strength.
    assert len(carried) == 5 and min(carried) > 0.5 * np.mean(dreamed)


@pytest.mark.parametrize("cadence", ["1", "4"])
def test_a_zoom_at_cadence_4_calls_the_network_on_every_fourth_frame(tmp_path, monkeypatch, cadence):
    from dreamreel.modes import zoom

    calls = []
    real = zoom.dream
    monkeypatch.setattr(zoom, "dream", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    cfg = tmp_path / "z.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z'}\nsize: {{width: 64}}\n"
                   f"zoom: {{frames: 12, fps: 12, zoom: 1.04, cadence: {cadence}}}\n"
                   "dream: {steps: 2, octaves: 1, jitter: 2}\n")
    assert main(["render", str(cfg)]) == 0
    assert len(calls) == (12 if cadence == "1" else 3)
    frames = json.loads((tmp_path / "z.report.json").read_text())["report"]["frames"]
    assert frames["dreamed"] == [cadence == "1" or t % 4 == 0 for t in range(12)]


def test_a_zoom_at_cadence_4_holds_its_detail_between_dreams_and_resumes_bit_identical(tmp_path, monkeypatch):
    """A carried zoom frame is the last dream magnified; held (motion/blend.hold_detail) its fine
    detail stays at the dreamed frames' (as it came it fell a few % a frame), and a render stopped
    on a carried frame resumes to the same bits (the held contrast is taken from the last dreamed
    frame's PNG)."""
    from dreamreel.modes import zoom
    from dreamreel.quality import sharpness
    from tests.conftest import zoom_stopped_after

    cfg = tmp_path / "z.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z'}\nsize: {{width: 96}}\n"
                   "zoom: {frames: 16, fps: 12, zoom: 1.05, cadence: 4}\ndream: {steps: 3, octaves: 1, jitter: 2}\n")
    assert main(["render", str(cfg)]) == 0
    reference = frames_of(tmp_path / "z")
    with zoom_stopped_after(monkeypatch, 6):  # frames 0-5 kept: 5 and 6 are carried
        assert main(["render", str(cfg), "--force"]) == 130
    assert main(["render", str(cfg)]) == 0
    resumed = frames_of(tmp_path / "z")
    assert len(resumed) == 16 and all(np.array_equal(a, b) for a, b in zip(resumed, reference))

    monkeypatch.setattr(zoom, "hold_detail", lambda x, contrast: x)  # carried frames as they come
    assert main(["render", str(cfg), "output=" + str(tmp_path / "plain")]) == 0
    plain = frames_of(tmp_path / "plain")
    held = [sharpness(f) for f in reference]
    loose = [sharpness(f) for f in plain]
    # Three frames after each dream (t % 4 == 3), against the dream itself.
    # Sharpness three frames after each dream (t % 4 == 3) over the dream's own: 0.81-0.84 held,
    # 0.61-0.64 as they came.
    kept = [held[t] / held[t - 3] for t in (7, 11)]
    lost = [loose[t] / loose[t - 3] for t in (7, 11)]
    assert min(kept) >= 0.75 and max(lost) < 0.7, (kept, lost)
