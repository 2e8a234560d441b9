"""Video mode: each frame starts from the previous dream's detail, carried along the optical flow."""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from pipeline.config import Config, SizeConfig
from pipeline.dream import DreamParams, dream
from pipeline.errors import ConfigError, OutputExistsError
from pipeline.media.images import read_image, to_rgb8, to_tensor, write_image
from pipeline.media.mask import MaskTrack, open_mask
from pipeline.media.probe import MediaInfo, probe
from pipeline.media.reader import FrameReader
from pipeline.media.timecode import offset_timecode
from pipeline.motion.color import color_lock
from pipeline.motion.consistency import consistency_mask, feather_trust
from pipeline.motion.flow import FlowEstimator, to_gray
from pipeline.motion.scene import cut_score
from pipeline.motion.temporal import blend_previous, carry_residual, hold_gain, residual_strength
from pipeline.motion.warp import flow_to_tensor, warp
from pipeline.rendering.animated import check_mask, render_animated, settings_digest
from pipeline.rendering.jobs import FrameStore, Job, JobStore
from pipeline.rendering.prefetch import prefetch
from pipeline.rendering.progress import bar
from pipeline.rendering.context import RenderContext, build_context
from pipeline.rendering.setup import fit_size, frame_generator, resolve_batch
from pipeline.rendering.streams import Stream, plan_streams
from pipeline.rendering.timeline import Timeline

__all__ = ["render_video", "VideoRender", "plan_frames", "MotionItem", "motion_items", "finish_frame", "dream_segments", "LoopFacts"]

# The frame loop's method, in a job's fingerprint: a job begun by another method is not resumed
# with frames of this one. 2: feathered trust, the restoring hold, full-size flow on small frames.
METHOD = 2

# How far trust spreads into pixels the flow's round trip missed, in flow pixels (see feather_trust).
TRUST_FEATHER = 4

# Settings that only change how finished frames are packed; changing them keeps the checkpoints.
_ENCODE_ONLY = {"crf", "preset", "audio", "damaged", "codec"}


@dataclass
class MotionItem:
    """A source frame and its motion relative to the previous one (all host arrays).

    flow_back [H,W,2] maps this frame onto the previous; mask [H,W] is 1 where it can be trusted.
    ``context`` frames only seed the chain after a resume and are not dreamed again.
    """

    index: int
    rgb: np.ndarray
    flow_back: np.ndarray | None
    mask: np.ndarray | None
    cut: bool
    score: float
    context: bool = False


def plan_frames(cfg: Config, info: MediaInfo) -> tuple[int, int]:
    """(first frame, frame count) of the source to render, from ``frames`` and the promised length."""
    start = cfg.frames.start
    if start >= info.frames:
        raise ConfigError(f"frames.start: {start} is past the end of {cfg.input} ({info.frames} frames)")
    available = info.frames - start
    count = available if cfg.frames.count is None else min(cfg.frames.count, available)
    return start, count


def motion_items(reader: Iterator[tuple[int, np.ndarray]], method: str, occlusion: bool,
                 cut_threshold: Callable[[int], float], context_until: int) -> Iterator[MotionItem]:
    """Pair each decoded frame with its flow to the previous frame, the trust mask and a cut flag
    (cut_threshold(frame index) is the scene-cut threshold at that frame)."""
    cv2.setNumThreads(1)  # leave the cores to the dream; flow runs beside it
    flow = FlowEstimator(method)
    prev_rgb = prev_gray = None
    for index, rgb in reader:
        gray = to_gray(rgb)
        if prev_gray is None:
            item = MotionItem(index, rgb, None, None, cut=True, score=1.0)
        else:
            score = cut_score(prev_rgb, rgb)
            cut = score > cut_threshold(index)
            back = fwd = mask = None
            if not cut:
                back = flow(gray, prev_gray)
                if occlusion:
                    fwd = flow(prev_gray, gray)
                    # No motion-boundary test: on noisy flow it fails whole patches that then
                    # restart every frame; occlusions are what the round trip is for.
                    mask = consistency_mask(back, fwd, motion_boundaries=False)
                    mask = feather_trust(mask, TRUST_FEATHER * flow.grain(max(gray.shape)))
                else:
                    mask = np.ones(gray.shape, np.float32)
            item = MotionItem(index, rgb, back, mask, cut, score)
        item.context = index < context_until
        yield item
        prev_rgb, prev_gray = rgb, gray


