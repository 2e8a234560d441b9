"""Zoom renders end to end: MP4, GIF and WebP that loop, seamless loops, audio, resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.media.images import read_image
from dreamreel.media.probe import probe
from tests.conftest import SAMPLES, zoom_stopped_after

TINY = """\
mode: zoom
input: {inp}
output: {out}
size: {{width: 64}}
zoom: {{frames: {frames}, fps: 12, zoom: 1.04, rotate: 0.5, loop: {loop}}}
dream: {{steps: 2, octaves: 1, jitter: 2, step_size: 0.02}}
"""


def config(tmp_path: Path, out: str, frames: int = 8, loop: str = "false", extra: str = "",
           inp: Path = SAMPLES / "astronaut.png") -> Path:
    p = tmp_path / f"{Path(out).stem}.yaml"
    p.write_text(TINY.format(inp=inp, out=tmp_path / out, frames=frames, loop=loop) + extra)
    return p


def manifest(tmp_path: Path, out: str) -> dict:
    return json.loads((tmp_path / f"{out}.manifest.json").read_text())


def test_zoom_mp4_has_the_frames_and_rate_asked_for(tmp_path):
    assert main(["render", str(config(tmp_path, "z.mp4"))]) == 0
    info = probe(tmp_path / "z.mp4")
    assert info.video_codec == "h264" and info.fps == 12 and info.frames == 8
    assert (info.width, info.height) == (64, 64) and not info.has_audio


def test_each_frame_zooms_into_the_last(tmp_path):
    assert main(["render", str(config(tmp_path, "frames", frames=4))]) == 0
    frames = [read_image(p).astype(np.float32) / 255 for p in sorted((tmp_path / "frames").glob("*.png"))]
    rep = manifest(tmp_path, "frames")["loop_seam"]
    # Consecutive frames, once the zoom is taken out, differ by the dream's new detail only.
    assert 0 < rep["median_step"] < 0.12
    assert np.abs(frames[0] - frames[-1]).mean() > rep["median_step"]


def test_gif_and_webp_loop_forever(tmp_path):
    assert main(["render", str(config(tmp_path, "z.gif", frames=4, extra=f"audio: {SAMPLES / 'beat.wav'}\n"))]) == 0
    gif = (tmp_path / "z.gif").read_bytes()
    assert gif[:6] == b"GIF89a" and b"NETSCAPE2.0\x03\x01\x00\x00" in gif
    # A GIF carries no sound or timecode, and its manifest does not claim any.
    facts = manifest(tmp_path, "z.gif")
    assert facts["audio"] is None and facts["timecode"] is None
    assert main(["render", str(config(tmp_path, "z.webp", frames=4))]) == 0
    webp = (tmp_path / "z.webp").read_bytes()
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP" and b"ANIM" in webp
    anim = webp.index(b"ANIM")
    assert webp[anim + 8 + 4 : anim + 8 + 6] == b"\x00\x00"  # loop count 0: forever


def test_seamless_loop_wraps_no_harder_than_an_ordinary_step(tmp_path):
    assert main(["render", str(config(tmp_path, "loop.mp4", frames=24, loop="true"))]) == 0
    rep = manifest(tmp_path, "loop.mp4")["loop_seam"]
    assert rep["ratio"] <= 1.5
    assert probe(tmp_path / "loop.mp4").frames == 24


def test_without_the_loop_the_wrap_is_a_jump(tmp_path):
    assert main(["render", str(config(tmp_path, "open.mp4", frames=24))]) == 0
    assert manifest(tmp_path, "open.mp4")["loop_seam"]["ratio"] > 1.5


def test_audio_drives_the_zoom_and_is_muxed(tmp_path):
    extra = f"audio: {SAMPLES / 'beat.wav'}\n"
    cfg = config(tmp_path, "beat.mp4", frames=12, extra=extra)
    assert main(["render", str(cfg), "zoom.zoom=1.0 + 0.08*beat"]) == 0
    info = probe(tmp_path / "beat.mp4")
    assert info.has_audio and abs(info.duration - 1.0) < 0.1


def test_audio_expression_without_audio_is_a_config_error(tmp_path, capsys):
    assert main(["render", str(config(tmp_path, "x.mp4")), "zoom.zoom=1.0 + 0.1*onset"]) == 2
    assert "zoom.zoom: reads an audio envelope" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4.work").exists()


def test_noise_start_and_resume_give_the_same_frames(tmp_path, monkeypatch):
    cfg = config(tmp_path, "n", frames=8, loop="true")
    text = cfg.read_text().replace(f"input: {SAMPLES / 'astronaut.png'}\n", "").replace("loop: true}", "loop: true, warmup: 3}")
    cfg.write_text(text)
    assert main(["render", str(cfg)]) == 0
    reference = [read_image(p) for p in sorted((tmp_path / "n").glob("*.png"))]
    # Stop inside the loop tail's first frames (3 warm-up + 8 + 4 tail): the resume reads back the
    # first shown frame's colour, which every later frame holds.
    with zoom_stopped_after(monkeypatch, 12):
        assert main(["render", str(cfg), "--force"]) == 130
    assert main(["render", str(cfg)]) == 0
    assert manifest(tmp_path, "n")["resumed_at"] == 12
    again = [read_image(p) for p in sorted((tmp_path / "n").glob("*.png"))]
    assert len(again) == 8 and all(np.array_equal(a, b) for a, b in zip(again, reference))


def test_video_first_frame_can_start_a_zoom(tmp_path, clips):
    assert main(["render", str(config(tmp_path, "v.mp4", frames=3, inp=clips["plain"]))]) == 0
    assert probe(tmp_path / "v.mp4").frames == 3


def test_wide_gif_is_scaled_to_a_sensible_size(tmp_path):
    cfg = config(tmp_path, "wide.gif", frames=2)
    assert main(["render", str(cfg), "size.width=600"]) == 0
    gif = (tmp_path / "wide.gif").read_bytes()
    width, height = int.from_bytes(gif[6:8], "little"), int.from_bytes(gif[8:10], "little")
    assert (width, height) == (480, 480)


def test_a_resume_notices_a_replaced_audio_file(tmp_path, monkeypatch, capsys):
    """A zoom stopped mid-render, its audio: file then replaced by another track: the frames
    dreamed to the old track's envelopes are not continued with the new one."""
    import shutil

    track = tmp_path / "track.wav"
    shutil.copy(SAMPLES / "beat.wav", track)
    cfg = config(tmp_path, "a.mp4", frames=8, extra=f"audio: {track}\n")
    args = ["render", str(cfg), "zoom.rotate=2*beat"]  # the audio shapes the pixels
    with zoom_stopped_after(monkeypatch, 4):
        assert main(args) == 130
    from tests.conftest import ffmpeg

    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:beep_factor=6:sample_rate=22050:duration=8", str(track))
    capsys.readouterr()
    assert main(args) == 2
    assert "holds frames rendered with other settings" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_the_zoom_loop_keeps_its_frame_on_the_device_and_reads_each_frame_back_once(tmp_path, monkeypatch):
    """Uploads are 8-bit frames only (the start, each loop-tail target); the previous output is
    warped where it was dreamed (warp_affine gets a tensor); one read-back a frame, output and
    start together. On a GPU the host no longer warps and uploads a float frame every frame."""
    import torch

    from dreamreel.modes import zoom

    uploads, warped, readbacks = [], [], []
    real_to_tensor, real_warp, real_cpu = zoom.to_tensor, zoom.warp_affine, torch.Tensor.cpu
    monkeypatch.setattr(zoom, "to_tensor", lambda rgb, d: (uploads.append(rgb.dtype), real_to_tensor(rgb, d))[1])
    monkeypatch.setattr(zoom, "warp_affine", lambda img, m: (warped.append(type(img)), real_warp(img, m))[1])
    monkeypatch.setattr(torch.Tensor, "cpu", lambda t, *a, **k: (readbacks.append(t.shape[0]), real_cpu(t, *a, **k))[1])
    cfg = config(tmp_path, "z.mp4", frames=8, loop="true")
    assert main(["render", str(cfg)]) == 0
    from dreamreel.config import load_config

    tail, warm = 4, zoom.warmup_frames(load_config(cfg))
    assert warm == 25  # 1 / ln(1.04): the loop starts from a settled dream
    assert uploads == [np.uint8] * (1 + tail)
    assert warped == [torch.Tensor] * (warm + 8 + tail - 1)
    assert readbacks.count(2) == warm + 8 + tail


