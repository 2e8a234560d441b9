"""The report after a render: per-frame figures measured against the real frames, a summary,
and the page; for video (with a cut and two segments) and zoom."""
from __future__ import annotations

import json

import numpy as np

from dreamreel.cli import main
from dreamreel.media.images import read_image
from dreamreel.media.reader import FrameReader
from dreamreel.media.probe import probe
from dreamreel.quality import dream_strength, sharpness
from tests.conftest import SAMPLES, zoom_stopped_after


def test_a_video_report_measures_every_output_frame_against_the_frames(tmp_path, clips):
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"input: {clips['cut']}\noutput: {tmp_path / 'frames'}\n"
                   "dream: {steps: 2, octaves: 1, jitter: 2}\nvideo: {steps_after_first: 1}\n"
                   "render: {segments: 2, preroll: 1, crossover: 1}\n")
    assert main(["render", str(cfg)]) == 0
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
        # Seconds of dreaming: a carried frame (between dreamed ones, video.cadence 4) has none.
        assert f["strength"][k] > 0.005 and (f["seconds"][k] > 0) == f["dreamed"][k]
    assert f["dreamed"][0] and f["dreamed"][6] and not all(f["dreamed"])
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
        assert main(["render", str(cfg)]) == 130
    assert main(["render", str(cfg)]) == 0
    report = json.loads((tmp_path / "z.mp4.report.json").read_text())
    f = report["report"]["frames"]
    assert report["report"]["summary"]["frames measured"] == 12  # the frames of both runs
    assert f["fresh"] == [True] + [False] * 11 and f["flicker"][0] is None and all(f["flicker"][1:])
    assert "zoom.zoom" in report["schedules"] and len(report["envelopes"]["beat"]) == 12


def test_a_report_a_person_changed_is_not_replaced_without_force_and_nothing_is_dreamed(tmp_path, clips):
    """OUTPUT.report.html and .report.json are files beside the output like the timeline's: a new
    render replaces them only when they are as dreamreel wrote them, and says so before dreaming."""
    cfg = tmp_path / "v.yaml"
    out = tmp_path / "v.mp4"
    cfg.write_text(f"input: {clips['cut']}\noutput: {out}\nframes: {{count: 3}}\n"
                   "dream: {steps: 1, octaves: 1, jitter: 2}\nvideo: {preset: ultrafast}\n")
    assert main(["render", str(cfg)]) == 0
    report = tmp_path / "v.mp4.report.html"
    out.unlink()
    assert main(["render", str(cfg)]) == 0  # unchanged since we wrote it: replaced freely
    report.write_text(report.read_text() + "<!-- my notes -->")
    out.unlink()
    assert main(["render", str(cfg)]) == 2  # refused in one line, before anything was dreamed
    assert report.read_text().endswith("<!-- my notes -->") and not out.exists()
    assert not (tmp_path / "v.mp4.work").exists()
    assert main(["render", str(cfg), "--force"]) == 0 and "my notes" not in report.read_text()


def test_a_farm_render_reports_the_frames_it_wrote_crossovers_and_damaged_facts_included(tmp_path, clips):
    """Farm tasks dream two segments; their crossover frames are blended at assembly, so the
    figures a segment measured are not those of the frames written. Before assembling, one frame's
    facts line is deleted (a kill -9 between its checkpoint and its facts), one is edited to NaN and
    one to a number where the host goes: every output frame's figures must still be those of the
    frame written, measured against its source frame."""
    cfg = tmp_path / "v.yaml"
    out = tmp_path / "frames"
    cfg.write_text(f"input: {clips['plain']}\noutput: {out}\n"
                   "dream: {steps: 2, octaves: 1, jitter: 2}\nvideo: {steps_after_first: 1}\n"
                   "render: {segments: 2, preroll: 2, crossover: 3}\n")
    for seg in (0, 1):
        assert main(["render", str(cfg), "--segment", str(seg)]) == 0
    work = tmp_path / "frames.work"
    lines = [ln for p in sorted(work.glob("facts*.jsonl")) for ln in p.read_text().splitlines()]
    by_name = {json.loads(ln)["name"]: ln for ln in lines}
    names = sorted(by_name)
    lost, nan, host = names[1], names[2], names[4]
    for p in work.glob("facts*.jsonl"):
        kept = []
        for ln in p.read_text().splitlines():
            rec = json.loads(ln)
            if rec["name"] == lost:
                continue
            if rec["name"] == nan:
                ln = ln.replace(f'"strength":{rec["strength"]}', '"strength":NaN')
            if rec["name"] == host:
                rec["host"] = 12345
                ln = json.dumps(rec)
            kept.append(ln)
        p.write_text("\n".join(kept) + "\n")
    assert main(["render", str(cfg)]) == 0
    report = json.loads((tmp_path / "frames.report.json").read_text())
    f = report["report"]["frames"]
    outs = [read_image(p) for p in sorted(out.glob("*.png"))]
    n = len(outs)
    info = probe(clips["plain"])
    with FrameReader(info.path, info.fps, outs[0].shape[:2], 0, n) as reader:
        raws = [rgb for _, rgb in reader]
    assert len(f["strength"]) == n and report["report"]["summary"]["frames measured"] == n
    for k in range(n):
        assert abs(f["strength"][k] - dream_strength(outs[k], raws[k])) < 2e-3, k
        assert abs(f["sharpness"][k] - sharpness(outs[k]) / sharpness(raws[k])) < 0.02 * f["sharpness"][k], k
        assert f["fresh"][k] is (k == 0) and (f["flicker"][k] is None) == (k == 0), k
        assert isinstance(f["host"][k], str), k
