"""Tying a frame's dream to the previous one along the optical flow (all tensors on one device)."""
from __future__ import annotations

import torch

from dreamreel.motion.color import lowpass

# The most the held detail is raised in one frame (see hold_gain).
MAX_RESTORE = 1.5


def carry_residual(raw: torch.Tensor, residual: torch.Tensor, mask: torch.Tensor, carry: float) -> torch.Tensor:
    """Warm start of a frame: its own raw pixels plus the previous dream's detail moved along the flow.

    raw [B,3,H,W] in [0,1]; residual [B,3,H,W] (previous output minus its raw frame, warped onto
    this frame), in [-1,1]; mask [B,1,H,W] in [0,1], 0 where the flow is not to be trusted, which
    start from the raw frame. Returns [B,3,H,W] in [0,1].
    """
    return (raw + carry * mask * residual).clamp(0.0, 1.0)


def residual_strength(residual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |residual| per sample over the trusted pixels: residual [B,3,H,W], mask [B,1,H,W] in
    [0,1]; returns [B] in [0,1] RGB units (0 where nothing is trusted)."""
    return (residual.abs() * mask).sum(dim=(1, 2, 3)) / (mask.sum(dim=(1, 2, 3)) * residual.shape[1] + 1e-8)


def hold_gain(residual: torch.Tensor, mask: torch.Tensor, target: float, hold: float) -> torch.Tensor:
    """The factor for the carried detail, [B,1,1,1] in [0, MAX_RESTORE]: what keeps its strength
    between min(hold, 1) x ``target`` and hold x ``target`` (``target``: the strength the shot's
    fresh frame was dreamed to; with hold <= 1 both bounds are one level).

    Both ways. Each carried frame is dreamed some more, so without a ceiling its detail grows
    along the shot and a cut drops back to a weaker look; and each warp resamples the detail,
    which blurs it, so on a moving camera it fades (a tilt over a blank wall: 0.077 at the fresh
    frame, 0.039 forty frames later). The gain scales the whole residual at once, so its pattern
    (what coherence rests on) is kept, only its amplitude held; raising is capped per frame so
    that a residual warped almost away is not blown up from noise."""
    s = residual_strength(residual, mask) + 1e-8
    ceiling = hold * target / s
    floor = min(hold, 1.0) * target / s
    gain = torch.minimum(torch.clamp(floor, min=1.0), ceiling)  # 1 between the bounds
    return torch.clamp(gain, max=MAX_RESTORE).view(-1, 1, 1, 1)


def merge_carried(raw: torch.Tensor, init: torch.Tensor, dreamed: torch.Tensor | None, residual: torch.Tensor,
                  mask: torch.Tensor, blend: float, lock: bool) -> torch.Tensor:
    """A carried frame made final: its raw pixels, the carried detail, and ``1 - blend*mask`` of
    what this frame's steps added, that new part colour-locked (its low frequencies taken out).

    raw, init (``carry_residual``'s start), dreamed (init after the steps; None: no steps, a
    frame between dreamed ones): [B,3,H,W] in [0,1];
    residual [B,3,H,W], the held detail carried onto this frame; mask [B,1,H,W] in [0,1]. Returns
    [B,3,H,W] in [0,1]. It equals pulling the dream's residual (dreamed - raw) toward ``residual``
    by ``blend*mask``, with the lock on the new part alone.

    Why the residual and not the frame: blending with the previous output warped onto this frame
    mixes in its footage, resampled once more every frame, so the footage went soft along a shot
    (to a fifth of its own sharpness on the sample clip). And why the lock only on the new part:
    a low-pass is not a projection, so taking it out of the whole frame every frame wore down the
    dream's mid-sized structure (faces faded into texture) and was itself flicker."""
    w = blend * mask
    carried = (init - raw) * (1.0 - w) + w * residual
    if dreamed is None:  # nothing new: the lock's low-pass of zero is most of a carried frame's merge
        return (raw + carried).clamp(0.0, 1.0)
    new = (1.0 - w) * (dreamed - init)
    if lock:
        new = new - lowpass(new)
    return (raw + carried + new).clamp(0.0, 1.0)
