"""ffmpeg command lines are built by pure functions: checked as argument lists, no ffmpeg run."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from dreamreel.media.encode import audio_plan
from dreamreel.media.ffmpeg import decode_args, encode_gif_args, encode_video_args, encode_webp_args, fps_arg
from dreamreel.media.probe import exact_rate, parse_framecrc


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
    args = encode_video_args("f/%06d.png", Fraction(24000, 1001), Path("o.mp4"), 18, "medium",
                           (Path("in.mp4"), 2.5, False), duration=4.0)
    s = " ".join(args)
    assert "-c:v libx264" in s and "-crf 18" in s and "-pix_fmt yuv420p" in s and "-colorspace bt709" in s
    assert "-movflags +faststart" in s and "-framerate 24000/1001" in s
    assert "-ss 2.500000 -i in.mp4" in s and "-map 1:a:0?" in s and "-c:a aac" in s and "-t 4.000000" in s
    silent = encode_video_args("f/%06d.png", Fraction(25), Path("o.mp4"), 23, "fast", None, duration=1.0)
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


def test_parse_framecrc_reads_streams_and_packets():
    text = """#extradata 0:       37, 0xcd780a3a
#software: Lavf63.1.102
#tb 0: 1/12288
#media_type 0: video
#codec_id 0: h264
#dimensions 0: 1920x1080
#sar 0: 1/1
#tb 1: 1/44100
#media_type 1: audio
#codec_id 1: aac
#sample_rate 1: 44100
0,      -2048,          0,     1024,     2917, 0x1d4cf0b8, F=0x1
1,          0,          0,     1024,       21, 0x6f8d0b47
0,      -1024,       2048,     1024,      513, 0x0c47bdc8
"""
    streams = parse_framecrc(text)
    v, a = streams[0], streams[1]
    assert (v.media_type, v.codec, v.width, v.height, v.tb) == ("video", "h264", 1920, 1080, Fraction(1, 12288))
    assert v.packets == ((0, 1024), (2048, 1024))
    assert (a.media_type, a.codec, a.packets) == ("audio", "aac", ((0, 1024),))


def test_opus_and_flac_sources_are_re_encoded_not_copied():
    """MOV cannot carry Opus or FLAC and many players cannot play them in MP4: they become AAC,
    so a .mov with codec h264 from such a source encodes instead of failing after the dream."""
    src = Path("in.mkv")
    for codec in ("opus", "flac"):
        plan = audio_plan("source", src, True, codec, 0.0)
        assert plan == (src, 0.0, False)
        args = encode_video_args("d/%06d.png", Fraction(24), Path("o.mov"), 18, "medium", plan, duration=2.0)
        assert args[args.index("-c:a") + 1] == "aac"
    assert audio_plan("source", src, True, "aac", 0.0) == (src, 0.0, True)  # AAC is still copied
