"""Previews before a long render: every Nth frame (``--preview N``) or chosen moments
(``--preview-at 12.5,f120,beat:64,onsets``), each small and dreamed on its own at that frame's
settings, as one labelled contact sheet (OUTPUT.preview.png) and OUTPUT.preview.json, whose
thumbnails the timeline shows on its filmstrip."""
from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from dreamreel.config import Config, SizeConfig
from dreamreel.dream import dream
from dreamreel.envelopes import render_events
from dreamreel.errors import ConfigError, MediaError
from dreamreel.media.images import encode_image, to_rgb8, to_tensor
from dreamreel.media.mask import open_mask
from dreamreel.media.probe import probe
from dreamreel.media.reader import FrameReader
from dreamreel.moments import resolve_moments, wants_cuts
from dreamreel.modes.atlas import grid
from dreamreel.modes.context import RenderContext, build_context
from dreamreel.jobs.outputs import sidecar
from dreamreel.modes.progress import bar
from dreamreel.jobs.sidecars import check_sidecars, write_ledgered
from dreamreel.modes.setup import fit_size, frame_generator
from dreamreel.modes.variables import analyse_audio
from dreamreel.views.lanes import beat_numbers

PREVIEW_WIDTH = 256  # pixels per cell: a look costs seconds, not minutes
MAX_CELLS = 48
LINE_H = 16  # pixels per caption line
FORMAT = "dreamreel.preview"
MAX_VALUE_LINES = 4  # scheduled values shown under a cell
THUMB_WIDTH = 128  # the filmstrip's thumbnails
MIN_CELL_WIDTH = 176  # room for a caption line


def render_preview(cfg: Config, every: int | None, force: bool, at: str | None = None) -> dict:
    """Dream every ``every``-th output frame, or the moments ``at``, at PREVIEW_WIDTH; write the
    labelled sheet and its JSON. Frame numbers are the output's, 0 its first."""
    if cfg.mode not in ("video", "zoom"):
        raise ConfigError(f"--preview works on video and zoom renders; this config renders mode {cfg.mode}")
    out = sidecar(cfg.output, ".preview.png")
    sheet_json = sidecar(cfg.output, ".preview.json")
    # The sheet is listed in its JSON's ledger: a repeat preview replaces our own, unchanged sheet
    # without --force (it was refused as "output exists"); a sheet edited or made by someone else
    # still needs it.
    check_sidecars(sheet_json, FORMAT, [out], force)
    info = None
    if cfg.mode == "video":
        from dreamreel.modes.video import plan_frames

        assert cfg.input is not None
        info = probe(cfg.input, cfg.limits.max_pixels)
        start, count = plan_frames(cfg, info)
        fps = float(info.fps)
        h, w = fit_size(info.height, info.width, cfg.size, even=True)
        audio = cfg.audio.file or (info.path if info.has_audio else None)
    else:
        from dreamreel.modes.zoom import start_frame

        start, count, fps, audio = 0, cfg.zoom.frames, float(cfg.zoom.fps), cfg.audio.file
        h, w = start_frame(cfg).shape[:2]
    size = fit_size(h, w, SizeConfig(width=min(PREVIEW_WIDTH, w)), even=True)
    zoom = None
    if cfg.mode == "zoom":
        from dreamreel.modes.zoom import ZoomRender

        # The zoom at the cells' width, whose own loop dreams the path; its context (the same
        # settings, schedules and audio as the render's: only the size differs) serves the captions.
        zoom = ZoomRender(cfg.model_copy(update={"size": SizeConfig(width=size[1])}))
        ctx = zoom.ctx
    else:
        # The render's own context: the same settings, schedules, audio and guide as the render.
        ctx = build_context(cfg, count, fps, offset=start / fps, source=info)
    envs = ctx.timeline.envelopes
    if envs is None and audio is not None:
        try:  # beats and onsets name moments and label cells even when no setting reads them
            envs = analyse_audio(cfg, audio, count, fps, start / fps)
        except MediaError:
            envs = None
    beats = None if envs is None else render_events(envs.beats, envs.offset, fps, count)
    bars = None if envs is None else render_events(envs.downbeats, envs.offset, fps, count)
    if at is not None:
        cuts = None
        if info is not None and wants_cuts(at):
            from dreamreel.modes.video import detect_cuts

            cuts = [c - start for c in detect_cuts(cfg, info, start, count, ctx.timeline)]
        wanted = resolve_moments(at, count, fps, beats, None if envs is None else envs.onset, MAX_CELLS, bars=bars,
                                 cuts=cuts)
    else:
        wanted = list(range(0, count, every or 1))[:MAX_CELLS]
    if zoom is not None:
        frames, path = _zoom_cells(zoom, wanted)
    else:
        # Dreamed at the render's own size, then made small: the network's patterns have a size in
        # pixels, so a frame dreamed at 256 px shows them several times larger than the render.
        frames = [cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                  for f in _dream_cells(ctx, info, start, count, (h, w), wanted)]
        path = {"frames": len(wanted), "size": [w, h]}
    cells = [_describe(ctx, t, fps, beats) for t in wanted]
    labelled = [_label(rgb, c["caption"]) for rgb, c in zip(frames, cells)]
    png = encode_image(grid(labelled, min(6, len(labelled))), ".png")
    for c, rgb in zip(cells, frames):
        c["thumb"] = _thumb(rgb)
    sheet = {"format": FORMAT, "frames": count, "fps": fps, "first_frame": start, "image": out.name, "cells": cells,
             "dreamed": path}
    write_ledgered(sheet_json, sheet, {out: png})
    return {"preview": str(out), "frames": wanted}


