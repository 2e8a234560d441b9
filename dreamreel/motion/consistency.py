"""Which pixels a flow can be trusted for: the forward-backward check of Ruder et al. (2016)."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


# feather_trust blurs on a grid coarser by sigma // FEATHER_GRID once that is 2 or more: the
# 16-px feather of frames from 640 px up. At 4 the 8-px feather of 320-px frames went coarse too,
# and the blank-wall clip of the coherence suite moved from 3.70x to 3.72x its input's E_warp,
# just past its bound: below 640 px the feathers stay exact.
FEATHER_GRID = 8


@lru_cache(maxsize=4)
def pixel_axes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of every pixel, [H,W] float32 each; read-only, shared between calls (a remap's
    map is these plus a flow, every frame)."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def forward_at(back: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """``fwd`` (flow from frame t-1 to t) read where ``back`` (flow from t to t-1) lands, bilinear,
    edges replicated: both [H,W,2] float32 pixels, returns the same. The round trip's second leg,
    which the trust check and the mean flow both take."""
    h, w = back.shape[:2]
    xs, ys = pixel_axes(h, w)
    return cv2.remap(fwd, xs + back[..., 0], ys + back[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(back: np.ndarray, fwd: np.ndarray, motion_boundaries: bool = True,
                     fwd_at: np.ndarray | None = None) -> np.ndarray:
    """Reliability of ``back`` (flow from frame t to t-1) given ``fwd`` (flow from t-1 to t).

    Both [H,W,2] float32 pixels; ``fwd_at``: ``forward_at(back, fwd)`` when the caller has it.
    Returns float32 [H,W]: 1 where following ``back`` and then ``fwd`` returns to the start
    (|w + w~|^2 < 0.01(|w|^2 + |w~|^2) + 0.5), 0 where it does not (occluded or disoccluded), at
    motion boundaries, and where ``back`` leaves the frame.
    """
    h, w = back.shape[:2]
    xs, ys = pixel_axes(h, w)
    tx, ty = xs + back[..., 0], ys + back[..., 1]
    if fwd_at is None:
        fwd_at = forward_at(back, fwd)
    # err < bound, as err - 0.01(|w|^2 + |w~|^2) < 0.5 on both components at once: the frame
    # loop computes this for every frame beside the dream, and fewer temporaries is 4x faster.
    d = back + fwd_at
    d *= d
    d -= 0.01 * (back * back + fwd_at * fwd_at)
    ok = (d[..., 0] + d[..., 1]) < 0.5
    ok &= (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    if motion_boundaries:
        ok &= ~motion_boundary(back)
    return ok.astype(np.float32)


def symmetric_flow(back: np.ndarray, fwd_at: np.ndarray, trust: np.ndarray) -> np.ndarray:
    """``back`` (flow from frame t to t-1, [H,W,2] pixels) averaged with the inverse of the
    forward flow, read where ``back`` lands (``fwd_at``: ``forward_at``), where ``trust`` [H,W]
    in [0,1] says the two agree: two estimates of one motion, whose mean is the better one.
    Returns [H,W,2] float32.

    Against the exact motion of the suite's synthetic clips (scripts/bench_coherence.py's
    camera moves, DIS fine at 320x180) the mean endpoint error falls from 0.019 to 0.009 px on
    a pan, 0.040 to 0.028 on a zoom and turn, and 3-5 % on blank surfaces, where both
    estimates err alike."""
    return back - (0.5 * trust)[..., None] * (back + fwd_at)


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
    h, w = mask.shape
    k = int(sigma // FEATHER_GRID)
    if k < 2 or min(h, w) < 4 * k:
        return np.maximum(mask, cv2.GaussianBlur(mask, (0, 0), sigma))
    # A wide blur on a grid k times coarser, brought back bilinearly: the same spread to within
    # a few thousandths of trust (the box and the bilinear add ~k^2/4 to sigma^2 of 64 k^2), at a
    # fraction of the time, which matters at 640 px and up where sigma is 8-16 px every frame.
    small = cv2.resize(mask, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k)
    return np.maximum(mask, cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
