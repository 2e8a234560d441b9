"""The frame chain of video mode: each frame starts from the previous dream's detail, carried
along the optical flow, and is dreamed, merged and checkpointed in turn. The video mode
(modes/video.py) and a Ray worker (farm/ray_backend.py) both run ``dream_segments``.

The method, per frame of a shot (see docs/how-it-works/video-method.md): only
the dream's residual (output minus its raw frame) follows the motion, warped with Lanczos-4; the
raw frame itself is never resampled. The residual is held at the shot's strength, seeds the
frame, which takes its steps at the finest octave, and only what those steps add is blended and
colour-locked, so nothing already in the carried detail is filtered again frame after frame.
"""
from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from dreamreel.config import Config
from dreamreel.dream import DreamParams, dream
from dreamreel.dream.engine import batch_key, batched
from dreamreel.media.images import quantize8, to_tensor
from dreamreel.media.mask import MaskTrack, open_mask
from dreamreel.media.probe import MediaInfo
from dreamreel.media.reader import FrameReader
from dreamreel.motion.color import color_lock
from dreamreel.motion.consistency import consistency_mask, feather_trust, forward_at, symmetric_flow
from dreamreel.motion.flow import FlowEstimator, flow_method, to_gray
from dreamreel.motion.reveal import (Bare, affordable, carry_bare, crops, dreamed_cells, drop_specks, due, min_side,
                                    grid_shape, none_bare, paste, paste_weight)
from dreamreel.motion.scene import cut_score
from dreamreel.motion.temporal import carry_residual, hold_gain, merge_carried
from dreamreel.models.net import one_off_shapes
from dreamreel.motion.warp import warp_lanczos
from dreamreel.modes.cadence import dream_due
from dreamreel.modes.context import RenderContext
from dreamreel.speed.gpu import no_autotune
from dreamreel.jobs.folder import FrameStore, Job
from dreamreel.speed.prefetch import prefetch
from dreamreel.modes.progress import bar
from dreamreel.inspect.report import FrameFacts
from dreamreel.modes.setup import frame_generator, host_threads
from dreamreel.modes.streams import Stream
from dreamreel.speed.transfer import Inputs, Packed, Transfer

__all__ = ["METHOD", "MotionItem", "motion_items", "LoopFacts", "dream_segments", "finish_frame", "resume_frame"]

# The frame loop's method, in a job's fingerprint: a job begun by another method is not resumed
# with frames of this one. 2: feathered trust, the restoring hold, full-size flow on small frames.
# 3: the residual, not the frame, is carried and blended (Lanczos warp, finest-octave steps, only
# the new detail colour-locked), so the footage is never resampled and the dream stays crisp.
# 4: the carried detail reads nothing past the previous frame's border (it read the edge's detail,
# replicated, which a zoom-out drew into streaks across its border ring); regrowth at 1.25x.
# 5: the detail rides the mean of the forward and backward flows where they agree; a reveal's
# dream fades in over FADE frames, its steps fewer and larger (REVEAL_STEPS, REVEAL_GAIN).
METHOD = 5

# How far trust spreads into pixels the flow's round trip missed, in flow pixels (see feather_trust).
TRUST_FEATHER = 4
# Untrusted pixels farther than about this from trusted ones (flow pixels) count as a region
# whose flow is lost, not a speck, and there a carried frame's steps are 1 + REGROW times as
# strong. On the fast street clip the strength otherwise sagged by a fifth while the camera
# moved fast (drift 1.27); a boost on every untrusted speck was flicker (E_warp x2 at 3). At
# 1.0 the blank-wall clip sat at its E_warp bound (1.000 of it in bf16, 1.005 in fp32, which the
# measured choice picks on the AVX-512 EPYC); 0.75 gave 0.968 of it, the street's drift 1.21.
# Judged also by the worst second of each shot (issue 27's window), the regrowth was the
# street clip's flicker: its worst window 1.05 of its bound at 0.75, 1.00 at 0.5, 0.95 at 0.25
# (drift 1.24, inside its 1.25); the blank wall's mean 3.66x -> 3.49x its input's; no other clip
# of the suite moved by more than 0.02x.
LOST_SPREAD = 8
REGROW = 0.25
# A revealed region's dream takes this share of a fresh frame's steps at each octave, each
# REVEAL_GAIN times as large: it starts from the carried frame, whose dream around the crop it
# continues. Half the steps at the fresh size gave the long pan's newest cells 0.67 of a fresh
# dream, but 0.54 on a frame mid-fade (FADE); three quarters of the steps 0.63 at 1.32x the
# frame time without reveals (640x360); half the steps at 1.5x their size 0.69 (0.68 on the
# zoom-out's ring) at the cost of half; at 2x the pops grew (worst window 0.39 -> 0.56).
REVEAL_STEPS = 0.5
REVEAL_GAIN = 1.5
# A reveal's dream comes in over this many frames, an equal share each: dreamed over in one
# frame, a strip a quarter of the frame wide changed at once, a pop each time (on the suite's
# moving white roof the worst second was 1.09 of its E_warp bound with the pops, 0.83 with 2
# frames, 0.80 with 3). More frames keep the newest content paler for longer: at 3 or 4 the
# long pan's newest cells fell under 0.6 of a fresh dream on a frame mid-fade.
FADE = 2


