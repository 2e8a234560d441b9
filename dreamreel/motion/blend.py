"""Crossfades that keep a picture's contrast: where a zoom loop's tail dissolves the dream into
the loop's first frames.

A plain dissolve (1 - a) x + a y of two unrelated dream patterns is a flatter picture than either:
the patterns half cancel, so halfway through it has about 0.7 of their contrast (half the
variance of the Laplacian) and less colour, and a seamless loop visibly dims and softens just
after its seam. Here each band of detail is dissolved and then given back the contrast the two
pictures have between them (their standard deviations, interpolated), as in histogram-preserving
blending (Heitz and Neyret, 2018); where the two agree, the dissolve already keeps it and nothing
is added. Brightness and colour (two opponent axes) are held apart, so colourfulness is kept
too. Pure tensor code."""
from __future__ import annotations

import torch

from dreamreel.dream.gradient import gaussian_blur

# Band edges in pixels (Gaussian sigmas): fine dream detail, its larger patterns, the rest.
BAND_SIGMAS = (2.0, 8.0)
# RGB to a luma and two opponent colour axes (and back): the gains act on colour separately from
# brightness, so a dissolve keeps its colourfulness as well as its contrast.
_OPP = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.5, -0.5, 0.0], [0.25, 0.25, -0.5]])
_OPP_INV = torch.linalg.inv(_OPP)


def _mix_channels(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", m.to(x.device, x.dtype), x)


def _bands(x: torch.Tensor, sigmas: tuple[float, ...] = BAND_SIGMAS) -> list[torch.Tensor]:
    """x [B,C,H,W] as its mean per channel plus band-pass layers (edges ``sigmas``), finest first;
    they sum to x."""
    out, rest = [], x
    for sigma in sigmas:
        low = gaussian_blur(rest, sigma)
        out.append(rest - low)
        rest = low
    mean = rest.mean(dim=(-2, -1), keepdim=True)
    return [*out, rest - mean, mean]


def keep_contrast_blend(x: torch.Tensor, y: torch.Tensor, a: float) -> torch.Tensor:
    """(1 - a) x + a y with each band's contrast held at the two pictures' own, interpolated
    (luma and two colour-opponent channels, each on its own).

    x, y: [B,3,H,W] in [0,1] on one device; a in [0,1] (0 gives x, 1 gives y exactly). Per band
    and channel the dissolved detail is scaled by the ratio of the interpolated standard
    deviations to the dissolve's own, kept within [1, 1/sqrt((1-a)^2 + a^2)]: 1 where the pictures
    agree, the bound where they are unrelated. Returns [B,3,H,W] in [0,1]."""
    if a <= 0.0:
        return x
    if a >= 1.0:
        return y
    bx, by = _bands(_mix_channels(x, _OPP)), _bands(_mix_channels(y, _OPP))
    most = 1.0 / ((1 - a) ** 2 + a ** 2) ** 0.5
    out = (1 - a) * bx[-1] + a * by[-1]
    for dx, dy in zip(bx[:-1], by[:-1]):
        mix = (1 - a) * dx + a * dy
        want = (1 - a) * dx.std(dim=(-2, -1), keepdim=True) + a * dy.std(dim=(-2, -1), keepdim=True)
        gain = (want / mix.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)).clamp(1.0, most)
        out = out + gain * mix
    return _mix_channels(out, _OPP_INV).clamp(0.0, 1.0)


def hold_contrast(x: torch.Tensor, before: torch.Tensor, after: torch.Tensor, a: float) -> torch.Tensor:
    """``x`` with each band's contrast set to that of ``before`` and ``after`` interpolated at ``a``
    (all [B,3,H,W] in [0,1]; luma and colour apart, as keep_contrast_blend): a frame dreamed from a
    dissolve keeps the contrast and colour of the frames either side of it. Gains are kept within
    [0.5, 2]. Returns [B,3,H,W] in [0,1]."""
    bx = _bands(_mix_channels(x, _OPP))
    b0, b1 = _bands(_mix_channels(before, _OPP)), _bands(_mix_channels(after, _OPP))
    out = bx[-1]
    for dx, d0, d1 in zip(bx[:-1], b0[:-1], b1[:-1]):
        want = (1 - a) * d0.std(dim=(-2, -1), keepdim=True) + a * d1.std(dim=(-2, -1), keepdim=True)
        gain = (want / dx.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)).clamp(0.5, 2.0)
        out = out + gain * dx
    return _mix_channels(out, _OPP_INV).clamp(0.0, 1.0)


# hold_detail's band edges: BAND_SIGMAS with the finest pixel apart, where a magnified frame
# loses most. On zoom loops at cadence 4 over four pictures nobody tuned on (bench_loop_pulse),
# the worst frame's detail (mean |frame - blur|) was 4-12 % off its loop's median with carried
# frames as they came, 1-3 % held; its sharpness (the Laplacian's variance, the finest pixel's
# energy) 16-35 %, 11-22 % held on BAND_SIGMAS, 8-16 % with the finest pixel apart (a band at
# half a pixel more: no better).
DETAIL_SIGMAS = (1.0, *BAND_SIGMAS)


def detail_contrast(x: torch.Tensor) -> list[torch.Tensor]:
    """The standard deviation of each detail band (DETAIL_SIGMAS: the finest first) of ``x``
    [B,3,H,W] in [0,1], per sample and luma/colour channel: a list of [B,3,1,1], what
    ``hold_detail`` holds a frame to."""
    return [d.std(dim=(-2, -1), keepdim=True) for d in _bands(_mix_channels(x, _OPP), DETAIL_SIGMAS)[:len(DETAIL_SIGMAS)]]


def hold_detail(x: torch.Tensor, contrast: list[torch.Tensor]) -> torch.Tensor:
    """``x`` [B,3,H,W] in [0,1] with its detail bands scaled to ``contrast`` (``detail_contrast``
    of another frame), the gains kept within [0.5, 2]; coarser structure, brightness and colour
    untouched. A zoom frame carried between dreamed ones (zoom.cadence) is the last dream
    magnified, which moves its finest detail down a band each few frames: held, it keeps the
    dreamed frames' crispness instead of softening until the next dream sharpens it again, a
    pulse at the cadence. Returns [B,3,H,W] in [0,1]."""
    bands = _bands(_mix_channels(x, _OPP), DETAIL_SIGMAS)
    out = sum(bands[len(DETAIL_SIGMAS):])
    for d, want in zip(bands, contrast):
        out = out + (want / d.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)).clamp(0.5, 2.0) * d
    return _mix_channels(out, _OPP_INV).clamp(0.0, 1.0)
