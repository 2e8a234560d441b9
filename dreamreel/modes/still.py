"""Still mode: one image (or noise) in, one dreamed image out."""
from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import torch

from dreamreel.config import Config, SizeConfig
from dreamreel.dream import dream
from dreamreel.dream.engine import total_steps
from dreamreel.media.images import read_image, to_rgb8, to_tensor, write_image
from dreamreel.media.mask import open_mask
from dreamreel.speed.gpu import cuda_settings
from dreamreel.modes.progress import bar
from dreamreel.modes.context import picture_context
from dreamreel.modes.setup import fit_size, frame_generator

NOISE_SIDE = 512  # pixels, when there is no input and no size


def start_image(cfg: Config, device: torch.device, generator: torch.Generator) -> torch.Tensor:
    """The image a still dream starts from, [1,3,H,W] in [0,1]: the resized input, or
    low-amplitude grey noise for feature visualisation."""
    if cfg.input is not None:
        return to_tensor(fit_image(read_image(cfg.input, cfg.limits.max_pixels), cfg.size, max_pixels=cfg.limits.max_pixels), device)
    h, w = fit_size(NOISE_SIDE, NOISE_SIDE, cfg.size, max_pixels=cfg.limits.max_pixels)
    return noise_image(1, h, w, generator, device)


def fit_image(rgb: np.ndarray, size: SizeConfig, even: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Resize RGB uint8 [H,W,3] to ``size`` while still 8-bit on the host, so a huge photo never
    becomes a huge float tensor (area filter down, bicubic up)."""
    h, w = rgb.shape[:2]
    oh, ow = fit_size(h, w, size, even=even, max_pixels=max_pixels)
    if (oh, ow) == (h, w):
        return rgb
    interp = cv2.INTER_AREA if oh * ow < h * w else cv2.INTER_CUBIC
    return cv2.resize(rgb, (ow, oh), interpolation=interp)


def still_mask(cfg: Config, h: int, w: int, device: torch.device) -> torch.Tensor | None:
    """``dream.mask`` for a single picture, [1,1,h,w] in [0,1] (a matte video gives its first
    frame); None without a mask."""
    track = open_mask(cfg.dream.mask, (h, w), Fraction(1), 0, cfg.dream.mask_invert, cfg.dream.mask_feather,
                      cfg.limits.max_pixels)
    if track is None:
        return None
    with track:
        return torch.from_numpy(track.at(0)).to(device)[None, None]


def noise_image(n: int, h: int, w: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """[n,3,h,w] grey noise around 0.5 with std about 0.05: no structure, so the network draws its own."""
    return (0.5 + 0.05 * torch.randn(n, 3, h, w, generator=generator)).clamp(0, 1).to(device)


def render_still(cfg: Config) -> dict:
    """Dream ``cfg.input`` (or noise) and write ``cfg.output``; returns facts for the manifest."""
    ctx = picture_context(cfg)
    device = ctx.device
    generator = frame_generator(int(cfg.dream.seed.at(0)), 0)
    x = start_image(cfg, device, generator)
    mask = still_mask(cfg, x.shape[-2], x.shape[-1], device)
    # A choice measured earlier for this machine and size is free to use; a picture too small to
    # repay a trial of its own takes what was measured here nearest its size, else the rule.
    with cuda_settings(device, 1):  # one picture: deterministic kernels, as a video's single chain
        choices = ctx.tune((x.shape[-2], x.shape[-1]), total_steps(x.shape[-2], x.shape[-1], ctx.params(0)))
        net, source = ctx.net()
        params = ctx.params(0)
        guide = ctx.guide()
        progress = bar(total_steps(x.shape[-2], x.shape[-1], params), "step", "dreaming")
        with progress:
            y = dream(x, net, params, generator, guide, on_step=lambda: progress.update(1), mask=mask)
    write_image(cfg.output, to_rgb8(y))
    return {"mode": "still", "size": [int(y.shape[-1]), int(y.shape[-2])], "model": cfg.dream.model,
            "weights": source, "device": str(device), "precision": params.precision, "choices": choices}