def fingerprint(cfg: Config, info: MediaInfo, size: tuple[int, int], segments: int) -> dict:
    """What shapes the pixels of a video job: settings (not encoding or scheduling ones), source
    identity, size, and the number of segments actually used (``segments: auto`` follows
    ``batch: auto``, which differs between machines). The plan itself is stored beside it
    (``Job.plan``)."""
    conf = cfg.model_dump(mode="json")
    conf["video"] = {k: v for k, v in conf["video"].items() if k not in _ENCODE_ONLY}
    conf.pop("output", None)
    conf["render"] = {"segments": segments, "preroll": cfg.render.preroll, "crossover": cfg.render.crossover}
    if segments == 1:
        # One segment: rendering more or fewer frames reuses the ones there. With more, the
        # length moves the segment boundaries, so it stays in.
        conf["frames"].pop("count", None)
    return {
        "method": METHOD,
        "settings": settings_digest(conf),
        "source": file_identity(info.path),
        "mask": file_identity(cfg.dream.mask) if cfg.dream.mask else None,
        "size": list(size),
        "fps": str(info.fps),
    }


def resolve_segments(segments: int | str, batch: int) -> int:
    """'auto' -> one segment per stream of a batch (the split batching has always used)."""
    return batch if segments == "auto" else int(segments)


def file_identity(path: Path) -> dict:
    """Path, size and modification time of an input: a changed file invalidates the job's frames."""
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class VideoRender:
    """A video render for the animated skeleton. Built before any job folder exists: the probe
    (which also finds truncation), the frame range, the context (audio read, schedules checked),
    the mask and, for Ray, the extra are checked here.

    With ``segment`` (a farm task) it dreams only that segment of the plan, under its lock; a
    plain run dreams whatever is still missing (skipping, then reporting, segments another
    process is dreaming) and assembles the output."""

    def __init__(self, cfg: Config, segment: int | None = None) -> None:
        assert cfg.input is not None
        self.segment = segment
        self.info = info = probe(cfg.input, cfg.limits.max_pixels)
        self.start, self.count = plan_frames(cfg, info)
        self.size = fit_size(info.height, info.width, cfg.size, even=True, max_pixels=cfg.limits.max_pixels)
        self.fps = info.fps
        self.timecode = output_timecode(info, self.start)
        self.ctx = build_context(cfg, self.count, float(info.fps), offset=float(self.start / info.fps), source=info)
        self.batch = resolve_batch(cfg.render.batch, self.ctx.device)
        self.nseg = resolve_segments(cfg.render.segments, self.batch)
        check_mask(cfg, self.size, info.fps)
        if cfg.render.backend == "ray" and segment is None:
            from pipeline.rendering.ray_backend import import_ray

            import_ray()  # a missing extra fails before the job exists
        self.streams: list[Stream] = []
        self.busy: list[int] = []
        self.cuts: list[int] = []

    def fingerprint(self) -> dict:
        return fingerprint(self.ctx.cfg, self.info, self.size, self.nseg)

    def dream(self, job: Job) -> dict:
        cfg, info, segment = self.ctx.cfg, self.info, self.segment
        make = lambda: plan_segments(cfg, info, self.start, self.count, self.nseg, self.ctx.timeline)  # noqa: E731
        # One segment is the whole range, which frames.count may change between runs: never stored.
        self.streams = streams = job.plan(make) if self.nseg > 1 else make()
        if segment is not None and not 0 <= segment < len(streams):
            raise ConfigError(f"--segment: {segment} is not a segment of this job; it has {len(streams)} "
                              f"(0 to {len(streams) - 1})")
        # Only the segments this run may dream are checked (a farm task never hashes the others' frames).
        wanted = [s for s in streams if segment is None or s.index == segment]
        resumes = {s.index: s.first + job.first_missing(s.names()) for s in wanted}
        facts = {"mode": "video", "source": str(cfg.input), "fps": str(info.fps),
                 "size": [self.size[1], self.size[0]], "first_frame": self.start, "frames": self.count,
                 "batch": min(self.batch, len(streams)),
                 "resumed_at": min(resumes.values()) if any(resumes[s.index] > s.first for s in wanted) else None,
                 "variable_rate_source": info.variable_rate, "device": str(self.ctx.device)}
        if info.variable_rate:
            facts["note"] = f"variable-rate source made constant at its average rate {info.fps}"
        with ExitStack() as held:
            todo = []
            for s in wanted:
                if not held.enter_context(job.segment_lock(s.index)):
                    self.busy.append(s.index)
                    continue
                # Again under the lock, from where the first look stopped (the frames before it are
                # checked): a task may have dreamed more of it since.
                resume = resumes[s.index] + job.first_missing(s.names()[resumes[s.index] - s.first:])
                if resume < s.own_to:
                    todo.append((s, resume))
            if segment is not None and self.busy:
                raise OutputExistsError(f"segment {segment} of {cfg.output} is being dreamed by "
                                        f"{job.holder(segment)} right now")
            loop = LoopFacts()
            if todo and cfg.render.backend == "ray":
                from pipeline.rendering.ray_backend import dream_on_ray

                loop = dream_on_ray(self.ctx, info, job, todo, self.size)
            elif todo:
                loop = dream_segments(self.ctx, info, JobStore(job), todo, self.batch, self.size)
        self.cuts = loop.cuts
        facts.update(loop.facts(cfg))
        if segment is not None:
            s = streams[segment]
            facts.update(segment=segment, segment_frames=[s.first, s.own_to])
        return facts

    def assemble(self, job: Job) -> tuple[list[Path], dict]:
        streams, busy = self.streams, self.busy
        if busy:
            who = ", ".join(f"{i} ({job.holder(i)})" for i in busy)
            raise OutputExistsError(f"segment{'s' if len(busy) > 1 else ''} {who} of {self.ctx.cfg.output} "
                                    f"{'are' if len(busy) > 1 else 'is'} being dreamed by another process; run the "
                                    "same command again to assemble once they finish")
        found = {"segments": [{"index": s.index, "frames": [s.own_from, s.own_to], "from": s.first, "fresh": s.fresh,
                               **job.segment_info(s.index)} for s in streams],
                 # A segment that starts at a cut dreams it as its first frame: still a cut of the clip.
                 "scene_cuts": sorted(set(self.cuts) | {s.first for s in streams if s.fresh and s.first != self.start})}
        return output_frames(job, streams), found