def test_a_loop_dreams_its_warm_up_first_and_shows_only_its_own_frames(tmp_path):
    """A loop starts from a dream that has built up (issue 38: it used to dissolve back toward the
    photo just after its seam): the warm-up frames are dreamed first and never shown."""
    cfg = config(tmp_path, "frames", frames=8, loop="true")
    cfg.write_text(cfg.read_text().replace("loop: true}", "loop: true, warmup: 5}", 1))
    assert main(["render", str(cfg)]) == 0
    facts = manifest(tmp_path, "frames")
    assert facts["warmup_frames"] == 5 and facts["loop_tail_frames"] == 4
    assert len(list((tmp_path / "frames").glob("*.png"))) == 8
    assert facts["frames_dreamed"] == 5 + 8 + 4


@pytest.mark.parametrize("cadence", ["1", "4"])
def test_a_zoom_preview_cell_is_the_frame_a_render_at_preview_size_makes(tmp_path, monkeypatch, cadence):
    """Issue 38: every cell of a zoom preview was the nearly undreamed start picture. A cell is now
    the frame itself, dreamed along its path at the preview's width, bit for bit what a render at
    that width makes, at no more cost than that render; at zoom.cadence 4 too (issue 40: the path
    dreams every fourth frame and carries the rest, as the render does)."""
    from dreamreel.config import load_config
    from dreamreel.inspect import preview

    monkeypatch.setattr(preview, "PREVIEW_WIDTH", 48)
    cfg_path = config(tmp_path, "z.mp4", frames=10, loop="true")
    cfg_path.write_text(cfg_path.read_text().replace("size: {width: 64}", "size: {width: 96}")
                        .replace("loop: true}", f"loop: true, warmup: 3, cadence: {cadence}}}", 1))
    done = preview.render_preview(load_config(cfg_path), None, False, at="f0, f4, f9")
    sheet = json.loads((tmp_path / "z.mp4.preview.json").read_text())
    assert done["frames"] == [0, 4, 9] and sheet["dreamed"]["size"] == [48, 48]
    # Output frame 0 of a loop is its tail's first frame: the path is the whole loop at 48 px.
    assert sheet["dreamed"]["frames"] == 3 + 10 + 5
    from dreamreel.config import SizeConfig
    from dreamreel.modes.zoom import ZoomRender

    small = ZoomRender(load_config(cfg_path).model_copy(update={"size": SizeConfig(width=48)}))
    cells, cost = preview._zoom_cells(small, [0, 4, 9])
    assert main(["render", str(cfg_path), "size.width=48", f"output={tmp_path / 'small'}"]) == 0
    shown = sorted((tmp_path / "small").glob("*.png"))
    for cell, j in zip(cells, [0, 4, 9]):
        assert np.array_equal(cell, read_image(shown[j]))
    assert manifest(tmp_path, "small")["frames_dreamed"] == cost["frames"]
