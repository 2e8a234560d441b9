"""Editor formats: ProRes in MOV with PCM audio, and the source's timecode carried to the output."""
from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from dreamreel.media.ffmpeg import ffmpeg_exe
from dreamreel.media.probe import parse_framecrc, probe
from dreamreel.media.timecode import frames_to_timecode, offset_timecode, timecode_to_frames
from tests.conftest import ffmpeg
from tests.warm import render as run

TINY = "dream: {steps: 1, octaves: 1, jitter: 2}\nvideo: {steps_after_first: 1, preset: ultrafast}\n"


@pytest.fixture(scope="module")
def tc_clip(tmp_path_factory) -> Path:
    """1 s at 25 fps, 96x64 H.264 with AAC audio, start timecode 01:00:00:00 (a tmcd track)."""
    path = tmp_path_factory.mktemp("tc") / "tc.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-timecode", "01:00:00:00", str(path))
    return path


def stream_facts(path: Path) -> tuple[str, str]:
    """(ffmpeg's one-line description of the video stream, of the audio stream): profile and pixel
    format of our own output, which the framecrc listing does not name."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("Stream #")]
    video = next(ln for ln in lines if ": Video: " in ln)
    audio = next((ln for ln in lines if ": Audio: " in ln), "")
    return video, audio


def decoded_frames(path: Path) -> int:
    out = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:V:0",
                          "-f", "framecrc", "-"], capture_output=True, text=True).stdout
    return len(parse_framecrc(out)[0].packets)


def test_mov_is_prores_422_hq_with_pcm_audio_and_the_shifted_timecode(tmp_path, tc_clip):
    out = tmp_path / "o.mov"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {tc_clip}\noutput: {out}\nframes: {{start: 5, count: 10}}\n{TINY}")
    proc = run(cfg)
    assert proc.returncode == 0, proc.stderr
    info = probe(out)
    assert (info.video_codec, info.width, info.height, info.fps) == ("prores", 96, 64, Fraction(25))
    assert decoded_frames(out) == 10
    assert info.audio_codec == "pcm_s24le"
    video, _ = stream_facts(out)
    assert "prores (HQ)" in video and "yuv422p10le" in video
    assert info.timecode == "01:00:00:05"  # the source's, moved on by frames.start
    manifest = json.loads((tmp_path / "o.mov.manifest.json").read_text())
    assert manifest["timecode"] == "01:00:00:05" and manifest["codec"] == "prores"


def test_mp4_carries_the_timecode_too_and_h264_in_mov_is_allowed(tmp_path, tc_clip):
    for name, codec, want in (("o.mp4", "auto", "h264"), ("h.mov", "h264", "h264")):
        out = tmp_path / name
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"input: {tc_clip}\noutput: {out}\nframes: {{start: 3, count: 4}}\n{TINY}"
                       f"video: {{codec: {codec}, preset: ultrafast, steps_after_first: 1}}\n".replace(
                           "video: {steps_after_first: 1, preset: ultrafast}\n", ""))
        proc = run(cfg)
        assert proc.returncode == 0, proc.stderr
        info = probe(out)
        assert info.video_codec == want and info.timecode == "01:00:00:03" and decoded_frames(out) == 4


def test_prores_4444_is_full_chroma(tmp_path, tc_clip):
    out = tmp_path / "o.mov"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {tc_clip}\noutput: {out}\nframes: {{count: 3}}\n{TINY}".replace(
        "video: {steps_after_first: 1, preset: ultrafast}", "video: {steps_after_first: 1, codec: prores4444}"))
    assert run(cfg).returncode == 0
    video, _ = stream_facts(out)
    # ffmpeg's ProRes decoder reports 4444 as 12-bit whatever depth went in; 4:4:4 is the point.
    assert "prores (4444)" in video and "yuv444p1" in video


def test_prores_needs_a_mov_output(tmp_path, tc_clip):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {tc_clip}\noutput: {tmp_path / 'o.mp4'}\nvideo: {{codec: prores}}\n")
    proc = run(cfg)
    assert proc.returncode == 2 and "video.codec: prores is written into a .mov output" in proc.stderr


def test_a_zoom_renders_to_prores_without_a_timecode(tmp_path):
    out = tmp_path / "z.mov"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"output: {out}\nmode: zoom\nsize: {{width: 32, height: 32}}\nzoom: {{frames: 3}}\n"
                   "dream: {steps: 1, octaves: 1}\n")
    assert run(cfg).returncode == 0
    info = probe(out)
    assert info.video_codec == "prores" and info.timecode is None and decoded_frames(out) == 3


def test_timecode_arithmetic_with_drop_frame():
    ntsc = Fraction(30000, 1001)
    assert offset_timecode("01:02:03:04", 30, Fraction(25)) == "01:02:04:09"
    assert offset_timecode("00:00:59;29", 1, ntsc) == "00:01:00;02"  # frames 0 and 1 are dropped
    assert offset_timecode("00:09:59;29", 1, ntsc) == "00:10:00;00"  # but not at each tenth minute
    for n in (0, 1799, 1800, 17982, 17983, 107892, 2_000_000):
        assert timecode_to_frames(frames_to_timecode(n, ntsc, drop=True), ntsc) == (n % (24 * 107892), True)
    with pytest.raises(ValueError):
        timecode_to_frames("01:00:00:30", Fraction(25))


def test_a_mov_with_h264_from_an_opus_source_encodes(tmp_path):
    from dreamreel.cli import main
    from dreamreel.media.probe import probe
    from tests.conftest import ffmpeg

    src = tmp_path / "opus.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=12:duration=0.5", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000:duration=0.5", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "libopus", "-shortest", str(src))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {src}\noutput: {tmp_path / 'o.mov'}\ndream: {{steps: 1, octaves: 1, jitter: 2}}\n"
                   "video: {codec: h264, preset: ultrafast}\n")
    assert main(["render", str(cfg)]) == 0
    info = probe(tmp_path / "o.mov")
    assert info.has_audio and info.audio_codec == "aac"
