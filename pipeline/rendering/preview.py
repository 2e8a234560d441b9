"""``--preview N``: every Nth frame, small and dreamed on its own, as one contact sheet."""
from __future__ import annotations

from pathlib import Path

import torch

from pipeline.config import Config, SizeConfig
from pipeline.dream import dream
from pipeline.errors import ConfigError
from pipeline.media.images import to_rgb8, to_tensor, write_image
from pipeline.media.mask import open_mask
from pipeline.media.probe import probe
from pipeline.media.reader import FrameReader
from pipeline.rendering.atlas import grid, label_cell
from pipeline.rendering.outputs import check_output
from pipeline.rendering.progress import bar
from pipeline.rendering.context import build_context
from pipeline.rendering.setup import fit_size, frame_generator

PREVIEW_WIDTH = 256  # pixels per cell: a look costs seconds, not minutes
MAX_CELLS = 48


def preview_path(output: Path) -> Path:
    """``renders/city.mp4`` -> ``renders/city.mp4.preview.png``."""
    return Path(output).parent / f"{Path(output).name}.preview.png"


def render_preview(cfg: Config, every: int, force: bool) -> dict:
    """Dream every ``every``-th frame of the video at PREVIEW_WIDTH and write a labelled sheet."""
    if cfg.mode != "video":
        raise ConfigError(f"--preview works on video renders; this config renders mode {cfg.mode}")
    assert cfg.input is not None
    out = preview_path(cfg.output)
    check_output(out, force)
    info = probe(cfg.input, cfg.limits.max_pixels)
    from pipeline.rendering.chain import finish_frame
    from pipeline.rendering.video import plan_frames

    start, count = plan_frames(cfg, info)
    h, w = fit_size(info.height, info.width, cfg.size, even=True)
    size = fit_size(h, w, SizeConfig(width=min(PREVIEW_WIDTH, w)), even=True)
    wanted = set(range(start, start + count, every)[:MAX_CELLS])
    # The render's own context: the same settings, schedules, audio and guide as the render.
    ctx = build_context(cfg, count, float(info.fps), offset=float(start / info.fps), source=info)
    device = ctx.device
    net, guide = ctx.net()[0], ctx.guide()
    masks = open_mask(cfg.dream.mask, size, info.fps, 0, cfg.dream.mask_invert, cfg.dream.mask_feather,
                      cfg.limits.max_pixels)
    cells = []
    # Each cell is a fresh frame of the render: same settings at its time, guide, mask and colour lock.
    with FrameReader(info.path, info.fps, size, start, count) as reader, bar(len(wanted), "frame", "preview") as pb:
        try:
            for index, rgb in reader:
                if index not in wanted:
                    continue
                t = index - start
                raw = to_tensor(rgb, device)
                dmask = None if masks is None else torch.from_numpy(masks.at(index)).to(device)[None, None]
                y = dream(raw, net, ctx.params(t), frame_generator(cfg.dream.seed, index), guide, mask=dmask)
                y = finish_frame(y, raw, cfg.video.color_lock, dmask)
                cells.append(label_cell(to_rgb8(y), f"frame {index}"))
                pb.update(1)
                if len(cells) == len(wanted):
                    break
        finally:
            if masks is not None:
                masks.close()
    columns = min(6, len(cells))
    write_image(out, grid(cells, columns))
    return {"preview": str(out), "frames": sorted(wanted)}
