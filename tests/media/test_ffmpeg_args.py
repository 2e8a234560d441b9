"""ffmpeg command lines are built by pure functions: checked as argument lists, no ffmpeg run."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pipeline.media.encode import audio_plan
from pipeline.media.ffmpeg import decode_args, encode_gif_args, encode_mp4_args, encode_webp_args, fps_arg
from pipeline.media.probe import exact_rate, parse_probe


def test_fps_arg_is_exact():
    assert fps_arg(Fraction(30000, 1001)) == "30000/1001" and fps_arg(Fraction(25)) == "25"


def test_decode_args_trim_by_frame_after_the_fps_filter():
    args = decode_args(Path("in.mp4"), Fraction(30000, 1001), (270, 480), start=10, count=5)
    vf = args[args.index("-vf") + 1]
    assert vf.startswith("fps=30000/1001,trim=start_frame=10:end_frame=15,setpts=PTS-STARTPTS,scale=480:270")
    assert args[args.index("-fps_mode") + 1] == "passthrough"
    assert args[-4:] == ["rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    assert "trim" not in " ".join(decode_args(Path("in.mp4"), Fraction(25), (2, 2)))


def test_mp4_args_h264_yuv420p_bt709_faststart_with_audio_cut():
    args = encode_mp4_args("f/%06d.png", Fraction(24000, 1001), Path("o.mp4"), 18, "medium",
                           (Path("in.mp4"), 2.5, False), duration=4.0)
    s = " ".join(args)
    assert "-c:v libx264" in s and "-crf 18" in s and "-pix_fmt yuv420p" in s and "-colorspace bt709" in s
    assert "-movflags +faststart" in s and "-framerate 24000/1001" in s
    assert "-ss 2.500000 -i in.mp4" in s and "-map 1:a:0?" in s and "-c:a aac" in s and "-t 4.000000" in s
    silent = encode_mp4_args("f/%06d.png", Fraction(25), Path("o.mp4"), 23, "fast", None, duration=1.0)
    assert "-map 1:a:0?" not in silent and "-c:a" not in silent


def test_gif_and_webp_loop_forever():
    gif = encode_gif_args("f/%06d.png", Fraction(25), Path("o.gif"))
    assert "palettegen" in " ".join(gif) and gif[gif.index("-loop") + 1] == "0"
    webp = encode_webp_args("f/%06d.png", Fraction(25), Path("o.webp"))
    assert "libwebp_anim" in webp and webp[webp.index("-loop") + 1] == "0"


def test_audio_plan(tmp_path):
    src = tmp_path / "in.mp4"
    assert audio_plan("none", src, True, "aac", 0.0) is None
    assert audio_plan("source", src, False, None, 0.0) is None
    assert audio_plan("source", src, True, "aac", 0.0) == (src, 0.0, True)
    assert audio_plan("source", src, True, "pcm_s16le", 0.0)[2] is False
    assert audio_plan("source", src, True, "aac", 1.0)[2] is False


def test_exact_rate_snaps_ntsc_rates():
    assert exact_rate(29.97) == Fraction(30000, 1001)
    assert exact_rate(23.98) == Fraction(24000, 1001)
    assert exact_rate(25.0) == Fraction(25)


def test_parse_probe_reads_size_rate_audio_and_rotation():
    text = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mov':
  Duration: 00:00:10.01, start: 0.000000, bitrate: 1000 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709), 1920x1080, 29.97 fps, 29.97 tbr, 90k tbn (default)
      Side data:
        displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s (default)
"""
    info = parse_probe(text, Path("x.mov"))
    assert (info.width, info.height) == (1080, 1920)
    assert info.fps == Fraction(30000, 1001) and info.frames == 300 and info.has_audio and info.audio_codec == "aac"