# At a cadence above 1, a frame whose flow is lost (``MotionItem.lost``) over more than this share
# of it dreams at once, off the grid: a carried frame shows the raw footage wherever the flow is
# lost, and fast motion loses it over a fifth of the frame for seconds (the suite's fast street at
# 320 px: a tenth of its frames past 0.23, a quarter past 0.12). Carried as they came, its dream
# sagged while the camera moved fast and came back after (drift 1.31-1.34 at cadence 2-4, target
# 1.25); dreamed past 0.1 lost, 1.24, as at cadence 1; past 0.2, 1.27.
LOST_DREAM = 0.1


def lost_share(item: "MotionItem") -> float:
    """The share of ``item``'s frame in regions whose flow is lost, in [0,1] (0 with no flow)."""
    return 0.0 if item.lost is None else float(item.lost.mean())


@dataclass
class MotionItem:
    """A source frame and its motion relative to the previous one (all host arrays).

    flow_back [H,W,2] maps this frame onto the previous; mask [H,W] is 1 where it can be trusted;
    lost [H,W] is 1 inside regions where it cannot (see LOST_SPREAD), 0 elsewhere.
    ``context`` frames only seed the chain after a resume and are not dreamed again.
    """

    index: int
    rgb: np.ndarray
    flow_back: np.ndarray | None
    mask: np.ndarray | None
    cut: bool
    score: float
    context: bool = False
    lost: np.ndarray | None = None
    packed: Packed | None = None  # the arrays as the device takes them (speed/transfer.py)


def motion_items(reader: Iterator[tuple[int, np.ndarray]], method: str, occlusion: bool,
                 cut_threshold: Callable[[int], float], context_until: int) -> Iterator[MotionItem]:
    """Pair each decoded frame with its flow to the previous frame, the trust mask and a cut flag
    (cut_threshold(frame index) is the scene-cut threshold at that frame).

    A frame between dreamed ones (video.cadence) gets the same round trip: its forward leg with
    DIS's fast preset saved a quarter of its host work, but on the suite's blank roof at cadence 4
    the worst second's E_warp went from 0.94 of its bound to 1.17 (trust is what a carried frame,
    with no steps to mend it, rests on)."""
    flow = FlowEstimator(method)
    prev_rgb = prev_gray = None
    for index, rgb in reader:
        gray = to_gray(rgb)
        if prev_gray is None:
            item = MotionItem(index, rgb, None, None, cut=True, score=1.0)
        else:
            score = cut_score(prev_rgb, rgb)
            cut = score > cut_threshold(index)
            back = fwd = mask = lost = None
            if not cut:
                back = flow(gray, prev_gray)
                if occlusion:
                    fwd = flow(prev_gray, gray)
                    grain = flow.grain(max(gray.shape))
                    # No motion-boundary test: on noisy flow it fails whole patches that then
                    # restart every frame; occlusions are what the round trip is for.
                    fwd_at = forward_at(back, fwd)
                    mask = consistency_mask(back, fwd, motion_boundaries=False, fwd_at=fwd_at)
                    # Both directions are at hand: where they agree, their mean carries the
                    # dream (METHOD 5).
                    back = symmetric_flow(back, fwd_at, mask)
                    mask = feather_trust(mask, TRUST_FEATHER * grain)
                    lost = 1.0 - feather_trust(mask, LOST_SPREAD * grain)
                else:
                    mask = np.ones(gray.shape, np.float32)
                    lost = np.zeros(gray.shape, np.float32)
            item = MotionItem(index, rgb, back, mask, cut, score, lost=lost)
        item.context = index < context_until
        yield item
        prev_rgb, prev_gray = rgb, gray


@dataclass
class _Chain:
    """One stream's state between frames: its items, and the previous raw frame and dream."""

    stream: Stream
    items: Iterator[MotionItem]
    prev_raw: torch.Tensor | None = None
    prev_out: torch.Tensor | None = None
    target: float = 0.0  # strength the shot's fresh frame was dreamed to (see hold_gain)
    done: bool = False
    mask: MaskTrack | None = None  # dream.mask, read forward in step with the chain's frames
    prev_rgb: np.ndarray | None = None  # the previous output as written, RGB uint8 (for the report)
    started: float = 0.0  # perf_counter when this run took the segment up
    dreamed: int = 0  # frames this run dreamed for it
    bare: Bare | None = None  # where the previous output holds no full dream (motion/reveal.py)
    fade: _Fade | None = None  # a reveal's dream still being faded in (see FADE)
    # The next frame, its inputs already on their way to the device (``_Staged``), None when not
    # yet taken, or the error taking it raised, kept until this chain's frames before it are saved.
    ahead: _Staged | Exception | None = None


