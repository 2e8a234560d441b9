"""Overlapping, feathered tiles, so a frame of any size is dreamed within bounded memory."""
from __future__ import annotations

from functools import lru_cache

import torch


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets (pixels) of tiles of size ``tile`` covering ``length`` with >= ``overlap`` overlap."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    n = -(-(length - overlap) // stride)
    n = max(n, 2)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


@lru_cache(maxsize=16)
def feather(h: int, w: int, ramp: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Blend weights [1,1,h,w]: 1 inside, falling linearly to near 0 over ``ramp`` pixels at the edges."""
    def axis(n: int) -> torch.Tensor:
        i = torch.arange(n, device=device, dtype=dtype)
        edge = torch.minimum(i + 1, n - i)
        return (edge / max(ramp, 1)).clamp(max=1.0)

    return (axis(h)[:, None] * axis(w)[None, :])[None, None]


def tiled(fn, x: torch.Tensor, tile: int, overlap: int, batch: int = 4) -> torch.Tensor:
    """Apply ``fn(stack, rows)`` ([n,3,th,tw] -> same shape; ``rows`` a long tensor [n] on x's
    device, the sample of x each of the n came from, or None for all of x in order) over tiles of
    x [B,3,H,W] and blend the results.

    At most ``batch`` tiles' worth of pixels (``batch`` x ``tile`` squared) go through ``fn`` at
    once, whole frames included: frames no larger than ``tile`` go through whole, as many
    together as fit, so a batch of four 1080p frames is not one 13 GB pass.
    """
    b, c, h, w = x.shape
    if h <= tile and w <= tile:
        per = max(1, (batch * tile * tile) // (h * w))
        if per >= b:
            return fn(x, None)
        parts = [fn(x[k : k + per], torch.arange(k, min(b, k + per), device=x.device)) for k in range(0, b, per)]
        return torch.cat(parts)
    th, tw = min(tile, h), min(tile, w)
    boxes = [(y, xx) for y in tile_starts(h, tile, overlap) for xx in tile_starts(w, tile, overlap)]
    weight = feather(th, tw, overlap // 2 if overlap else 1, x.device, x.dtype)
    out = torch.zeros_like(x)
    norm = torch.zeros((1, 1, h, w), device=x.device, dtype=x.dtype)
    crops = [(i, y, xx) for i in range(b) for (y, xx) in boxes]
    for k in range(0, len(crops), batch):
        part = crops[k : k + batch]
        stack = torch.stack([x[i, :, y : y + th, xx : xx + tw] for i, y, xx in part])
        # Made on the device from a range: no host list is copied there at every step.
        rows = torch.div(torch.arange(k, k + len(part), device=x.device), len(boxes), rounding_mode="floor")
        res = fn(stack, rows)
        for j, (i, y, xx) in enumerate(part):
            out[i, :, y : y + th, xx : xx + tw] += res[j] * weight[0]
    for y, xx in boxes:
        norm[:, :, y : y + th, xx : xx + tw] += weight
    return out / norm
