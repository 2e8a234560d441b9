"""Picture-quality measures of rendered frames: how sharp a frame is, and how much of its shot's
sharpness a carried frame keeps. Pure array code (numpy, OpenCV), shared by the benchmarks and
the tests."""
from __future__ import annotations

import cv2
import numpy as np

# Frames of a shot before its sharpness counts as settled (retention): the first few carried
# frames still hold much of the fresh dream.
SETTLE_FRAMES = 10


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the luma of an RGB uint8 frame [H,W,3] (a standard focus
    measure; higher is sharper, 0 for a flat frame). Units: squared 8-bit grey levels."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(gray, cv2.CV_32F, ksize=1).var())


def sharpness_ratios(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> np.ndarray:
    """r_t = sharpness(output t) / sharpness(input t) per frame, [T] (1.0 = as sharp as the footage)."""
    return np.array([sharpness(o) / max(sharpness(i), 1e-6) for o, i in zip(outputs, inputs)])


def shot_sharpness(r: np.ndarray, starts: list[int], settle: int = SETTLE_FRAMES) -> list[tuple[float, float]]:
    """Per shot long enough to settle (more than ``settle`` frames), (retention, kept): kept is the
    mean r_t over the shot's frames from the ``settle``-th on, retention that over r at the shot's
    fresh first frame. ``starts``: the first frame of every shot (0 and each cut)."""
    ends = [*starts[1:], len(r)]
    out = []
    for a, e in zip(starts, ends):
        if e - a > settle:
            kept = float(r[a + settle : e].mean())
            out.append((kept / max(float(r[a]), 1e-6), kept))
    return out