@dataclass
class _Staged:
    """A chain's next frame with its copies to the device issued: the item, ``dream.mask`` of
    its frame as the host array [H,W] (None without a mask), and its inputs on the device."""

    item: MotionItem
    dream_mask: np.ndarray | None
    inputs: Inputs


@dataclass
class _Fade:
    """A reveal's dream on its way in, on the previous frame: [1,4,H,W], its detail (the pasted
    frame minus the raw one) in channels 0-2 and in 3 how far it reaches (1 wherever anything was
    pasted, the feather being in the detail already), moved along the flow each frame; ``left``:
    frames until it is all in; ``began``: the frame of the reveal (a resume restarts there)."""

    layers: torch.Tensor
    left: int
    began: int


@dataclass
class _Work:
    """One frame of one chain, ready to dream: its start image and settings, and for a carried
    frame the held detail it was started from (None for a fresh start: first frame or cut)."""

    chain: _Chain
    item: MotionItem
    raw: torch.Tensor
    init: torch.Tensor
    params: DreamParams
    blend: float = 0.0
    residual: torch.Tensor | None = None  # carried detail warped onto this frame, held, [1,3,H,W]
    mask: torch.Tensor | None = None  # trust in the flow (times dream.mask), [1,1,H,W] in [0,1]
    dream_mask: torch.Tensor | None = None  # dream.mask of this frame, [1,1,H,W] in [0,1]
    # Per-pixel weight of the dream's steps, [1,1,H,W] >= 0 (None: 1 everywhere): dream.mask,
    # times the regrowth boost on a carried frame.
    step_weight: torch.Tensor | None = None
    bare: Bare | None = None  # the chain's bare grid once this frame is done
    fade: _Fade | None = None  # the chain's fade once this frame is done
    seed: int = 0  # dream.seed at this frame
    skip: bool = False  # a frame between dreamed ones (video.cadence): carried, no ascent


@dataclass
class LoopFacts:
    """What a run of the frame loop measured, for the manifest."""

    cuts: list[int] = field(default_factory=list)
    dreamed: int = 0
    weights: str | None = None
    loop_seconds: float | None = None
    dream_seconds: float | None = None
    mask_held_from: int | None = None
    extra: dict = field(default_factory=dict)  # backend facts (workers, losses)
    # From the first batch holding a carried frame to the end: (seconds, frames). What a long
    # render's frames cost; the first (fresh, every octave) frame would weigh on a short one's mean.
    steady: tuple[float, int] | None = None

    def facts(self, cfg: Config) -> dict:
        out: dict = {"frames_dreamed": self.dreamed, **self.extra}
        if self.weights is not None:
            out.update(model=cfg.dream.model, weights=self.weights)
        if self.loop_seconds is not None:
            out["loop_seconds"] = round(self.loop_seconds, 3)
        if self.dream_seconds is not None and self.loop_seconds:
            out.update(dream_seconds=round(self.dream_seconds, 3),
                       outside_dream_share=round(1 - self.dream_seconds / self.loop_seconds, 4))
        if self.mask_held_from is not None:
            out["mask_held_from"] = self.mask_held_from
        if self.steady is not None and self.steady[1] > 0:
            out["frame_seconds_after_first"] = round(self.steady[0] / self.steady[1], 4)
        return out


