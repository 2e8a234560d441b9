"""Atlas mode: what each channel of a layer looks for, dreamed from noise, as one labelled grid."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from dreamreel.config import Config
from dreamreel.dream import Term, dream
from dreamreel.dream.engine import total_steps
from dreamreel.errors import ConfigError
from dreamreel.media.images import to_rgb8, write_image
from dreamreel.speed.gpu import cuda_settings
from dreamreel.modes.progress import bar
from dreamreel.modes.context import picture_context
from dreamreel.modes.setup import frame_generator
from dreamreel.modes.still import noise_image

CHANNELS_PER_BATCH = 8
LABEL_H = 22  # pixels of caption strip under each cell


def label_cell(rgb: np.ndarray, text: str) -> np.ndarray:
    """Append a black caption strip with ``text`` under an RGB uint8 [H,W,3] cell."""
    h, w = rgb.shape[:2]
    strip = np.zeros((LABEL_H, w, 3), np.uint8)
    cv2.putText(strip, text, (4, LABEL_H - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([rgb, strip], axis=0)


def grid(cells: list[np.ndarray], columns: int, gap: int = 2) -> np.ndarray:
    """Lay equal-sized RGB cells out row by row, ``columns`` wide, on a dark background."""
    ch, cw = cells[0].shape[:2]
    rows = -(-len(cells) // columns)
    cols = min(columns, len(cells))
    out = np.full((rows * (ch + gap) + gap, cols * (cw + gap) + gap, 3), 24, np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, columns)
        y, x = gap + r * (ch + gap), gap + c * (cw + gap)
        out[y : y + ch, x : x + cw] = cell
    return out


def render_atlas(cfg: Config) -> dict:
    """Dream channels ``first .. first+channels-1`` of ``atlas.layer`` and write the labelled grid."""
    a = cfg.atlas
    ctx = picture_context(cfg, layers=(a.layer,))
    device = ctx.device
    net, source = ctx.net()
    with torch.no_grad():
        n_channels = net(torch.zeros(1, 3, 64, 64, device=device))[a.layer].shape[1]
    if a.first + a.channels > n_channels:
        raise ConfigError(
            f"atlas.channels: {a.layer} of {cfg.dream.model} has {n_channels} channels; "
            f"first {a.first} + channels {a.channels} goes past them"
        )
    chans = list(range(a.first, a.first + a.channels))
    base = ctx.params(0)
    cells: list[np.ndarray] = []
    progress = bar(a.channels * total_steps(a.cell, a.cell, base), "step", "atlas")
    with progress, cuda_settings(device, 1):
        for k in range(0, len(chans), CHANNELS_PER_BATCH):
            part = tuple(chans[k : k + CHANNELS_PER_BATCH])
            gen = frame_generator(int(cfg.dream.seed.at(0)), part[0])
            params = ctx.params(0, terms=(Term(a.layer, part, 1.0),))
            x = noise_image(len(part), a.cell, a.cell, gen, device)
            y = dream(x, net, params, gen, on_step=lambda n=len(part): progress.update(n))
            cells += [label_cell(to_rgb8(y[i]), f"{a.layer}:{c}") for i, c in enumerate(part)]
    write_image(cfg.output, grid(cells, a.columns))
    return {"mode": "atlas", "layer": a.layer, "channels": chans, "model": cfg.dream.model, "weights": source,
            "device": str(device)}
