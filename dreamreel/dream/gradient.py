"""Shaping the raw image gradient into a step: smoothing and per-sample normalisation."""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F


@lru_cache(maxsize=32)
def _gaussian_kernel(sigma: float, radius: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Cached: every step of every frame blurs with the same few kernels.
    t = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [B,C,H,W] with ``sigma`` in pixels, reflect-padded edges."""
    if sigma <= 0:
        return x
    radius = max(1, int(math.ceil(2.5 * sigma)))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    if radius < 1:
        return x
    k = _gaussian_kernel(float(sigma), radius, x.device, x.dtype)
    c = x.shape[1]
    kx = k.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = k.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kx, groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), ky, groups=c)


def normalize_mean_abs(g: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each sample of g [B,C,H,W] to a mean absolute value of 1."""
    return g / (g.abs().mean(dim=(1, 2, 3), keepdim=True) + eps)


def _down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(gaussian_blur(x, 1.0), 2, ceil_mode=True)


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def normalize_laplacian(g: torch.Tensor, levels: int = 4, eps: float = 1e-8) -> torch.Tensor:
    """Laplacian-pyramid normalisation (Mordvintsev): each band of g [B,C,H,W] scaled to unit std.

    Evens out the gradient across spatial frequencies, so coarse structure grows as fast as fine
    texture; the result is then scaled to a mean absolute value of 1 per sample.
    """
    bands = []
    cur = g
    for _ in range(levels - 1):
        if min(cur.shape[-2:]) < 4:
            break
        low = _down(cur)
        bands.append(cur - _up(low, cur.shape[-2:]))
        cur = low
    bands.append(cur)
    out = None
    for band in reversed(bands):
        band = band / (band.std(dim=(1, 2, 3), keepdim=True) + eps)
        out = band if out is None else _up(out, band.shape[-2:]) + band
    return normalize_mean_abs(out, eps)