def dream_segments(ctx: RenderContext, info: MediaInfo, store: FrameStore, todo: list[tuple[Stream, int]],
                   batch: int, size: tuple[int, int]) -> LoopFacts:
    """Dream the segments ``todo`` ((segment, resume frame) pairs), ``batch`` of them advancing
    together in one batch, the next starting as one ends. Finished frames, and the frame a
    resumed chain continues from, go through ``store`` (the job folder, or a Ray worker's stream
    back to the driver). The network comes from ``ctx`` (a worker keeps it across calls)."""
    cfg, device = ctx.cfg, ctx.device
    # Process-wide, so set per render by where the dream runs (setup.host_threads).
    cv2.setNumThreads(host_threads(device)["opencv"])
    transfer = Transfer(device)
    net, source = ctx.net()
    start = cfg.frames.start
    guide = ctx.guide()
    v = cfg.video

    def cut_threshold(index: int) -> float:
        return v.scene_cut.at(index - start, ctx.env(index - start))

    def items_of(s: Stream, resume: int) -> Callable[[], Iterator[MotionItem]]:
        seed_from = resume - 1 if resume > s.first else resume  # re-read one frame for context

        def make() -> Iterator[MotionItem]:
            with FrameReader(info.path, info.fps, size, seed_from, s.own_to - seed_from, s.own_to - seed_from,
                             conceal=v.damaged == "conceal") as reader:
                for item in motion_items(iter(reader), flow_method(v.flow, max(size)), v.occlusion, cut_threshold,
                                         context_until=resume):
                    if not item.context:  # packed here, on the decoder's thread
                        item.packed = transfer.pack(item.rgb, item.flow_back, item.mask, item.lost)
                    yield item

        return make

    # One mask track per chain: each reads its matte forward, in step with its own frames. The
    # matte is aligned with the input by time, so source frame k takes matte frame k.
    pending = list(todo)
    chains: list[_Chain] = []
    held: list[int] = []

    def refill() -> None:
        while len(chains) < batch and pending:
            s, r = pending.pop(0)
            track = open_mask(cfg.dream.mask, size, info.fps, 0, cfg.dream.mask_invert, cfg.dream.mask_feather,
                              cfg.limits.max_pixels)
            chains.append(_Chain(s, prefetch(items_of(s, r)), mask=track, started=time.perf_counter()))

    def close(ch: _Chain) -> None:
        ch.items.close()  # stop decoder threads and their ffmpeg now, not when collected
        if ch.mask is not None:
            if ch.mask.held_from is not None:
                held.append(ch.mask.held_from)
            ch.mask.close()

    def stage(ch: _Chain) -> _Staged | None:
        """The chain's next frame, its copies to the device issued; None when it has no more."""
        item = _next_dreamable(ch, store, device)
        if item is None:
            return None
        host_mask = None if ch.mask is None else ch.mask.at(item.index)
        packed = item.packed
        if host_mask is not None:
            packed = dataclasses.replace(packed, dream_mask=transfer.pack_mask(host_mask))
        return _Staged(item, host_mask, transfer.send(packed))

    def look_ahead(work: list[_Work]) -> None:
        """Take each chain's next frame now. On a GPU this runs while the batch dreams, so the
        copies travel meanwhile; on the CPU, after the batch is saved (taking it during the dream
        only waited on the flow thread, which the dream's threads were holding back: 0.210 s
        a 640x360 frame against 0.206). An error taking one waits for its chain's turn, so the
        frames dreamed before it are saved first."""
        for w in work:
            try:
                w.chain.ahead = stage(w.chain)
            except Exception as exc:  # noqa: BLE001 (raised again at the chain's next frame)
                w.chain.ahead = exc

    def retire(ch: _Chain) -> None:
        close(ch)
        store.segment_done(ch.stream.index, time.perf_counter() - ch.started, ch.dreamed)
        chains.remove(ch)

    refill()
    cuts: list[int] = []
    total = sum(s.own_to - r for s, r in todo)
    # The ETA is timed from the first batch holding a carried frame: fresh frames cost several times more.
    progress = bar(total, "frame", "dreaming", settle=None)
    dreamed = 0
    dream_seconds = 0.0
    t_loop = time.perf_counter()
    t_steady: float | None = None
    n_before = 0
    try:
        with progress:
            while True:
                work: list[_Work] = []
                for ch in list(chains):
                    staged, ch.ahead = ch.ahead, None
                    if isinstance(staged, Exception):
                        raise staged
                    staged = staged or stage(ch)
                    if staged is None:
                        retire(ch)
                        refill()
                        continue
                    item = staged.item
                    w = prepare_frame(ctx, ch, item, item.index - start, transfer.ready(staged.inputs),
                                      staged.dream_mask)
                    if w.residual is None and item.index != ch.stream.first and item.index >= ch.stream.own_from:
                        cuts.append(item.index)
                    work.append(w)
                if not work:
                    if chains or pending:
                        refill()
                        continue
                    break
                if any(w.residual is not None for w in work):
                    progress.start_timing()
                    if t_steady is None:
                        t_steady, n_before = time.perf_counter(), dreamed
                timer = Stopwatch(device)
                dreaming = [w for w in work if not w.skip]
                dreamed_outs = iter(dream_batch(dreaming, net, guide) if dreaming else [])
                outs = [w.init if w.skip else next(dreamed_outs) for w in work]
                timer.stop()
                if transfer.overlaps:
                    look_ahead(work)
                prevs = [w.chain.prev_rgb for w in work]
                # The first frame's copy to the host waits for the whole batch: only then is the
                # dream's time known (no synchronise of its own).
                done = [commit_frame(w, out, v.color_lock) for w, out in zip(work, outs)]
                dream_seconds += timer.seconds()
                share = timer.seconds() / max(1, len(dreaming))
                for w, prev_rgb, (name, rgb, state) in zip(work, prevs, done):
                    fresh = w.residual is None
                    facts = FrameFacts(w.item.rgb, None if fresh else prev_rgb, None if fresh else w.item.flow_back,
                                       None if fresh else w.item.mask, 0.0 if w.skip else share, fresh,
                                       w.chain.stream.index, dreamed=not w.skip)
                    w.chain.prev_rgb = rgb
                    store.put(name, rgb, state, facts)
                    w.chain.dreamed += 1
                    dreamed += 1
                    progress.update(1)
                if not transfer.overlaps:
                    look_ahead(work)
    finally:
        for ch in chains:
            close(ch)
        store.close()
    t_end = time.perf_counter()
    return LoopFacts(cuts, dreamed, source, t_end - t_loop, dream_seconds, min(held) if held else None,
                     steady=None if t_steady is None else (t_end - t_steady, dreamed - n_before))


