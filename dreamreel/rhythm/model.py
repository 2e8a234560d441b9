"""The learned beat and downbeat activations: the network of rhythm/network.py with the weights
scripts/train_beats.py wrote (dreamreel/models/beatnet.pt, in the package, read offline).

Any length of track in bounded memory: the spectrogram and the network run a chunk of CHUNK frames
at a time, each with the network's receptive field of context either side, so a chunk's activations
equal those of the whole track at once. Runs on the CPU: a minute of audio is a few hundredths of
a second of network.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from dreamreel.rhythm.network import BeatNet
from dreamreel.rhythm.spectrum import frame_count, log_bands

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "beatnet.pt"
RATE = 22050  # the rate the network was trained at (its bands and frames are this rate's)
CHUNK = 6000  # frames a chunk: a minute of audio


@contextmanager
def flushed_subnormals():
    """Subnormal floats flushed to zero while the network runs: its ELUs make them, and x86
    computes them 10-12x slower (a minute of audio took 0.4 s instead of 0.04). Restored after,
    so nothing else in the process sees the setting (torch has no getter: off is its default)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@lru_cache(maxsize=2)
def load_net(path: Path = WEIGHTS) -> tuple[BeatNet, dict]:
    """The network with its weights from ``path`` (evaluation mode, CPU), and its card (a dict:
    what it was trained on, its validation scores, the commit)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    card = json.loads(blob["card"])
    h = card["hparams"]
    net = BeatNet(h["bands"], h["channels"], h["layers"], h["kernel"], h["dropout"])
    net.load_state_dict(blob["model"])
    return net.eval(), card


def activations(samples: np.ndarray, rate: int, path: Path = WEIGHTS) -> np.ndarray:
    """float32 [2, frames] in [0,1]: per spectral frame (rhythm/spectrum.py's, 100 a second), how
    likely a beat (row 0) and a downbeat (row 1) starts there, for mono ``samples`` at ``rate`` Hz."""
    x = np.asarray(samples, np.float32)
    if rate != RATE:
        n = int(round(x.size * RATE / rate))
        x = np.interp(np.arange(n) * (rate / RATE), np.arange(x.size), x).astype(np.float32)
    net, _ = load_net(path)
    n = frame_count(x)
    out = np.zeros((2, n), np.float32)
    ctx = net.receptive + 1  # and one frame more: the first input frame differences its neighbour
    with torch.inference_mode(), flushed_subnormals():
        for a in range(0, n, CHUNK):
            b = min(n, a + CHUNK)
            lo, hi = max(0, a - ctx), min(n, b + ctx)
            bands = torch.from_numpy(log_bands(x, RATE, lo, hi))[None]
            out[:, a:b] = torch.sigmoid(net(bands))[0, :, a - lo : b - lo].numpy()
    return out