def _zoom_cells(zoom: Any, wanted: list[int]) -> tuple[list[np.ndarray], dict]:
    """The wanted output frames of a zoom as ``zoom`` (a ZoomRender at the preview's width) makes
    them: its own loop dreams the path to the last one (once, for every cell), in a temporary
    job. Returns the frames and what the path cost ({"frames", "size"})."""
    import tempfile

    h, w = zoom.first.shape[:2]
    frames = zoom.path_length(wanted)
    print(f"dreamreel: preview: a zoom frame is the dream of every frame before it: dreaming the path, "
          f"{frames} frames at {w}x{h}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="dreamreel-preview-") as folder:
        shown = zoom.shown(wanted, Path(folder))
    return shown, {"frames": frames, "size": [w, h]}


def _dream_cells(ctx: RenderContext, info: Any, start: int, count: int, size: tuple[int, int],
                 wanted: list[int]) -> list[np.ndarray]:
    """Each wanted output frame of a video dreamed fresh at its own settings at ``size`` (h, w):
    what the render makes of it when it starts there (a first frame or a cut)."""
    from dreamreel.modes.chain import finish_frame

    cfg, device = ctx.cfg, ctx.device
    net, guide = ctx.net()[0], ctx.guide()
    fps = info.fps if info is not None else ctx.timeline.fps
    masks = open_mask(cfg.dream.mask, size, fps, 0, cfg.dream.mask_invert, cfg.dream.mask_feather,
                      cfg.limits.max_pixels)
    todo = set(wanted)
    got: dict[int, np.ndarray] = {}

    def one(t: int, rgb: np.ndarray) -> None:
        raw = to_tensor(rgb, device)
        index = start + t
        dmask = None if masks is None else torch.from_numpy(masks.at(index)).to(device)[None, None]
        y = dream(raw, net, ctx.params(t), frame_generator(ctx.seed(t), index), guide, mask=dmask)
        lock = cfg.video.color_lock if cfg.mode == "video" else False
        got[t] = to_rgb8(finish_frame(y, raw, lock, dmask))

    try:
        with bar(len(wanted), "frame", "preview") as pb:
            with FrameReader(info.path, info.fps, size, start, count) as reader:
                for index, rgb in reader:
                    if index - start in todo:
                        one(index - start, rgb)
                        pb.update(1)
                        if len(got) == len(todo):
                            break
    finally:
        if masks is not None:
            masks.close()
    return [got[t] for t in wanted]


def _describe(ctx: RenderContext, t: int, fps: float, beats: np.ndarray | None) -> dict[str, Any]:
    """A cell's facts: its frame, time, beat number and the scheduled values there, and the
    caption lines drawn under it."""
    cfg = ctx.cfg
    env = ctx.env(t)
    values = {k: float(f"{s.at(t, env):.7g}") for k, s in cfg.schedules().items()
              if not s.constant and k.startswith(("dream.", f"{cfg.mode}."))}
    beat = None
    if beats is not None and len(beats):
        beat = int(beat_numbers(t + 1, fps, beats)[t])
    seconds = t / fps
    head = f"f{t}  {int(seconds // 60)}:{seconds % 60:05.2f}" + (f"  beat {beat}" if beat is not None else "")
    lines = [head] + [f"{k.split('.', 1)[1]} {v:.4g}" for k, v in list(values.items())[:MAX_VALUE_LINES]]
    return {"frame": t, "time": round(seconds, 6), "beat": beat, "values": values, "caption": lines}


def _label(rgb: np.ndarray, lines: list[str]) -> np.ndarray:
    """``rgb`` with a caption strip of one text line per entry of ``lines`` under it (a small
    frame sits centred on a cell wide enough for its caption)."""
    h, w = rgb.shape[:2]
    if w < MIN_CELL_WIDTH:
        pad = MIN_CELL_WIDTH - w
        rgb = np.pad(rgb, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)), constant_values=24)
        w = MIN_CELL_WIDTH
    strip = np.zeros((LINE_H * (1 + MAX_VALUE_LINES) + 4, w, 3), np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(strip, text, (4, LINE_H * (i + 1) - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255) if i == 0 else (190, 190, 190), 1, cv2.LINE_AA)
    return np.concatenate([rgb, strip], axis=0)


def _thumb(rgb: np.ndarray) -> str:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()
