"""Video mode: each frame starts from the previous dream's detail, carried along the optical flow."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from pipeline.config import Config
from pipeline.dream import dream
from pipeline.errors import ConfigError
from pipeline.media.encode import audio_plan, encode_frames
from pipeline.media.images import read_image, to_rgb8, to_tensor
from pipeline.media.probe import MediaInfo, probe
from pipeline.media.reader import FrameReader
from pipeline.motion.color import color_lock
from pipeline.motion.consistency import consistency_mask
from pipeline.motion.flow import FlowEstimator, to_gray
from pipeline.motion.scene import cut_score
from pipeline.motion.temporal import blend_previous, carry_residual
from pipeline.motion.warp import flow_to_tensor, warp
from pipeline.render.jobs import FrameWriter, Job, job_dir
from pipeline.render.prefetch import prefetch
from pipeline.render.progress import bar
from pipeline.render.setup import dream_params, fit_size, frame_generator, load_net, resolve_device
from pipeline.render.still import load_guide
from pipeline.render.timeline import build_timeline

__all__ = ["render_video", "plan_frames", "job_dir", "MotionItem", "motion_items"]

# Settings that only change how finished frames are packed; changing them keeps the checkpoints.
_ENCODE_ONLY = {"crf", "preset", "audio", "damaged"}


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
                    mask = consistency_mask(back, fwd)
                else:
                    mask = np.ones(gray.shape, np.float32)
            item = MotionItem(index, rgb, back, mask, cut, score)
        item.context = index < context_until
        yield item
        prev_rgb, prev_gray = rgb, gray


def fingerprint(cfg: Config, info: MediaInfo, size: tuple[int, int]) -> dict:
    """What shapes the pixels of a video job: settings (not encoding ones), source identity, size."""
    conf = cfg.model_dump(mode="json")
    conf["video"] = {k: v for k, v in conf["video"].items() if k not in _ENCODE_ONLY}
    conf.pop("output", None)
    conf["frames"].pop("count", None)  # rendering more or fewer frames reuses the ones there
    stat = Path(info.path).stat()
    return {
        "settings": hashlib.sha256(json.dumps(conf, sort_keys=True).encode()).hexdigest(),
        "source": {"path": str(Path(info.path).resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "size": list(size),
        "fps": str(info.fps),
    }


def render_video(cfg: Config, force: bool) -> dict:
    """Dream ``cfg.input`` frame by frame into ``cfg.output``, resuming a stopped job."""
    assert cfg.input is not None
    info = probe(cfg.input)
    start, count = plan_frames(cfg, info)
    size = fit_size(info.height, info.width, cfg.size, even=True)
    job = Job(cfg.output, fingerprint(cfg, info, size))
    job.open(force)
    resume = job.resume_point(start, count)
    device = resolve_device(cfg.dream.device)
    facts = {"mode": "video", "source": str(cfg.input), "fps": str(info.fps), "size": [size[1], size[0]],
             "first_frame": start, "frames": count, "resumed_at": resume if resume > start else None,
             "variable_rate_source": info.variable_rate, "device": str(device)}
    if info.variable_rate:
        facts["note"] = f"variable-rate source made constant at its average rate {info.fps}"
    cuts: list[int] = []
    if resume < start + count:
        cuts = _dream_frames(cfg, info, job, start, count, resume, size, device, facts)
    facts["scene_cuts"] = cuts
    choice = str(cfg.audio) if cfg.audio is not None and cfg.video.audio == "source" else cfg.video.audio
    audio = audio_plan(choice, cfg.input, info.has_audio, info.audio_codec, float(start / info.fps))
    encode_frames(job.frames, list(range(start, start + count)), info.fps, cfg.output, cfg.video.crf,
                  cfg.video.preset, audio)
    facts["audio"] = str(audio[0]) if audio else None
    job.remove()
    return facts


def _dream_frames(cfg: Config, info: MediaInfo, job: Job, start: int, count: int, resume: int,
                  size: tuple[int, int], device: torch.device, facts: dict) -> list[int]:
    net, source = load_net(cfg.dream, device)
    facts.update(model=cfg.dream.model, weights=source)
    fallback = cfg.input if info.has_audio else None
    timeline = build_timeline(cfg, count, float(info.fps), offset=float(start / info.fps), fallback_audio=fallback)
    guide = None
    if cfg.dream.guide is not None:
        layers = [t.layer for t in dream_params(cfg.dream, device).terms if t.channel is None]
        guide = load_guide(cfg.dream.guide, net, layers, device)
    v = cfg.video

    def cut_threshold(index: int) -> float:
        return v.scene_cut.at(index - start, timeline.env(index - start))
    seed_from = resume - 1 if resume > start else resume  # a resumed chain re-reads one frame for context
    expected = start + count - seed_from

    def items() -> Iterator[MotionItem]:
        with FrameReader(info.path, info.fps, size, seed_from, start + count - seed_from, expected,
                         conceal=v.damaged == "conceal") as reader:
            yield from motion_items(iter(reader), v.flow, v.occlusion, cut_threshold, context_until=resume)

    prev_raw = prev_out = None
    cuts: list[int] = []
    writer = FrameWriter(job)
    progress = bar(count, "frame", "dreaming", initial=resume - start)
    stream = prefetch(items)
    try:
        with progress:
            for item in stream:
                raw = to_tensor(item.rgb, device)
                if item.context:
                    prev_raw = raw
                    prev_out = to_tensor(read_image(job.frame_path(item.index)), device)
                    continue
                t = item.index - start
                env = timeline.env(t)
                fresh = item.index == start or item.cut or prev_out is None
                if fresh:
                    if item.index != start:
                        cuts.append(item.index)
                    init, params = raw, dream_params(cfg.dream, device, t, env)
                else:
                    back = flow_to_tensor(item.flow_back, device)
                    mask = torch.from_numpy(item.mask).to(device)[None, None]
                    prev_out_w, prev_raw_w = warp(prev_out, back), warp(prev_raw, back)
                    init = carry_residual(raw, prev_out_w, prev_raw_w, mask, v.carry.at(t, env))
                    params = dream_params(cfg.dream, device, t, env, steps=int(v.steps_after_first.at(t, env)))
                out = dream(init, net, params, frame_generator(cfg.dream.seed, item.index), guide)
                blend = v.blend.at(t, env)
                if not fresh and blend > 0:
                    out = blend_previous(out, prev_out_w, mask, blend)
                if v.color_lock:
                    out = color_lock(out, raw)
                rgb = to_rgb8(out)
                writer.put(item.index, rgb)
                # Carry the 8-bit frame, exactly what a resumed run reads back from its checkpoint.
                prev_raw, prev_out = raw, to_tensor(rgb, device)
                progress.update(1)
    finally:
        stream.close()  # stop the decoder thread and its ffmpeg now, not when collected
        writer.close()
    return cuts
