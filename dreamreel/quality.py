"""Picture-quality measures of rendered frames: how sharp a frame is, and how much of its shot's
sharpness a carried frame keeps. Pure array code (numpy, OpenCV), shared by the benchmarks and
the tests."""
from __future__ import annotations

import cv2
import numpy as np

from dreamreel.motion.consistency import pixel_axes

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


def dream_strength(out: np.ndarray, raw: np.ndarray) -> float:
    """RMS of what the dream changed, out - raw (RGB uint8 [H,W,3] each), in units of full
    scale (0 = untouched, 1 = black to white everywhere)."""
    d = out.astype(np.float32) - raw.astype(np.float32)
    return float(np.sqrt(np.mean(d * d)) / 255.0)


_CHANNEL_MEAN = np.full((1, 3), 1 / 3, np.float32)


def warp_flicker(out: np.ndarray, prev_out: np.ndarray, flow_back: np.ndarray | None,
                 trust: np.ndarray | None = None) -> float:
    """Mean absolute difference between ``out`` and the previous output carried onto it along
    ``flow_back`` ([H,W,2], this frame's pixel -> where it was; None: no motion), weighted by
    ``trust`` ([H,W] in [0,1], 1 where the flow holds), in units of full scale. The warp error
    E_warp of the coherence benchmark, per frame."""
    prev = prev_out
    if flow_back is not None:
        h, w = out.shape[:2]
        xs, ys = pixel_axes(h, w)
        prev = cv2.remap(prev_out, xs + flow_back[..., 0], ys + flow_back[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    # The channel mean as one OpenCV pass and the weighted sum as a dot product: the report
    # measures this for every frame beside the render, and numpy's temporaries tripled its cost.
    d = cv2.transform(cv2.absdiff(out, prev).astype(np.float32), _CHANNEL_MEAN)
    if trust is None:
        return float(d.mean() / 255.0)
    return float(np.dot(d.ravel(), trust.ravel().astype(np.float32, copy=False)) / max(float(trust.sum()), 1e-6) / 255.0)
