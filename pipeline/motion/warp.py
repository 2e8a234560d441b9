"""Warping images by a flow field, on whatever device the image lives."""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F


def flow_to_tensor(flow, device: torch.device) -> torch.Tensor:
    """A numpy flow [H,W,2] (dx, dy pixels) -> tensor [1,2,H,W] float32 on ``device``."""
    return torch.from_numpy(flow).to(device=device, dtype=torch.float32).permute(2, 0, 1).unsqueeze(0)


@lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                            torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    return xs, ys


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(x) = img(x + flow(x)), bilinear, edges clamped.

    img [B,C,H,W]; flow [B,2,H,W] in pixels (dx, dy), e.g. the flow from the current frame to the
    previous one, which carries the previous frame's content onto the current frame.
    """
    b, _, h, w = img.shape
    xs, ys = _pixel_grid(h, w, img.device)
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1).to(img.dtype)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)