def render_video(cfg: Config, force: bool, segment: int | None = None) -> dict:
    """Dream ``cfg.input`` frame by frame into ``cfg.output``, resuming a stopped job; with
    ``segment``, dream that segment only (a farm task: no output, see VideoRender)."""
    writer = "" if segment is None else f"s{segment:05d}"
    return render_animated(VideoRender(cfg, segment), force, writer=writer, encode=segment is None)


def plan_segments(cfg: Config, info: MediaInfo, start: int, count: int, segments: int,
                  timeline: Timeline) -> list[Stream]:
    """The job's segments: equal parts, with boundaries moved onto nearby scene cuts."""
    cuts = detect_cuts(cfg, info, start, count, timeline) if segments > 1 else []
    return plan_streams(start, count, segments, cuts, cfg.render.preroll, cfg.render.crossover)


def output_timecode(info: MediaInfo, start: int) -> str | None:
    """The source's start timecode moved on by the first frame rendered, so an editor can
    conform the dream onto the original; None when the source has none (or an unreadable one)."""
    if info.timecode is None:
        return None
    try:
        return offset_timecode(info.timecode, start, info.fps)
    except ValueError:
        return None


def output_frames(job: Job, streams: list[Stream]) -> list[Path]:
    """The PNG of every output frame, in order; crossover frames are blended into job/blend/."""
    blend_dir = job.root / "blend"
    blend_dir.mkdir(exist_ok=True)
    out = []
    for s, nxt in zip(streams, [*streams[1:], None]):
        for f in range(s.own_from, s.own_to):
            path = job.frame_path(f)
            w = nxt.crossfade_weight(f) if nxt is not None else 0.0
            if w > 0:
                a = read_image(path).astype(np.float32)
                b = read_image(job.frame_path(nxt.name(f))).astype(np.float32)
                path = blend_dir / path.name
                write_image(path, np.clip((1 - w) * a + w * b + 0.5, 0, 255).astype(np.uint8))
            out.append(path)
    return out


