"""Zoom mode, the infinite dream: each frame zooms (turns, drifts) into the last dream and dreams again."""
from __future__ import annotations

import contextlib
import hashlib
import math
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from dreamreel.config import IMAGE_EXTS, Config
from dreamreel.dream import dream
from dreamreel.media.images import float_to_tensor, quantize8, read_image, to_rgb8, to_tensor
from dreamreel.media.mask import MaskTrack, open_mask
from dreamreel.media.probe import probe
from dreamreel.media.reader import FrameReader
from dreamreel.motion.blend import detail_contrast, hold_contrast, hold_detail, keep_contrast_blend
from dreamreel.motion.color import chroma_spread, hold_chroma
from dreamreel.motion.zoom import loop_weight, motion_difference, warp_affine, zoom_matrix
from dreamreel.modes.animated import check_mask, input_identities, render_animated, settings_digest
from dreamreel.jobs.folder import FrameWriter, Job
from dreamreel.modes.progress import bar
from dreamreel.inspect.report import FrameFacts
from dreamreel.modes.cadence import dream_due
from dreamreel.modes.context import RenderContext, build_context
from dreamreel.speed.gpu import cuda_settings
from dreamreel.modes.setup import fit_size, frame_generator, host_threads
from dreamreel.modes.still import NOISE_SIDE, fit_image, noise_image
from dreamreel.modes.variables import Timeline

_ENCODE_ONLY = {"crf", "preset"}


