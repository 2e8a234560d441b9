"""The report after a render: per-frame figures measured against the real frames, a summary,
and the page; for video (with a cut and two segments) and zoom."""
from __future__ import annotations

import json

import numpy as np

from pipeline.cli import main
from pipeline.media.images import read_image
from pipeline.media.reader import FrameReader
from pipeline.media.probe import probe
from pipeline.quality import dream_strength, sharpness
from tests.conftest import SAMPLES, zoom_stopped_after


def test_a_video_report_measures_every_output_frame_against_the_frames(tmp_path, clips):
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"input: {clips['cut']}\noutput: {tmp_path / 'frames'}\n"
                   "dream: {steps: 2, octaves: 1, jitter: 2}\nvideo: {steps_after_first: 1}\n"
                   "render: {segments: 2, preroll: 1, crossover: 1}\n")
    assert main([str(cfg)]) == 0
    report = json.loads((tmp_path / "frames.report.json").read_text())
    manifest = json.loads((tmp_path / "frames.manifest.json").read_text())
    assert manifest["report"] == str(tmp_path / "frames.report.html")
    f = report["report"]["frames"]
    assert len(f["strength"]) == 12 and report["frames"] == 12
    # Fresh: the first frame and the cut at 6 (where segment 1 starts); flicker only on carried frames.
    assert [i for i, x in enumerate(f["fresh"]) if x] == [0, 6] and report["cuts"] == [6]
    assert [i for i, x in enumerate(f["flicker"]) if x is None] == [0, 6]
    assert f["segment"] == [0] * 6 + [1] * 6 and set(f["host"]) == {manifest["segments"][0]["hosts"][0]}
    outs = [read_image(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    info = probe(clips["cut"])
    with FrameReader(info.path, info.fps, outs[0].shape[:2], 0, 12) as reader:
        raws = [rgb for _, rgb in reader]
    for k in range(12):
        assert abs(f["strength"][k] - dream_strength(outs[k], raws[k])) < 2e-3, k
        assert abs(f["sharpness"][k] - sharpness(outs[k]) / sharpness(raws[k])) < 0.02 * f["sharpness"][k], k
        assert f["strength"][k] > 0.005 and f["seconds"][k] > 0
    # Flicker is the warp error along the flow: smaller than the plain difference of the frames
    # on this moving test pattern.
    for k in (2, 3, 9, 10):
        plain = np.abs(outs[k].astype(float) - outs[k - 1].astype(float)).mean() / 255
        assert 0 < f["flicker"][k] < plain, k
    s = report["report"]["summary"]
    assert s["frames"] == 12 and s["fresh starts"] == 2 and s["frames measured"] == 12
    assert abs(s["flicker, median"] - np.median([x for x in f["flicker"] if x is not None])) < 1e-4
    assert report["config"]["input"] == str(clips["cut"])
    html = (tmp_path / "frames.report.html").read_text()
    assert '"format":"dreamreel.report"' in html and "https://" not in html


def test_a_resumed_zoom_reports_every_frame_with_the_lanes_of_its_timeline(tmp_path, monkeypatch):
    cfg = tmp_path / "z.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                   f"audio: {SAMPLES / 'beat.wav'}\nsize: {{width: 64}}\n"
                   "zoom: {frames: 12, fps: 12, zoom: '1.01 + 0.03*beat', preset: ultrafast}\n"
                   "dream: {steps: 1, octaves: 1, jitter: 2}\n")
    with zoom_stopped_after(monkeypatch, 5):
        assert main([str(cfg)]) == 130
    assert main([str(cfg)]) == 0
    report = json.loads((tmp_path / "z.mp4.report.json").read_text())
    f = report["report"]["frames"]
    assert report["report"]["summary"]["frames measured"] == 12  # the frames of both runs
    assert f["fresh"] == [True] + [False] * 11 and f["flicker"][0] is None and all(f["flicker"][1:])
    assert "zoom.zoom" in report["schedules"] and len(report["envelopes"]["beat"]) == 12
