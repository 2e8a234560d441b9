"""Which pixels a flow can be trusted for: the forward-backward check of Ruder et al. (2016)."""
from __future__ import annotations

import cv2
import numpy as np


def sample_flow(flow: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Bilinearly sample a flow field [H,W,2] at float positions ``at`` [H,W,2] (x, y pixels)."""
    return cv2.remap(flow, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def pixel_grid(h: int, w: int) -> np.ndarray:
    """[H,W,2] float32 (x, y) coordinates of every pixel."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.stack([xs, ys], axis=-1)


def consistency_mask(back: np.ndarray, fwd: np.ndarray, motion_boundaries: bool = True) -> np.ndarray:
    """Reliability of ``back`` (flow from frame t to t-1) given ``fwd`` (flow from t-1 to t).

    Both [H,W,2] float32 pixels. Returns float32 [H,W]: 1 where following ``back`` and then
    ``fwd`` returns to the start (|w + w~|^2 < 0.01(|w|^2 + |w~|^2) + 0.5), 0 where it does not
    (occluded or disoccluded), at motion boundaries, and where ``back`` leaves the frame.
    """
    h, w = back.shape[:2]
    target = pixel_grid(h, w) + back
    fwd_at = sample_flow(fwd, target)
    err = np.sum((back + fwd_at) ** 2, axis=-1)
    bound = 0.01 * (np.sum(back**2, axis=-1) + np.sum(fwd_at**2, axis=-1)) + 0.5
    ok = err < bound
    inside = (target[..., 0] >= 0) & (target[..., 0] <= w - 1) & (target[..., 1] >= 0) & (target[..., 1] <= h - 1)
    ok &= inside
    if motion_boundaries:
        ok &= ~motion_boundary(back)
    return ok.astype(np.float32)


def motion_boundary(flow: np.ndarray) -> np.ndarray:
    """True where the flow [H,W,2] changes sharply: |grad u|^2 + |grad v|^2 > 0.01|w|^2 + 0.002."""
    du = np.gradient(flow[..., 0])
    dv = np.gradient(flow[..., 1])
    grad2 = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2
    return grad2 > 0.01 * np.sum(flow**2, axis=-1) + 0.002


def feather_trust(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Spread trust ``mask`` [H,W] float32 in [0,1] into the untrusted pixels around it with a
    Gaussian of ``sigma`` pixels (never lowering it); returns the same shape and range.

    The forward-backward test misses scattered pixels where the flow is fine but noisy, and a
    missed pixel drops the carried detail and dreams afresh: a speck of flicker each frame. Small
    holes in trusted flow keep most of their detail; a large occluded region stays untrusted
    inside. On the coherence suite (176-320 px) sigma 4 took E_warp from 0.00059 to 0.00042 on
    the blank wall and from 0.00054 to 0.00036 on the occluder."""
    if sigma <= 0:
        return mask
    return np.maximum(mask, cv2.GaussianBlur(mask, (0, 0), sigma))
