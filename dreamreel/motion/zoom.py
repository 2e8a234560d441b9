"""The infinite-zoom transform: zoom, turn and drift about a centre, without decay or black corners."""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from dreamreel.motion.warp import pixel_grid, remap_lanczos


def zoom_matrix(h: int, w: int, zoom: float, rotate: float, translate: tuple[float, float],
                center: tuple[float, float]) -> np.ndarray:
    """2x3 float64 affine taking previous-frame pixel coordinates to this frame's.

    zoom: scale factor per frame (> 1 zooms in); rotate: degrees per frame, counter-clockwise;
    translate: (dx, dy) pixels per frame; center: (cx, cy) as fractions of the frame. Pixel i
    sits at coordinate i, so the centre of a w-wide frame is (w - 1) / 2.
    """
    cx, cy = center[0] * (w - 1), center[1] * (h - 1)
    a = math.radians(rotate)
    c, s = math.cos(a) * zoom, math.sin(a) * zoom
    # q = C + Z R (p - C) + t, with R a counter-clockwise turn on screen (y points down).
    return np.array([[c, s, cx - c * cx - s * cy + translate[0]],
                     [-s, c, cy + s * cx - c * cy + translate[1]]], np.float64)


def apply_affine(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Move float32 image [H,W,C] by the 2x3 affine ``m`` (source -> destination coordinates).

    Lanczos-4 resampling keeps repeated zooms sharp (bilinear halves the detail within a few
    dozen frames); mirrored edges mean no black corner ever enters the frame.
    """
    h, w = img.shape[:2]
    out = cv2.warpAffine(img, m.astype(np.float64), (w, h), flags=cv2.INTER_LANCZOS4,
                         borderMode=cv2.BORDER_REFLECT_101)
    return np.clip(out, 0.0, 1.0) if out.dtype == np.float32 else out


def warp_affine(img: torch.Tensor, m: np.ndarray) -> torch.Tensor:
    """``apply_affine`` on a tensor [1,C,H,W] float32 in [0,1], on its own device: OpenCV's
    warpAffine on the CPU (the same pixels as ever), on a GPU the same Lanczos-4 kernel in torch
    with mirrored edges, so a zoom's previous frame never leaves the device. Returns [1,C,H,W]
    in [0,1]."""
    if img.device.type == "cpu":
        hwc = np.ascontiguousarray(img[0].permute(1, 2, 0).numpy())
        return torch.from_numpy(apply_affine(hwc, m)).permute(2, 0, 1).unsqueeze(0)
    return remap_lanczos(img, affine_flow(img.shape[-2], img.shape[-1], m, img.device), "reflect").clamp_(0.0, 1.0)


def affine_flow(h: int, w: int, m: np.ndarray, device: torch.device) -> torch.Tensor:
    """The backward flow [1,2,H,W] (pixels) of the 2x3 affine ``m`` (source -> destination):
    each destination pixel's offset to where it comes from, made on ``device`` from the cached
    pixel grid and six numbers (nothing uploaded)."""
    inv = cv2.invertAffineTransform(np.asarray(m, np.float64))
    xs, ys = pixel_grid(h, w, device)
    fx = float(inv[0, 0] - 1) * xs + float(inv[0, 1]) * ys + float(inv[0, 2])
    fy = float(inv[1, 0]) * xs + float(inv[1, 1] - 1) * ys + float(inv[1, 2])
    return torch.stack([fx, fy])[None]


def motion_difference(prev: np.ndarray, cur: np.ndarray, m: np.ndarray, margin: float = 0.1) -> float:
    """Mean |cur - prev moved by m| over the inner part of the frame (float32 [H,W,3] in [0,1]):
    how much a frame differs from its predecessor once the frame-to-frame motion is taken out."""
    moved = apply_affine(prev, m)
    h, w = cur.shape[:2]
    y, x = int(h * margin), int(w * margin)
    return float(np.abs(moved[y : h - y, x : w - x] - cur[y : h - y, x : w - x]).mean())


def loop_weight(k: int, length: int) -> float:
    """How far tail frame k of ``length`` is pulled onto the loop's start: smoothstep, 1 at the end."""
    u = (k + 1) / length
    return u * u * (3 - 2 * u)
