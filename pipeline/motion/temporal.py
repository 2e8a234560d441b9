"""Tying a frame's dream to the previous one along the optical flow (all tensors on one device)."""
from __future__ import annotations

import torch


def carry_residual(raw: torch.Tensor, prev_out_w: torch.Tensor, prev_raw_w: torch.Tensor,
                   mask: torch.Tensor, carry: float) -> torch.Tensor:
    """Warm start of a frame: its raw pixels plus the previous dream's detail, moved along the flow.

    raw, prev_out_w (previous output warped onto this frame), prev_raw_w (previous raw frame
    warped likewise): [B,3,H,W] in [0,1]; mask [B,1,H,W] in [0,1], 0 where the flow is not to be
    trusted, which start from the raw frame. Returns [B,3,H,W] in [0,1].
    """
    return (raw + carry * mask * (prev_out_w - prev_raw_w)).clamp(0.0, 1.0)


def blend_previous(dreamed: torch.Tensor, prev_out_w: torch.Tensor, mask: torch.Tensor, blend: float) -> torch.Tensor:
    """Pull a fresh dream toward the previous output where the flow is trusted:
    (1 - blend*mask) * dreamed + blend*mask * prev_out_w. Shapes as in ``carry_residual``."""
    w = blend * mask
    return dreamed * (1.0 - w) + prev_out_w * w
