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


def residual_strength(residual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |residual| per sample over the trusted pixels: residual [B,3,H,W], mask [B,1,H,W] in
    [0,1]; returns [B] in [0,1] RGB units (0 where nothing is trusted)."""
    return (residual.abs() * mask).sum(dim=(1, 2, 3)) / (mask.sum(dim=(1, 2, 3)) * residual.shape[1] + 1e-8)


def hold_gain(residual: torch.Tensor, mask: torch.Tensor, target: float, hold: float) -> torch.Tensor:
    """How much of the carried detail to keep, [B,1,1,1] in (0,1]: enough that its strength is at
    most ``hold`` x ``target`` (the strength the shot's fresh frame was dreamed to).

    Each carried frame is dreamed some more; without a ceiling its detail grows along the shot
    and a cut drops back to a fresh frame's weaker look. The gain scales the whole residual at
    once, so its pattern (what coherence rests on) is kept, only its amplitude held."""
    s = residual_strength(residual, mask)
    return torch.clamp(hold * target / (s + 1e-8), max=1.0).view(-1, 1, 1, 1)


def blend_previous(dreamed: torch.Tensor, prev_out_w: torch.Tensor, mask: torch.Tensor, blend: float) -> torch.Tensor:
    """Pull a fresh dream toward the previous output where the flow is trusted:
    (1 - blend*mask) * dreamed + blend*mask * prev_out_w. Shapes as in ``carry_residual``."""
    w = blend * mask
    return dreamed * (1.0 - w) + prev_out_w * w