def loop_tail(cfg: Config) -> int:
    """Frames of the loop's tail: ``zoom.loop_frames``, else a quarter of the clip (at least 8).

    The tail turns the dream into the clip's first frames; spread over fewer frames, each step
    of that change is larger than an ordinary frame-to-frame step and shows as a jump."""
    if not cfg.zoom.loop:
        return 0
    n = cfg.zoom.loop_frames or max(8, round(0.25 * cfg.zoom.frames))
    return min(n, cfg.zoom.frames // 2)


# A loop's warm-up when zoom.warmup is auto: as many frames as the zoom takes to grow the picture
# e-fold (1 / ln zoom: 67 at 1.015 a frame, 25 at 1.04), within these bounds. The dream's sharpness
# settles in about 17 frames, its colour only once the picture it started on has zoomed away:
# 24 frames left a 1.015 loop 11 % less saturated at its start than its median, 72 within 3 %
# (scripts/bench_loop_pulse.py).
WARMUP_BOUNDS = (16, 96)


def warmup_frames(cfg: Config) -> int:
    """Frames dreamed before the first shown one: ``zoom.warmup``, or for auto, when the zoom
    loops, about the frames the zoom (frame 0's) takes to grow the picture e-fold, so the loop
    starts from and closes onto a settled dream rather than the picture; 0 without a loop."""
    w = cfg.zoom.warmup
    if w != "auto":
        return int(w)
    if not cfg.zoom.loop:
        return 0
    grow = abs(math.log(cfg.zoom.zoom.at(0))) if not cfg.zoom.zoom.names and not cfg.zoom.zoom.marks else 0.0
    lo, hi = WARMUP_BOUNDS
    return hi if grow < 1 / hi else max(lo, min(hi, round(1 / grow)))


def output_order(frames: int, tail: int, warm: int = 0) -> list[int]:
    """Rendered frame numbers in the order they are shown: the ``warm`` warm-up frames first are
    never shown; the tail (rendered last, after the shown frames) stands in for the first ``tail``
    shown frames, so the clip ends where it begins."""
    return list(range(warm + frames, warm + frames + tail)) + list(range(warm + tail, warm + frames))


def frame_time(i: int, frames: int, warm: int) -> int:
    """The output frame whose motion and settings rendered frame ``i`` takes: a warm-up frame
    frame 0's, a shown frame its own, a tail frame the one it stands in for."""
    if i < warm:
        return 0
    t = i - warm
    return t if t < frames else t - frames


def start_frame(cfg: Config) -> np.ndarray:
    """The first frame, RGB uint8 [H,W,3] at the render size (even sides for H.264)."""
    if cfg.input is None:
        h, w = fit_size(NOISE_SIDE, NOISE_SIDE, cfg.size, even=True, max_pixels=cfg.limits.max_pixels)
        gen = frame_generator(int(cfg.dream.seed.at(0)), -1)
        return to_rgb8(noise_image(1, h, w, gen, torch.device("cpu")))
    if cfg.input.suffix.lower() in IMAGE_EXTS:
        return fit_image(read_image(cfg.input, cfg.limits.max_pixels), cfg.size, even=True,
                         max_pixels=cfg.limits.max_pixels)
    info = probe(cfg.input, cfg.limits.max_pixels)
    size = fit_size(info.height, info.width, cfg.size, even=True, max_pixels=cfg.limits.max_pixels)
    with FrameReader(info.path, info.fps, size, 0, 1) as reader:
        return next(f for _, f in reader).copy()


def frame_matrix(cfg: Config, timeline: Timeline, t: int, h: int, w: int) -> np.ndarray:
    """The transform from the frame before output frame ``t`` to frame ``t``."""
    z, env = cfg.zoom, timeline.env(t)
    return zoom_matrix(h, w, z.zoom.at(t, env), z.rotate.at(t, env),
                       (z.translate[0].at(t, env), z.translate[1].at(t, env)),
                       (z.center[0].at(t, env), z.center[1].at(t, env)))


def fingerprint(cfg: Config, first: np.ndarray) -> dict:
    """What shapes a zoom job's pixels: settings (not encoding ones), the start frame, the size,
    and the files the settings name (audio, guide, weights, mask; see input_identities)."""
    conf = cfg.model_dump(mode="json")
    conf["zoom"] = {k: v for k, v in conf["zoom"].items() if k not in _ENCODE_ONLY}
    conf["video"].pop("codec", None)
    conf.pop("output", None)
    return {"settings": settings_digest(conf), "start": hashlib.sha256(first.tobytes()).hexdigest(),
            "size": list(first.shape[:2]), "inputs": input_identities(cfg)}


def _float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / 255.0


class ZoomRender:
    """A zoom render for the animated skeleton: the start frame, the loop's tail and the context
    are made (and the mask checked) when it is built, before any job folder exists."""

    def __init__(self, cfg: Config) -> None:
        z = cfg.zoom
        self.fps = Fraction(z.fps).limit_denominator(1001)
        self.timecode = None
        self.first = start_frame(cfg)
        self.tail = loop_tail(cfg)
        self.warm = warmup_frames(cfg)
        self.ctx = build_context(cfg, z.frames, float(self.fps))  # refuses audio schedules without audio
        check_mask(cfg, self.first.shape[:2], self.fps)

    def fingerprint(self) -> dict:
        return fingerprint(self.ctx.cfg, self.first)

    def dream(self, job: Job) -> dict:
        z = self.ctx.cfg.zoom
        h, w = self.first.shape[:2]
        total = self.warm + z.frames + self.tail
        resume = job.resume_point(0, total)
        facts: dict = {"mode": "zoom", "frames": z.frames, "fps": str(self.fps), "size": [w, h], "loop": z.loop,
                       "loop_tail_frames": self.tail, "warmup_frames": self.warm, "resumed_at": resume if resume > 0 else None,
                       "device": str(self.ctx.device), "frames_dreamed": total - resume}
        # One chain: a resumed zoom is bit-identical, so deterministic kernels from the trial on.
        with cuda_settings(self.ctx.device, 1):
            if resume < total:
                self._dream_rest(job, facts, resume, total)
        return facts

    def path_length(self, wanted: list[int]) -> int:
        """Frames dreamed to reach every output frame in ``wanted`` (0 the first shown): a zoom
        frame is the dream of every frame before it, and a loop's first frames are its tail."""
        order = output_order(self.ctx.cfg.zoom.frames, self.tail, self.warm)
        return max(order[j] for j in wanted) + 1

    def shown(self, wanted: list[int], folder: Path) -> list[np.ndarray]:
        """Output frames ``wanted`` exactly as this render makes them, RGB uint8: the path to
        the last one needed (``path_length``) is dreamed into a job in ``folder``."""
        order = output_order(self.ctx.cfg.zoom.frames, self.tail, self.warm)
        total = self.path_length(wanted)
        job = Job(folder / "path.mp4", self.fingerprint())
        job.open(force=False)
        with cuda_settings(self.ctx.device, 1):
            self._dream_rest(job, {}, job.resume_point(0, total), total)
        return [read_image(job.frame_path(order[j])) for j in wanted]

    def _dream_rest(self, job: Job, facts: dict, resume: int, total: int) -> None:
        """Settle the speed choices and dream frames ``resume`` .. ``total`` - 1, adding to ``facts``."""
        cfg = self.ctx.cfg
        h, w = self.first.shape[:2]
        d = cfg.dream
        steps = int(d.steps.at(0, self.ctx.env(0))) * int(d.octaves.at(0, self.ctx.env(0)))
        pinned = job.choices()
        facts["choices"] = self.ctx.tune((h, w), (total - resume) * max(1, steps), pinned)
        if pinned is None:
            job.pin_choices(facts["choices"])
        cfg = self.ctx.cfg
        masks = open_mask(cfg.dream.mask, (h, w), self.fps, 0, cfg.dream.mask_invert, cfg.dream.mask_feather,
                          cfg.limits.max_pixels)
        with (masks or contextlib.nullcontext()):
            facts.update(model=cfg.dream.model, weights=_dream_chain(self.ctx, job, self.first, self.tail, resume,
                                                                     masks, self.warm, stop=total))
        if masks is not None and masks.held_from is not None:
            facts["mask_held_from"] = masks.held_from

    def measured(self, frames: list[Path], recorded: dict[str, dict]) -> dict[str, dict]:
        """``recorded`` as it is: a zoom frame's raw picture (the zoomed previous dream) exists
        only while it is dreamed, so a frame without facts stays unmeasured in the report."""
        return recorded

    def assemble(self, job: Job) -> tuple[list[Path], dict]:
        order = output_order(self.ctx.cfg.zoom.frames, self.tail, self.warm)
        seam = seam_report(self.ctx.cfg, job, self.ctx.timeline, order)
        return [job.frame_path(i) for i in order], {"loop_seam": seam}


def render_zoom(cfg: Config, force: bool) -> dict:
    """Render ``zoom.frames`` frames of the infinite dream into ``cfg.output``, resuming a stopped job."""
    return render_animated(ZoomRender(cfg), force)


def _dream_chain(ctx: RenderContext, job: Job, first: np.ndarray, tail: int, resume: int,
                 masks: MaskTrack | None = None, warm: int = 0, stop: int | None = None) -> str:
    """Dream zoom frames ``resume`` .. ``stop`` - 1 (default: the end) into ``job`` (``warm``
    warm-up frames, the shown ones, then the tail); returns the weights source."""
    cfg, timeline, device = ctx.cfg, ctx.timeline, ctx.device
    n = cfg.zoom.frames
    h, w = first.shape[:2]
    net, source = ctx.net()
    guide = ctx.guide()
    # The loop runs on the device: the previous output stays there and is warped there; only
    # 8-bit frames go up (the start, a tail's targets) and one read-back a frame comes down.
    start_frame_t = to_tensor(first, device)
    prev = to_tensor(read_image(job.frame_path(resume - 1)), device) if resume > 0 else None
    writer = FrameWriter(job, workers=host_threads(ctx.device)["writers"])
    stop = warm + n + tail if stop is None else stop
    # After a warm-up, every later frame keeps the first shown frame's colourfulness (hold_chroma):
    # taken from its PNG, so a resumed loop holds the same figure.
    spread = None
    if 0 < warm < resume:
        spread = _spread_of(torch.from_numpy(read_image(job.frame_path(warm))).to(device).permute(2, 0, 1))
    # A frame carried between dreamed ones (zoom.cadence) keeps the last dreamed frame's detail
    # contrast (hold_detail), taken from its 8-bit frame so that a resumed loop holds the same:
    # measured at the first carried frame after a dream, so a loop dreaming every frame (cadence
    # 1) never measures it. ``last``: that frame, 8-bit on the device, or before it is needed
    # after a resume, its frame number.
    last: torch.Tensor | int | None = next(
        (j for j in range(resume - 1, -1, -1) if _dreamed_at(cfg, ctx, j, n, warm)), None)
    contrast = None
    progress = bar(stop, "frame", "zooming", initial=resume)
    try:
        with progress:
            for i in range(resume, stop):
                t = frame_time(i, n, warm)
                t_frame = time.perf_counter()
                if prev is None:
                    init = start_frame_t
                else:
                    init = warp_affine(prev, frame_matrix(cfg, timeline, t, h, w))
                a = 0.0
                if i >= warm + n:
                    a = loop_weight(t, tail)
                    target = to_tensor(read_image(job.frame_path(warm + t)), device)
                    init = keep_contrast_blend(init, target, a)
                m = None
                if masks is not None:
                    # Screen space: the kept region shows the start frame, still, while the rest zooms.
                    m = float_to_tensor(masks.at(t)[..., None], device)
                    init = m * init + (1 - m) * start_frame_t
                x = init
                # Between dreamed frames (zoom.cadence) a frame is the last output under its
                # transform: no network call. The warm-up keeps the cadence by its own count, so
                # it builds the dream a render at that cadence keeps.
                dreamed = _dreamed_at(cfg, ctx, i, n, warm)
                if dreamed:
                    out = dream(x, net, ctx.params(t), frame_generator(ctx.seed(t), i), guide, mask=m)
                else:
                    if contrast is None and last is not None:
                        if isinstance(last, int):
                            last = torch.from_numpy(read_image(job.frame_path(last))).to(device).permute(2, 0, 1)
                        contrast = detail_contrast(_float_of(last))
                    out = x if contrast is None else hold_detail(x, contrast)
                if a > 0:
                    # The tail ends exactly on the frame it hands over to, so the loop closes.
                    out = hold_contrast(keep_contrast_blend(out, target, a), prev, target, a)
                if spread is not None:
                    out = hold_chroma(out, spread)
                if m is not None:
                    out = x + m * (out - x)
                rgb8 = quantize8(out)
                # The zoomed previous frame is both what was dreamed on and where the motion
                # carried the last output: strength and flicker are measured against it.
                start8 = (init[0].clamp(0, 1) * 255 + 0.5).to(torch.uint8)
                rgb, start = torch.stack([rgb8, start8]).permute(0, 2, 3, 1).cpu().numpy()
                if warm > 0 and i == warm:
                    spread = _spread_of(rgb8)
                if dreamed:
                    last, contrast = rgb8, None
                writer.put(i, rgb, facts=FrameFacts(start, None if prev is None else start, None, None,
                                                    time.perf_counter() - t_frame, fresh=prev is None,
                                                    dreamed=dreamed))
                prev = rgb8.float().div_(255.0)[None]
                progress.update(1)
    finally:
        writer.close()
    return source


def _dreamed_at(cfg: Config, ctx: RenderContext, i: int, frames: int, warm: int) -> bool:
    """Whether zoom frame ``i`` (warm-up frames first) is dreamed at ``zoom.cadence``: the warm-up
    keeps the cadence by its own count, so it builds the dream a render at that cadence keeps."""
    t = frame_time(i, frames, warm)
    return i == 0 or dream_due(i if i < warm else t, int(cfg.zoom.cadence.at(t, ctx.env(t))))


def _float_of(rgb8: torch.Tensor) -> torch.Tensor:
    """An 8-bit frame [3,H,W] as [1,3,H,W] in [0,1], made alike from a frame just dreamed and from
    its PNG read back on a resume (the same bits either way)."""
    return rgb8.contiguous().float().div(255.0)[None]


def _spread_of(rgb8: torch.Tensor) -> torch.Tensor:
    """chroma_spread of an 8-bit frame [3,H,W], computed alike from a frame just dreamed and from
    its PNG read back on a resume (same layout, same arithmetic: the same bits)."""
    return chroma_spread(rgb8.contiguous().float().div(255.0)[None])


def seam_report(cfg: Config, job: Job, timeline: Timeline, order: list[int]) -> dict:
    """Difference between consecutive shown frames once the zoom's motion is taken out: the
    median over the clip, and the wrap from the last frame back to the first."""
    def load(k: int) -> np.ndarray:
        return _float(read_image(job.frame_path(order[k])))

    first = prev = load(0)
    h, w = first.shape[:2]
    steps = []
    for k in range(1, len(order)):  # two frames in memory at a time, whatever the length
        cur = load(k)
        steps.append(motion_difference(prev, cur, frame_matrix(cfg, timeline, k, h, w)))
        prev = cur
    wrap = motion_difference(prev, first, frame_matrix(cfg, timeline, 0, h, w))
    median = float(np.median(steps)) if steps else 0.0
    return {"median_step": round(median, 5), "largest_step": round(max(steps), 5) if steps else 0.0,
            "wrap": round(wrap, 5), "ratio": round(wrap / median, 3) if median > 0 else None}
