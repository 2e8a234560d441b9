"""Audio envelopes on audio with clicks at known times, made with the bundled ffmpeg."""
from __future__ import annotations

import numpy as np

from dreamreel.envelopes import envelopes, onset_frames
from dreamreel.media.audio import ANALYSIS_RATE, read_audio
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


def test_a_two_hour_timeline_is_made_in_bounded_memory_and_time(tmp_path):
    """A DJ set or an album is a normal input: `--timeline` over two hours of audio (a beep every
    second, made here with ffmpeg) at 30 fps runs in a child under address-space and CPU limits
    (a quadratic peak picker once hung it for half an hour; the whole spectrum at once needed
    about 20 GB), holds one beat a second, and peaks in memory at a small multiple of the samples'
    own 635 MB."""
    import json
    import resource
    import subprocess
    import sys

    from tests.conftest import ROOT

    track = tmp_path / "set.flac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=22050:duration=7200",
           "-ac", "1", "-c:a", "flac", str(track))
    cfg = tmp_path / "set.yaml"
    cfg.write_text(f"mode: zoom\noutput: {tmp_path / 'set.mp4'}\naudio: {track}\n"
                   "zoom: {frames: 216000, fps: 30, zoom: '1.01 + 0.03*beat'}\n")
    limit = 6 << 30  # the imports alone reserve 3.6 GB of address space

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (240, 240))

    # The CLI's own main in the child, which then reports its own peak (RUSAGE_CHILDREN here would
    # be the largest of every child this test process ever ran).
    code = ("import resource, sys\nfrom dreamreel.cli import main\n"
            f"code = main(['timeline', {str(cfg)!r}])\n"
            "print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          preexec_fn=limits, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    status, peak = (int(v) for v in proc.stdout.split())
    assert status == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "set.mp4.timeline.json").read_text())
    assert data["frames"] == 216000 and abs(data["audio"]["tempo"] - 60) < 0.5
    assert abs(len(data["beats"]) - 7200) < 10
    # A note made after the page's data once reached neither the page, the JSON nor stderr.
    note = "audio longer than 60 minutes is not embedded in the page"
    assert note in data["notes"] and f"dreamreel: note: {note}" in proc.stderr
    # 1.9 GB here: the samples, the decode buffer's growth, the tracker's back-pointers (60 MB) and
    # the page's data for 216,000 frames.
    assert peak < 4 * 7200 * 22050 * 4, peak >> 20
