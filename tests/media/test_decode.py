"""Decoding real clips made by ffmpeg: counts, ranges, rates, and broken files."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from dreamreel.errors import MediaError
from dreamreel.media.probe import probe
from dreamreel.media.reader import FrameReader
from tests.conftest import SAMPLES


def decode(path, size=None, start=0, count=None, expected=None):
    info = probe(path)
    size = size or (info.height, info.width)
    with FrameReader(path, info.fps, size, start, count, expected) as r:
        return {i: f.copy() for i, f in r}


def test_probe_the_sample_clip():
    info = probe(SAMPLES / "city.mp4")
    assert (info.width, info.height, info.fps, info.frames) == (640, 360, Fraction(25), 100)
    assert info.has_audio and info.video_codec == "h264"


def test_decode_every_frame_of_a_clip(clips):
    frames = decode(clips["plain"], expected=12)
    assert sorted(frames) == list(range(12))
    assert frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert frames[0].std() > 20  # testsrc2 is colourful, not blank


def test_a_range_decodes_the_same_pixels_as_the_whole(clips):
    whole = decode(clips["plain"])
    part = decode(clips["plain"], start=5, count=3)
    assert sorted(part) == [5, 6, 7]
    assert all(np.array_equal(part[i], whole[i]) for i in part)


def test_variable_rate_becomes_constant_at_the_average_rate(clips):
    info = probe(clips["vfr"])
    frames = decode(clips["vfr"])
    assert abs(len(frames) - info.frames) <= 1
    assert info.fps < 24  # frames were dropped, so the average rate is below the base rate


def test_truncated_clip_is_found_by_the_probe_before_decoding(tmp_path):
    data = (SAMPLES / "city.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov is at the front (+faststart): the header looks fine
    with pytest.raises(MediaError, match="truncated or corrupt"):
        probe(cut)
    probe(SAMPLES / "city.mp4")


def test_decoding_stops_at_the_first_damaged_frame(tmp_path):
    data = (SAMPLES / "city.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(SAMPLES / "city.mp4")
    with pytest.raises(MediaError, match="truncated"):
        with FrameReader(cut, info.fps, (90, 160), 0, None, info.frames) as r:
            for _ in r:
                pass


def test_a_shortfall_against_the_promise_is_an_error(clips):
    with pytest.raises(MediaError, match="container promises 30"):
        decode(clips["plain"], expected=30)


def test_text_file_named_mp4_is_a_media_error(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    with pytest.raises(MediaError, match="not a readable video"):
        probe(bad)


def test_audio_only_file_is_a_media_error():
    with pytest.raises(MediaError, match="has audio but no video"):
        probe(SAMPLES / "beat.wav")


def test_a_checkpoint_png_is_lossless_and_a_png():
    # Checkpoints are encoded for speed (zlib level 1, run-length only); a resumed render reads
    # them back as the frame a chain continues from, so they must decode to the same pixels.
    import cv2

    from dreamreel.media.images import encode_image

    with FrameReader(SAMPLES / "city.mp4", probe(SAMPLES / "city.mp4").fps, (160, 90), 5, 1, 1) as reader:
        rgb = next(iter(reader))[1]
    data = encode_image(rgb, ".png", checkpoint=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, rgb) and rgb.std() > 10
