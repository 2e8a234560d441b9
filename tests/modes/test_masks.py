"""dream.mask through the real render: the clean region stays the source exactly, in every mode."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dreamreel.config import SizeConfig
from dreamreel.media.images import read_image
from dreamreel.media.probe import probe
from dreamreel.media.reader import FrameReader
from dreamreel.modes.still import fit_image
from tests.conftest import SAMPLES, ffmpeg, make_clip
from tests.warm import render as run

TINY = "dream: {{steps: 2, octaves: 2, jitter: 4, mask: {mask}, mask_feather: {feather}{extra}}}\n"


def half_mask(path: Path, w: int, h: int, clean: str = "left") -> Path:
    """Black (kept) on one half, white (dreamed) on the other."""
    m = np.full((h, w), 255, np.uint8)
    if clean == "left":
        m[:, : w // 2] = 0
    else:
        m[:, w // 2 :] = 0
    cv2.imwrite(str(path), m)
    return path


def source_frames(clip: Path, size: tuple[int, int]) -> list[np.ndarray]:
    info = probe(clip)
    with FrameReader(clip, info.fps, size) as r:
        return [f.copy() for _, f in r]


def test_still_keeps_the_clean_region_exact_and_dreams_the_rest(tmp_path):
    out = tmp_path / "o.png"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {out}\nsize: {{width: 128}}\n"
                   + TINY.format(mask=SAMPLES / "astronaut_mask.png", feather=2, extra=""))
    proc = run(cfg)
    assert proc.returncode == 0, proc.stderr
    src = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=128)).astype(int)
    got = read_image(out).astype(int)
    mask = cv2.resize(cv2.imread(str(SAMPLES / "astronaut_mask.png"), 0), (128, 128), interpolation=cv2.INTER_AREA)
    inside = cv2.erode((mask == 0).astype(np.uint8), np.ones((9, 9))) > 0  # past the feather
    outside = cv2.erode((mask == 255).astype(np.uint8), np.ones((9, 9))) > 0
    assert inside.sum() > 300 and np.abs(got - src)[inside].max() == 0
    assert np.abs(got - src)[outside].mean() > 3


def test_invert_swaps_what_dreams(tmp_path):
    mask = half_mask(tmp_path / "m.png", 64, 64, clean="left")
    outs = []
    for invert in ("false", "true"):
        out = tmp_path / f"o_{invert}.png"
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {out}\nsize: {{width: 64}}\n"
                       + TINY.format(mask=mask, feather=0, extra=f", mask_invert: {invert}"))
        assert run(cfg).returncode == 0
        outs.append(read_image(out).astype(int))
    src = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=64)).astype(int)
    plain, inverted = (np.abs(o - src) for o in outs)
    assert plain[:, :30].max() == 0 and plain[:, 34:].mean() > 3
    assert inverted[:, 34:].max() == 0 and inverted[:, :30].mean() > 3


def sliding_matte(folder: Path) -> Path:
    """A black box (kept) sliding 4 px a frame over white, 96x64 at 12 fps, 9 frames long."""
    for i in range(9):
        m = np.full((64, 96), 255, np.uint8)
        m[8:48, 4 * i : 4 * i + 40] = 0
        cv2.imwrite(str(folder / f"m{i:02d}.png"), m)
    matte = folder / "matte.mp4"
    ffmpeg("-framerate", "12", "-i", str(folder / "m%02d.png"), "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv444p", "-crf", "0", str(matte))
    return matte


def test_video_with_a_moving_matte_keeps_its_clean_region_in_every_frame(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", seconds=1.0, audio=False)  # 96x64, 12 frames
    matte = sliding_matte(tmp_path)  # shorter than the clip
    out = tmp_path / "frames"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {clip}\noutput: {out}\n" + TINY.format(mask=matte, feather=0, extra="")
                   + "video: {steps_after_first: 1}\n")
    proc = run(cfg)
    assert proc.returncode == 0, proc.stderr
    src = source_frames(clip, (64, 96))
    got = [read_image(p) for p in sorted(out.glob("*.png"))]
    assert len(got) == 12
    for i, (s, g) in enumerate(zip(src, got)):
        x = 4 * min(i, 8)  # the matte holds its last frame after frame 8
        box = (slice(12, 44), slice(x + 4, x + 36))  # inside the box, clear of its edges
        assert np.abs(g[box].astype(int) - s[box]).max() == 0, i
        assert np.abs(g[:, 80:].astype(int) - s[:, 80:]).mean() > 2 or x + 40 >= 80, i
    manifest = json.loads((tmp_path / "frames.manifest.json").read_text())
    assert manifest["mask_held_from"] == 9


def test_zoom_mask_is_in_screen_space(tmp_path):
    mask = half_mask(tmp_path / "m.png", 64, 64, clean="left")
    out = tmp_path / "frames"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {out}\nmode: zoom\nsize: {{width: 64}}\n"
                   "zoom: {frames: 4, zoom: 1.1}\n" + TINY.format(mask=mask, feather=0, extra=""))
    proc = run(cfg)
    assert proc.returncode == 0, proc.stderr
    start = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=64), even=True).astype(int)
    frames = [read_image(p).astype(int) for p in sorted(out.glob("*.png"))]
    assert len(frames) == 4
    for f in frames:
        assert np.abs(f[:, :30] - start[:, :30]).max() == 0  # the kept half does not zoom
    assert np.abs(frames[-1][:, 34:] - start[:, 34:]).mean() > 5  # the other half does


@pytest.mark.parametrize("make,needle", [
    (lambda p: p.write_text("not a picture"), "not a readable image"),
    (lambda p: None, "input file not found"),
])
def test_a_bad_mask_is_one_media_error_line(tmp_path, make, needle):
    mask = tmp_path / "mask.png"
    make(mask)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'o.png'}\nsize: {{width: 32}}\n"
                   + TINY.format(mask=mask, feather=0, extra=""))
    proc = run(cfg)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "mask.png" in proc.stderr and needle in proc.stderr
    assert not (tmp_path / "o.png").exists()


def test_a_mask_that_is_neither_image_nor_video_fails_before_any_job(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", seconds=0.5, audio=False)
    mask = tmp_path / "mask.bin"
    mask.write_bytes(b"\x00" * 100)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'o.mp4'}\n" + TINY.format(mask=mask, feather=0, extra=""))
    proc = run(cfg)
    assert proc.returncode == 3, proc.stderr
    assert "dream.mask" in proc.stderr and "not an image or a video" in proc.stderr
    assert not (tmp_path / "o.mp4.work").exists()


def test_mask_track_resizes_and_feathers():
    from dreamreel.media.mask import shape_mask

    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, 10:] = 255
    m = shape_mask(rgb, (40, 80), invert=False, feather=3.0)
    assert m.shape == (40, 80) and m.dtype == np.float32
    assert m[:, :20].max() < 0.01 and m[:, 60:].min() > 0.99
    assert 0.2 < m[20, 40] < 0.8  # the edge is soft
    assert np.allclose(shape_mask(rgb, (40, 80), invert=True, feather=0.0), 1 - shape_mask(rgb, (40, 80), False, 0.0))


def test_farm_tasks_and_the_assembly_report_where_the_matte_ran_out(tmp_path):
    """Segments dreamed by farm tasks: the assembling run dreams nothing itself, and its
    manifest still says from which frame the short matte held its last frame."""
    from dreamreel.cli import main

    clip = make_clip(tmp_path / "in.mp4", seconds=1.0, audio=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'o'}\n" + TINY.format(mask=sliding_matte(tmp_path), feather=0,
                                                                           extra="")
                   + "video: {steps_after_first: 1}\nrender: {segments: 2, preroll: 1, crossover: 1}\n")
    for segment in ("1", "0"):
        assert main(["render", str(cfg), "--segment", segment]) == 0
    assert main(["render", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "o.manifest.json").read_text())
    assert manifest["frames_dreamed"] == 0 and manifest["mask_held_from"] == 9