def detect_cuts(cfg: Config, info: MediaInfo, start: int, count: int, timeline: Timeline) -> list[int]:
    """Scene cuts of the range, from a quick pass at 160 px (to split streams at them). The
    threshold is evaluated with the same variables as in the frame loop (``t``, ``s``, ``T``,
    the audio envelopes), so a scheduled threshold splits where the chain restarts."""
    small = fit_size(info.height, info.width, SizeConfig(width=160), even=True)
    cuts, prev = [], None
    with FrameReader(info.path, info.fps, small, start, count, conceal=True) as reader:
        for index, rgb in reader:
            t = index - start
            if prev is not None and cut_score(prev, rgb) > cfg.video.scene_cut.at(t, timeline.env(t)):
                cuts.append(index)
            prev = rgb
    return cuts


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
    started: float = 0.0  # perf_counter when this run took the segment up
    dreamed: int = 0  # frames this run dreamed for it


@dataclass
class _Work:
    """One frame of one chain, ready to dream: its start image and settings, and what the fresh
    dream is blended with afterwards (blend 0 for a fresh start, which has no previous frame)."""

    chain: _Chain
    item: MotionItem
    raw: torch.Tensor
    init: torch.Tensor
    params: DreamParams
    blend: float = 0.0
    prev_out_w: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    dream_mask: torch.Tensor | None = None  # dream.mask of this frame, [1,1,H,W] in [0,1]


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
        return out


def dream_segments(ctx: RenderContext, info: MediaInfo, store: FrameStore, todo: list[tuple[Stream, int]],
                   batch: int, size: tuple[int, int]) -> LoopFacts:
    """Dream the segments ``todo`` ((segment, resume frame) pairs), ``batch`` of them advancing
    together in one batch, the next starting as one ends. Finished frames, and the frame a
    resumed chain continues from, go through ``store`` (the job folder, or a Ray worker's stream
    back to the driver). The network comes from ``ctx`` (a worker keeps it across calls)."""
    cfg, device = ctx.cfg, ctx.device
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
                yield from motion_items(iter(reader), v.flow, v.occlusion, cut_threshold, context_until=resume)

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

    def retire(ch: _Chain) -> None:
        close(ch)
        store.segment_done(ch.stream.index, time.perf_counter() - ch.started, ch.dreamed)
        chains.remove(ch)

    refill()
    cuts: list[int] = []
    total = sum(s.own_to - r for s, r in todo)
    progress = bar(total, "frame", "dreaming")
    dreamed = 0
    dream_seconds = 0.0
    t_loop = time.perf_counter()
    try:
        with progress:
            while True:
                work: list[_Work] = []
                for ch in list(chains):
                    item = _next_dreamable(ch, store, device)
                    if item is None:
                        retire(ch)
                        refill()
                        continue
                    dmask = None if ch.mask is None else torch.from_numpy(ch.mask.at(item.index)).to(device)[None, None]
                    w = prepare_frame(ctx, ch, item, item.index - start, dmask)
                    if w.prev_out_w is None and item.index != ch.stream.first and item.index >= ch.stream.own_from:
                        cuts.append(item.index)
                    work.append(w)
                if not work:
                    if chains or pending:
                        refill()
                        continue
                    break
                t0 = time.perf_counter()
                outs = dream_batch(work, net, guide, cfg.dream.seed)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                dream_seconds += time.perf_counter() - t0
                for w, out in zip(work, outs):
                    name, rgb, state = commit_frame(w, out, v.color_lock)
                    store.put(name, rgb, state)
                    w.chain.dreamed += 1
                    dreamed += 1
                    progress.update(1)
    finally:
        for ch in chains:
            close(ch)
        store.close()
    return LoopFacts(cuts, dreamed, source, time.perf_counter() - t_loop, dream_seconds,
                     min(held) if held else None)


