"""Colour lock: hold a dream's large-scale colour and brightness to its source frame."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def lowpass(x: torch.Tensor, factor: int = 16) -> torch.Tensor:
    """A smooth, low-frequency copy of x [B,C,H,W]: area-downsample by ``factor``, bilinear back up."""
    h, w = x.shape[-2:]
    small = F.adaptive_avg_pool2d(x, (max(1, h // factor), max(1, w // factor)))
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def color_lock(dreamed: torch.Tensor, source: torch.Tensor, factor: int = 16) -> torch.Tensor:
    """Replace the low frequencies of ``dreamed`` with those of ``source`` (both [B,3,H,W], [0,1]).

    The dream's detail stays; its overall tint and brightness follow the footage, so a long chain
    of carried frames cannot drift lighter, darker or into one hue.
    """
    return (dreamed - lowpass(dreamed, factor) + lowpass(source, factor)).clamp(0.0, 1.0)


# RGB to two colour-opponent axes (red-green, yellow-blue): the colour of a picture apart from its
# brightness.
_CHROMA = torch.tensor([[0.5, -0.5, 0.0], [0.25, 0.25, -0.5]])


def chroma_spread(x: torch.Tensor) -> torch.Tensor:
    """How colourful x [B,3,H,W] in [0,1] is: the standard deviation of each colour-opponent axis
    over the picture, [B,2,1,1]."""
    c = torch.einsum("ij,bjhw->bihw", _CHROMA.to(x.device, x.dtype), x)
    return c.std(dim=(-2, -1), keepdim=True)


def hold_chroma(x: torch.Tensor, spread: torch.Tensor, most: float = 1.25) -> torch.Tensor:
    """x [B,3,H,W] in [0,1] with its colour's spread around its mean colour set to ``spread``
    ([B,2,1,1], from chroma_spread), brightness untouched; the gain stays within [1/most, most].

    A zoom loop dreams its picture again every frame, and the dream's colour keeps growing for
    longer than its detail (about 20 % more saturated over a 24-frame loop at 1.04 a frame, then
    back through the tail: a pulse once a loop). Held at the first shown frame's spread, the loop
    has nowhere to drift from and return to."""
    m = _CHROMA.to(x.device, x.dtype)
    c = torch.einsum("ij,bjhw->bihw", m, x)
    mean = c.mean(dim=(-2, -1), keepdim=True)
    gain = (spread / c.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)).clamp(1 / most, most)
    delta = (gain - 1) * (c - mean)  # the change of each opponent axis
    # Back to RGB along the opponent axes only (the luma row of the full transform stays zero).
    full = torch.cat([torch.full((1, 3), 1 / 3, dtype=x.dtype, device=x.device), m])
    inv = torch.linalg.inv(full)[:, 1:]
    return (x + torch.einsum("ij,bjhw->bihw", inv, delta)).clamp(0.0, 1.0)