class Stopwatch:
    """Seconds a piece of device work took, without waiting for it: on a GPU two CUDA events on
    the stream, read once something else (the frame's copy to the host) has waited; on the CPU
    the wall clock, the work being done when it returns."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        if self.cuda:
            self.begin, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            # The render's own device's stream: a bare record() is GPU 0's, which timed nothing
            # (and made a context there) for a render on cuda:1.
            self.begin.record(torch.cuda.current_stream(device))
        else:
            self.t0, self.t1 = time.perf_counter(), None

    def stop(self) -> None:
        if self.cuda:
            self.end.record(torch.cuda.current_stream(self.device))
        else:
            self.t1 = time.perf_counter()

    def seconds(self) -> float:
        if self.cuda:
            self.end.synchronize()  # already past it once a later copy to the host has returned
            return self.begin.elapsed_time(self.end) / 1000.0
        return self.t1 - self.t0


def prepare_frame(ctx: RenderContext, ch: _Chain, item: MotionItem, t: int, inputs: Inputs,
                  dream_mask_host: np.ndarray | None = None) -> _Work:
    """A frame's start image and settings: the raw frame when its chain starts fresh (first
    frame, cut), else the raw frame plus the previous dream's detail warped along the flow,
    held at the shot's strength; with ``video.reveal``, where the chain is bare of a full dream
    (revealed content), a dream at every octave first (``reveal_step``). ``t``: frame time for the
    schedules; ``inputs``: the item's arrays on the device (speed/transfer.py), ready to read;
    ``dream_mask_host``: ``dream.mask`` of the frame [H,W] as the host array (None without one)."""
    v, env = ctx.cfg.video, ctx.env(t)
    raw, dream_mask = inputs.raw, inputs.dream_mask
    h, w = item.rgb.shape[:2]
    if item.index == ch.stream.first or item.cut or ch.prev_out is None:
        return _Work(ch, item, raw, raw, ctx.params(t), dream_mask=dream_mask, step_weight=dream_mask, seed=ctx.seed(t),
                     bare=none_bare(h, w) if v.reveal else None)
    back, mask = inputs.flow_back, inputs.mask
    if dream_mask is not None:
        mask = mask * dream_mask  # no carried detail where the frame is kept clean
    # Only the detail moves; the footage under it is this frame's own, never a resampled copy.
    # What comes from past the previous frame's border has no detail to bring: zero, not the
    # edge replicated, which a zoom-out or a pan drew into lines across what entered.
    residual = warp_lanczos(ch.prev_out - ch.prev_raw, back, outside="zero")
    # Held at the shot's strength, both as the start of the dream and in the merge, so it
    # cannot pile up or fade.
    residual = hold_gain(residual, mask, ch.target, v.hold.at(t, env)) * residual
    init = carry_residual(raw, residual, mask, v.carry.at(t, env))
    revealed = bare = fade = None
    # Between dreamed frames (video.cadence) the carried detail is the frame: no ascent, unless the
    # flow is lost over more than LOST_DREAM of it (then it dreams at once, as a cut does). A due
    # reveal still dreams its crops at once, faded in as on any frame, but the frame stays carried:
    # dreamed frames stay evenly spaced. (Making the frame a dreamed one made a 2-px-a-frame pan
    # at cadence 4 dream every other frame; leaving the crops to the next dreamed frame left a
    # zoom-out's newest ring bare for up to three frames: 0.43 of a fresh dream, against 0.6.)
    dreaming = dream_due(t, int(v.cadence.at(t, env))) or lost_share(item) > LOST_DREAM
    if v.reveal:
        init, residual, revealed, bare, fade = reveal_step(ctx, t, ch, item, raw, init, residual, dream_mask,
                                                           dream_mask_host, back)
    # The steps go to the finest octave, where the detail lives: coarser octaves laid new
    # structure over the carried one every frame and blurred it on the way back up.
    params = dataclasses.replace(ctx.params(t, steps=int(v.steps_after_first.at(t, env))), octaves=1)
    # Where the flow is lost over a whole region (fast motion, something uncovered) the frame
    # starts from its raw pixels there, and one finest step alone would leave it pale until the
    # flow holds again: the steps push harder there.
    lost = inputs.lost if revealed is None else inputs.lost * (1.0 - revealed)  # a dreamed reveal needs no push
    weight = 1.0 + REGROW * lost
    if dream_mask is not None:
        weight = weight * dream_mask
    return _Work(ch, item, raw, init, params, v.blend.at(t, env), residual, mask, dream_mask, weight, bare, fade,
                 ctx.seed(t), not dreaming)


def reveal_step(ctx: RenderContext, t: int, ch: _Chain, item: MotionItem, raw: torch.Tensor, init: torch.Tensor,
                residual: torch.Tensor, dream_mask: torch.Tensor | None, dream_mask_host: np.ndarray | None,
                back: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, Bare, _Fade | None]:
    """``video.reveal``: move the chain's bare grid onto this frame and, when it is due and paid
    for, dream its bare cells (``dream_revealed``), faded in over FADE frames. Returns (start
    image, carried detail, the weight pasted on this frame [1,1,H,W] on the device or None, the
    grid once this frame is done, the fade still to come or None)."""
    h, w = item.rgb.shape[:2]
    bare = carry_bare(ch.bare or none_bare(h, w), item.flow_back)
    if dream_mask_host is not None:  # nothing to dream where the frame is kept clean
        bare.grid[cv2.resize(dream_mask_host, bare.grid.shape[::-1], interpolation=cv2.INTER_AREA) <= 0.5] = 0
    bare = drop_specks(bare)
    if ch.fade is not None:
        layers = warp_lanczos(ch.fade.layers, back, outside="zero")
        return (*fade_in(raw, init, residual, layers, ch.fade.left), bare,
                dataclasses.replace(ch.fade, layers=layers, left=ch.fade.left - 1) if ch.fade.left > 1 else None)
    if not due(bare):
        return init, residual, None, bare, None
    params = ctx.params(t)
    cells = bare.cells()
    boxes = crops(cells, (h, w), min_side(params.octaves, params.octave_scale))
    left = affordable(bare, boxes, (h, w))
    if left is None:
        return init, residual, None, bare, None
    dreamed, revealed = dream_revealed(ctx, params, item, raw, init, cells, boxes, dream_mask, ctx.seed(t))
    reach = torch.from_numpy(np.clip(revealed * 8.0, 0.0, 1.0)).to(init.device)[None, None]
    layers = torch.cat([dreamed - raw, reach], dim=1)
    init, residual, pasted = fade_in(raw, init, residual, layers, FADE)
    fade = _Fade(layers, FADE - 1, item.index) if FADE > 1 else None
    return init, residual, pasted, dataclasses.replace(none_bare(h, w), credit=left), fade


def fade_in(raw: torch.Tensor, init: torch.Tensor, residual: torch.Tensor, layers: torch.Tensor, left: int
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One frame of a fade: ``init`` and ``residual`` [1,3,H,W] taken 1/``left`` of the way to the
    reveal's detail ``layers[:, :3]`` where its weight ``layers[:, 3:]`` is 1, so after ``left``
    frames they hold it. Returns (start image, carried detail, the weight taken [1,1,H,W]).

    The new dream is the detail carried there now: the merge pulls this frame's steps toward
    ``residual``, and cells that entered a few frames ago are already trusted by the flow."""
    detail, weight = layers[:, :3], layers[:, 3:].clamp(0.0, 1.0)
    g = weight / left
    init = init + g * ((raw + detail).clamp(0.0, 1.0) - init)
    residual = residual + g * (detail - residual)
    return init, residual, weight