def prepare_frame(ctx: RenderContext, ch: _Chain, item: MotionItem, t: int,
                  dream_mask: torch.Tensor | None) -> _Work:
    """A frame's start image and settings: the raw frame when its chain starts fresh (first
    frame, cut), else the raw frame plus the previous dream's detail warped along the flow,
    held at the shot's strength. ``t``: frame time for the schedules."""
    device, v, env = ctx.device, ctx.cfg.video, ctx.env(t)
    raw = to_tensor(item.rgb, device)
    if item.index == ch.stream.first or item.cut or ch.prev_out is None:
        return _Work(ch, item, raw, raw, ctx.params(t), dream_mask=dream_mask)
    back = flow_to_tensor(item.flow_back, device)
    mask = torch.from_numpy(item.mask).to(device)[None, None]
    prev_out_w, prev_raw_w = warp(ch.prev_out, back), warp(ch.prev_raw, back)
    if dream_mask is not None:
        mask = mask * dream_mask  # no carried detail where the frame is kept clean
    # Hold the carried detail at the shot's strength, both as the start of the dream and as
    # what the blend pulls toward, so it cannot pile up.
    gain = hold_gain(prev_out_w - prev_raw_w, mask, ch.target, v.hold.at(t, env))
    prev_out_w = prev_raw_w + gain * (prev_out_w - prev_raw_w)
    init = carry_residual(raw, prev_out_w, prev_raw_w, mask, v.carry.at(t, env))
    params = ctx.params(t, steps=int(v.steps_after_first.at(t, env)))
    return _Work(ch, item, raw, init, params, v.blend.at(t, env), prev_out_w, mask, dream_mask)


def dream_batch(work: list[_Work], net: torch.nn.Module, guide: dict[str, torch.Tensor] | None,
                seed: int) -> list[torch.Tensor]:
    """Dream every prepared frame; frames whose settings agree go through together, each with
    its own randomness. Returns one [1,3,H,W] dream per frame, in order."""
    groups: dict[DreamParams, list[int]] = {}
    for k, w in enumerate(work):
        groups.setdefault(w.params, []).append(k)
    outs: dict[int, torch.Tensor] = {}
    for params, ks in groups.items():
        x = torch.cat([work[k].init for k in ks])
        gens = [frame_generator(seed, work[k].item.index) for k in ks]
        dm = [work[k].dream_mask for k in ks]
        y = dream(x, net, params, gens, guide, mask=None if dm[0] is None else torch.cat(dm))
        outs.update({k: y[j : j + 1] for j, k in enumerate(ks)})
    return [outs[k] for k in range(len(work))]


def commit_frame(w: _Work, out: torch.Tensor, lock: bool) -> tuple[str, np.ndarray, str]:
    """Finish a dreamed frame and move its chain on; returns (checkpoint name, RGB uint8, state)."""
    out = finish_frame(out, w.raw, lock, w.dream_mask, w.prev_out_w, w.mask, w.blend)
    if w.prev_out_w is None:  # a fresh frame sets the shot's target
        w.chain.target = float(residual_strength(out - w.raw, torch.ones_like(out[:, :1]))[0])
    rgb = to_rgb8(out)
    # Carry the 8-bit frame, exactly what a resumed run reads back from its checkpoint.
    w.chain.prev_raw, w.chain.prev_out = w.raw, to_tensor(rgb, w.raw.device)
    return w.chain.stream.name(w.item.index), rgb, repr(w.chain.target)


def finish_frame(out: torch.Tensor, raw: torch.Tensor, lock: bool, dream_mask: torch.Tensor | None = None,
                 prev_out_w: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                 blend: float = 0.0) -> torch.Tensor:
    """A dreamed frame [1,3,H,W] in [0,1] made final: blended with the warped previous dream
    (``blend`` where ``mask`` trusts the flow), colour-locked to ``raw``, and kept exactly ``raw``
    where ``dream_mask`` is 0. The preview finishes its frames here too, so it shows the render."""
    if blend > 0 and prev_out_w is not None:
        out = blend_previous(out, prev_out_w, mask, blend)
    if lock:
        out = color_lock(out, raw)
    if dream_mask is not None:
        # Colour lock is a low-pass over the whole frame: keep the clean region exact.
        out = raw + dream_mask * (out - raw)
    return out


def _next_dreamable(ch: _Chain, store: FrameStore, device: torch.device) -> MotionItem | None:
    """The chain's next frame to dream; context frames (after a resume) only set its state."""
    if ch.done:
        return None
    for item in ch.items:
        if item.context:
            rgb, state = store.context(ch.stream.name(item.index))
            ch.prev_raw = to_tensor(item.rgb, device)
            ch.prev_out = to_tensor(rgb, device)
            ch.target = float(state) if state else float(
                residual_strength(ch.prev_out - ch.prev_raw, torch.ones_like(ch.prev_raw[:, :1]))[0])
            continue
        return item
    ch.done = True
    return None
