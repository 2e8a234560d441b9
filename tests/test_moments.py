"""Moments named as a person thinks of them (times, frames, beats, onsets), and the preview
that dreams them: labelled cells at the right frames, each at its own settings."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.config import load_config
from dreamreel.errors import ConfigError
from dreamreel.media.images import read_image
from dreamreel.moments import resolve_moments
from dreamreel.modes.variables import build_timeline
from tests.conftest import SAMPLES


def test_times_frames_beats_and_onsets_name_output_frames():
    beats = np.array([0.0, 0.5, 1.0, 1.5])
    onset = np.zeros(48)
    onset[[6, 7, 20, 30]] = [0.9, 0.4, 0.6, 0.3]
    assert resolve_moments("0.5, 0:01.25, f3, beat:4", 48, 24.0, beats, onset) == [3, 12, 30, 36]
    assert resolve_moments("onsets", 48, 24.0, beats, onset) == [6, 20]
    assert resolve_moments("onsets:0.8", 48, 24.0, beats, onset) == [6]
    assert resolve_moments("onsets:0.1", 48, 24.0, beats, onset, limit=2) == [6, 20]  # the strongest two
    for spec, needle in (("soon", "'soon' is not a moment"), ("2.0", "outside the render (0 to 2.000 s)"),
                         ("f48", "outside the render (frames 0 to 47)"), ("beat:5", "beats 1 to 4"),
                         ("beat:x", "named by its number"), ("onsets:2", "from 0 to 1"), (" , ", "no moments"),
                         (",".join(f"f{i}" for i in range(48)), "at most 40")):
        with pytest.raises(ConfigError) as exc:
            resolve_moments(spec, 48, 24.0, beats, onset, limit=40)
        assert needle in str(exc.value) and str(exc.value).startswith("--preview-at: ")
    with pytest.raises(ConfigError, match="has no beats"):
        resolve_moments("beat:1", 48, 24.0, None, None)


def test_a_zoom_preview_at_moments_labels_each_cell_with_its_settings_and_feeds_the_filmstrip(tmp_path):
    cfg = tmp_path / "z.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                   f"audio: {SAMPLES / 'beat.wav'}\nsize: {{width: 64}}\n"
                   "zoom: {frames: 96, fps: 24, zoom: '1.01 + 0.03*beat'}\n"
                   "dream: {steps: 2, octaves: 1, jitter: 2, step_size: '0:(0.005), 95:(0.03)'}\n")
    assert main(["render", str(cfg), "--preview-at", "1.0,f10,beat:3,onsets:0.9"]) == 0
    sheet = json.loads((tmp_path / "z.mp4.preview.json").read_text())
    loaded = load_config(cfg)
    timeline = build_timeline(loaded, 96, 24.0)
    frames = [c["frame"] for c in sheet["cells"]]
    beat3 = int(np.floor(timeline.envelopes.beats[2] * 24 + 0.5))  # the nearest frame
    assert {10, 24, beat3} <= set(frames) and frames == sorted(frames)
    for c in sheet["cells"]:
        t = c["frame"]
        assert c["values"]["dream.step_size"] == pytest.approx(loaded.dream.step_size.at(t, timeline.env(t)), rel=1e-5)
        assert c["values"]["zoom.zoom"] == pytest.approx(loaded.zoom.zoom.at(t, timeline.env(t)), rel=1e-5)
        assert c["caption"][0].startswith(f"f{t} ") and c["thumb"].startswith("data:image/jpeg;base64,")
    assert next(c for c in sheet["cells"] if c["frame"] == beat3)["beat"] == 3
    # One cell per moment, each dreamed at its own step size: the late cell changed the picture more.
    img = read_image(tmp_path / "z.mp4.preview.png")
    assert img.shape[1] >= len(frames) * 64
    assert not (tmp_path / "z.mp4").exists() and not (tmp_path / "z.mp4.work").exists()
    assert main(["render", str(cfg), "--timeline"]) == 0
    timeline_json = json.loads((tmp_path / "z.mp4.timeline.json").read_text())
    assert [p["frame"] for p in timeline_json["previews"]] == frames


def test_a_video_preview_at_moments_dreams_those_frames(tmp_path, clips, capsys):
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"input: {clips['plain']}\noutput: {tmp_path / 'v.mp4'}\ndream: {{steps: 1, octaves: 1}}\n")
    assert main(["render", str(cfg), "--preview-at", "f3,0.5"]) == 0
    sheet = json.loads((tmp_path / "v.mp4.preview.json").read_text())
    assert [c["frame"] for c in sheet["cells"]] == [3, 6] and sheet["frames"] == 12
    assert main(["render", str(cfg), "--preview-at", "beat:1", "--force"]) == 2  # a sine tone: no beats
    assert main(["render", str(cfg), "--preview-at", "f3", "--preview", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "beat:1" in err[-2] and "--preview N and --preview-at" in err[-1]


def test_cuts_name_the_first_frame_of_every_scene_cut(tmp_path, clips):
    """`cuts` (the video guide's example) was refused as "not a moment"."""
    assert resolve_moments("f0, cuts", 24, 24.0, cuts=[12, 30]) == [0, 12]
    with pytest.raises(ConfigError, match="'cuts': this render has no scene cuts"):
        resolve_moments("cuts", 24, 24.0, cuts=[])
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"input: {clips['cut']}\noutput: {tmp_path / 'v.mp4'}\ndream: {{steps: 1, octaves: 1}}\n")
    assert main(["preview", str(cfg), "--at", "cuts"]) == 0
    sheet = json.loads((tmp_path / "v.mp4.preview.json").read_text())
    assert [c["frame"] for c in sheet["cells"]] == [6]  # cut.mp4: two 0.5 s shots at 12 fps


@pytest.mark.parametrize("moment", ["f²", "beat:²", "bar:³", "f٣", "٠:١٢", "beat:٣"])
def test_digits_of_other_scripts_are_not_moments_but_one_line(moment):
    """Python's isdigit() says yes to "²" and int() refuses it: that was a ValueError traceback
    from the CLI and the API. Only ASCII digits name a frame, a beat or a time."""
    beats = np.arange(0.0, 10.0, 0.5)
    with pytest.raises(ConfigError, match=r"--preview-at: "):
        resolve_moments(moment, 240, 24.0, beats=beats, bars=beats[::4])


def test_a_marker_clock_time_past_100_hours_is_refused(tmp_path):
    from dreamreel.markers import parse_clock

    assert parse_clock("99:59:59") == 99 * 3600 + 59 * 60 + 59
    with pytest.raises(ValueError, match="past any track"):
        parse_clock("999:00:00")


def test_a_repeat_preview_replaces_our_own_sheet_and_keeps_an_edited_one(tmp_path):
    """The sheet is listed in its JSON's ledger: a second preview replaces it without --force (it
    was refused as 'output exists'); a sheet someone changed still needs --force."""
    cfg = tmp_path / "z.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                   "size: {width: 64}\nzoom: {frames: 8}\ndream: {steps: 1, octaves: 1}\n")
    sheet = tmp_path / "z.mp4.preview.png"
    assert main(["render", str(cfg), "--preview", "4"]) == 0
    first = sheet.read_bytes()
    assert main(["render", str(cfg), "--preview-at", "f1,f3,f5"]) == 0 and sheet.read_bytes() != first
    sheet.write_bytes(sheet.read_bytes() + b"my notes")
    assert main(["render", str(cfg), "--preview", "4"]) == 2 and sheet.read_bytes().endswith(b"my notes")
    assert main(["render", str(cfg), "--preview", "4", "--force"]) == 0
