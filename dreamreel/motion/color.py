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
