"""Audio envelopes on audio with clicks at known times, made with the bundled ffmpeg."""
from __future__ import annotations

import numpy as np

from pipeline.envelopes import envelopes, onset_frames
from pipeline.media.audio import ANALYSIS_RATE, read_audio
from tests.conftest import SAMPLES, ffmpeg

CLICKS = [0.25, 0.7, 1.3, 1.85, 2.4, 3.05]


def test_clicks_are_found_within_one_frame(tmp_path):
    # Short 2 kHz bursts, 20 ms long, at the click times, in a 44.1 kHz WAV.
    expr = "+".join(f"between(t,{c},{c + 0.02})*sin(2*PI*2000*t)*0.8" for c in CLICKS)
    wav = tmp_path / "clicks.wav"
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc='{expr}':s=44100:d=3.5", str(wav))
    fps = 24
    env = envelopes(read_audio(wav), ANALYSIS_RATE, fps, int(3.5 * fps))
    found = onset_frames(env)
    expected = [int(c * fps) for c in CLICKS]
    assert len(found) == len(expected)
    assert all(abs(f - e) <= 1 for f, e in zip(found, expected))


def test_steady_beat_gives_its_tempo_and_pulses():
    env = envelopes(read_audio(SAMPLES / "beat.wav"), ANALYSIS_RATE, 24, 8 * 24)
    assert abs(env.tempo - 120) < 3
    pulses = np.flatnonzero(env.beat == 1.0)
    assert len(pulses) >= 14 and np.all(np.abs(np.diff(pulses) - 12) <= 1)
    assert 0.0 <= env.rms.min() and env.rms.max() <= 1.0


def test_silence_gives_zero_envelopes():
    env = envelopes(np.zeros(ANALYSIS_RATE * 2, np.float32), ANALYSIS_RATE, 25, 50)
    assert env.tempo == 0 and not env.rms.any() and not env.onset.any() and not env.beat.any()