def dream_revealed(ctx: RenderContext, params: DreamParams, item: MotionItem, raw: torch.Tensor, init: torch.Tensor,
                   grid: np.ndarray, boxes: list[tuple[int, int, int, int]],
                   dream_mask: torch.Tensor | None, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Dream the bare cells (``grid``, motion/reveal.py) of a carried frame as a fresh frame
    would: the crops ``boxes`` of its start ``init`` [1,3,H,W] around them, at every octave,
    colour-locked to the raw frame and pasted in feathered; ``params``: the frame's dream settings,
    of which it takes REVEAL_STEPS of the steps, REVEAL_GAIN times as large. Returns (the new
    start, the pasted weight [H,W] in [0,1]).

    A crop starts from the carried frame, so the dream around the bare cells is context the new
    dream grows out of: faces and eyes continue across the seam instead of stopping at it."""
    net, guide = ctx.net()[0], ctx.guide()
    params = dataclasses.replace(params, steps=max(1, round(params.steps * REVEAL_STEPS)),
                                 step_size=params.step_size * REVEAL_GAIN)
    h, w = item.rgb.shape[:2]
    pasted = np.zeros((h, w), np.float32)
    for box in boxes:
        y0, y1, x0, x1 = box
        m = None if dream_mask is None else dream_mask[..., y0:y1, x0:x1]
        # Every crop is a new shape at every octave: timing kernels for each, or compiling the
        # network for each (dream.compile), costs more than it saves.
        with no_autotune(), one_off_shapes(net):
            crop = dream(init[..., y0:y1, x0:x1], net, params, frame_generator(seed, item.index),
                         guide, mask=m)
        if ctx.cfg.video.color_lock:
            crop = color_lock(crop, raw[..., y0:y1, x0:x1])
        weight = paste_weight(grid, (h, w), box)
        init = paste(init, crop, torch.from_numpy(weight).to(init.device)[None, None], box)
        grid = dreamed_cells(grid, weight, box)
        pasted[y0:y1, x0:x1] = np.maximum(pasted[y0:y1, x0:x1], weight)
    return init, pasted


def dream_batch(work: list[_Work], net: torch.nn.Module, guide: dict[str, torch.Tensor] | None) -> list[torch.Tensor]:
    """Dream every prepared frame; frames whose settings agree but for the step size and the
    layer weights (engine.batch_key) go through together, each with its own randomness, step
    size and weights. Returns one [1,3,H,W] dream per frame, in order."""
    groups: dict[DreamParams, list[int]] = {}
    for k, w in enumerate(work):
        groups.setdefault(batch_key(w.params), []).append(k)
    outs: dict[int, torch.Tensor] = {}
    for ks in groups.values():
        params = batched([work[k].params for k in ks])
        x = torch.cat([work[k].init for k in ks])
        gens = [frame_generator(work[k].seed, work[k].item.index) for k in ks]
        ws = [work[k].step_weight for k in ks]
        # Frames that agree on settings may differ in having a weight (a fresh frame without
        # dream.mask beside a carried one): those without weigh 1 everywhere.
        weight = None if all(m is None for m in ws) else torch.cat(
            [m if m is not None else torch.ones_like(work[k].raw[:, :1]) for m, k in zip(ws, ks)])
        y = dream(x, net, params, gens, guide, mask=weight)
        outs.update({k: y[j : j + 1] for j, k in enumerate(ks)})
    return [outs[k] for k in range(len(work))]


def commit_frame(w: _Work, out: torch.Tensor, lock: bool) -> tuple[str, np.ndarray, str]:
    """Finish a dreamed frame and move its chain on; returns (checkpoint name, RGB uint8, state)."""
    if w.residual is None:
        out = finish_frame(out, w.raw, lock, w.dream_mask)
    else:
        assert w.mask is not None
        out = keep_clean(merge_carried(w.raw, w.init, None if w.skip else out, w.residual, w.mask, w.blend, lock),
                         w.raw, w.dream_mask)
    u8 = quantize8(out)
    rgb = u8.permute(1, 2, 0).cpu().numpy()  # the frame's one copy from the device
    if w.residual is None:
        # A fresh frame sets the shot's target: measured on the host copies (the written frame
        # against its source), so the device is not read a second time.
        w.chain.target = frame_strength(rgb, w.item.rgb)
    # Carry the 8-bit frame, exactly what a resumed run reads back from its checkpoint, made from
    # the same 8 bits on the device rather than uploaded again.
    w.chain.prev_raw, w.chain.prev_out = w.raw, u8.unsqueeze(0).float().div_(255.0)
    w.chain.bare = w.bare
    w.chain.fade = w.fade
    return w.chain.stream.name(w.item.index), rgb, chain_state(w.chain)


def chain_state(ch: _Chain) -> str:
    """One word a resumed chain continues exactly from: the shot's target strength, the bare
    grid when anything is bare, and ``f`` and the frame of the reveal while one is fading in
    (a resume starts again from that reveal: ``fade_began``)."""
    parts = [repr(ch.target)]
    if ch.bare is not None and not ch.bare.clear():
        parts.append(ch.bare.encode())
    if ch.fade is not None:
        parts += [""] * (2 - len(parts)) + [f"f{ch.fade.began}"]
    return ";".join(parts)


@dataclass(frozen=True)
class ChainState:
    """A ``chain_state`` word read back and checked: the shot's target strength in [0,1] (None:
    measure it on the frame), the bare grid (None: nothing bare), the reveal fading in (None)."""

    target: float | None
    bare: Bare | None
    fade_began: int | None


_TARGET = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)


def parse_state(state: str | None, size: tuple[int, int] | None = None) -> ChainState | None:
    """The ``chain_state`` word recorded with a frame, checked by type and range like the facts
    lines; None when it is damaged (a target that is not a finite strength in [0,1], a bare grid
    ``encode`` could not have written for a frame of ``size`` (h, w) pixels, a fade mark that is
    not ``f`` and a frame number). A damaged word makes its frame unchecked (dreamed again),
    never a black frame, a traceback or a stuck job."""
    parts = (state or "").split(";")
    if len(parts) > 3:
        return None
    target: float | None = None
    if parts[0]:
        if not _TARGET.match(parts[0]):
            return None
        target = float(parts[0])
        if not (math.isfinite(target) and 0.0 <= target <= 1.0):
            return None
    bare = None
    if len(parts) > 1 and parts[1]:
        try:
            bare = Bare.decode(parts[1], None if size is None else grid_shape(*size))
        except ValueError:
            return None
    began = None
    if len(parts) > 2:
        mark = parts[2]
        if not (mark.startswith("f") and mark[1:].isascii() and mark[1:].isdigit() and len(mark) <= 13):
            return None
        began = int(mark[1:])
    return ChainState(target, bare, began)


def fade_began(state: str | None) -> int | None:
    """The frame of the reveal still fading in on the frame that recorded ``state``
    (``chain_state``), or None (also for a damaged word: ``parse_state``)."""
    parsed = parse_state(state)
    return None if parsed is None else parsed.fade_began


def resume_frame(job: Job, s: Stream, checked: int, size: tuple[int, int] | None = None) -> int:
    """Where segment ``s`` of ``job`` resumes, its frames before ``checked`` known good: its first
    frame from ``checked`` on that is missing or fails its checksum, or, when the frame before
    that was mid-fade, the reveal it was fading in. A frame whose state word is damaged
    (``parse_state``; ``size`` (h, w) checks its bare grid) or whose fade mark points outside the
    segment or past it is unchecked: the resume starts there and dreams it again."""
    resume = checked + job.first_missing(s.names()[checked - s.first:])
    while resume > s.first:
        parsed = parse_state(job.state(s.name(resume - 1)), size)
        if parsed is None:
            resume -= 1
            continue
        if parsed.fade_began is None:
            return resume
        if not s.first <= parsed.fade_began < resume:
            resume -= 1  # a fade that began outside this segment or after its own frame: damaged
            continue
        resume = parsed.fade_began  # the fade's detail is not in the checkpoint: from the reveal
    return max(resume, s.first)


def restore_state(ch: _Chain, state: str | None, rgb: np.ndarray, raw: np.ndarray) -> None:
    """Set a resumed chain's target and bare grid from the ``state`` recorded with its context
    frame (``rgb``, the frame as written, over ``raw``, its source); never mid-fade and never
    damaged (``resume_frame`` checked it); a word that is anyway (another process's edit since)
    counts as none: the target measured on the frame, nothing bare."""
    parsed = parse_state(state, raw.shape[:2]) or ChainState(None, None, None)
    ch.target = parsed.target if parsed.target is not None else frame_strength(rgb, raw)
    ch.bare = parsed.bare if parsed.bare is not None else none_bare(*raw.shape[:2])


def frame_strength(rgb: np.ndarray, raw: np.ndarray) -> float:
    """Mean |rgb - raw| of two RGB uint8 frames [H,W,3], in [0,1] RGB units: ``residual_strength``
    of a written frame over all its pixels, on the host."""
    return float(np.abs(rgb.astype(np.float32) - raw.astype(np.float32)).mean() / 255.0)


def finish_frame(out: torch.Tensor, raw: torch.Tensor, lock: bool,
                 dream_mask: torch.Tensor | None = None) -> torch.Tensor:
    """A freshly dreamed frame [1,3,H,W] in [0,1] (first frame of a shot) made final: colour-locked
    to ``raw`` and kept exactly ``raw`` where ``dream_mask`` is 0. The preview finishes its frames
    here too, so it shows the render."""
    if lock:
        out = color_lock(out, raw)
    return keep_clean(out, raw, dream_mask)


def keep_clean(out: torch.Tensor, raw: torch.Tensor, dream_mask: torch.Tensor | None) -> torch.Tensor:
    """``out`` where ``dream_mask`` [1,1,H,W] is 1, exactly ``raw`` where it is 0, mixed between.
    The colour lock is a low-pass over the whole frame: this keeps the clean region exact."""
    return out if dream_mask is None else raw + dream_mask * (out - raw)


def _next_dreamable(ch: _Chain, store: FrameStore, device: torch.device) -> MotionItem | None:
    """The chain's next frame to dream; context frames (after a resume) only set its state."""
    if ch.done:
        return None
    for item in ch.items:
        if item.context:
            rgb, state = store.context(ch.stream.name(item.index))
            ch.prev_rgb = rgb
            ch.prev_raw = to_tensor(item.rgb, device)
            ch.prev_out = to_tensor(rgb, device)
            restore_state(ch, state, rgb, item.rgb)
            continue
        return item
    ch.done = True
    return None
