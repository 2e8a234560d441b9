"""Video mode: each frame starts from the previous dream's detail, carried along the optical flow."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np

from dreamreel.config import Config, SizeConfig
from dreamreel.errors import ConfigError, OutputExistsError
from dreamreel.media.images import read_image, write_image
from dreamreel.media.mask import open_mask
from dreamreel.media.probe import MediaInfo, probe
from dreamreel.media.reader import FrameReader
from dreamreel.media.timecode import offset_timecode
from dreamreel.motion.flow import flow_method
from dreamreel.motion.scene import cut_score
from dreamreel.modes.animated import check_mask, file_identity, input_identities, render_animated, settings_digest
from dreamreel.modes.chain import METHOD, LoopFacts, dream_segments, resume_frame
from dreamreel.jobs.folder import Job, JobStore
from dreamreel.modes.context import build_context
from dreamreel.speed.gpu import cuda_settings
from dreamreel.modes.setup import fit_size, host_threads, resolve_batch
from dreamreel.modes.streams import Stream, plan_streams, stream_count
from dreamreel.modes.variables import Timeline

__all__ = ["render_video", "VideoRender", "plan_frames", "plan_segments", "fingerprint"]

# Settings that only change how finished frames are packed; changing them keeps the checkpoints.
_ENCODE_ONLY = {"crf", "preset", "audio", "damaged", "codec"}


def plan_frames(cfg: Config, info: MediaInfo) -> tuple[int, int]:
    """(first frame, frame count) of the source to render, from ``frames`` and the promised length."""
    start = cfg.frames.start
    if start >= info.frames:
        raise ConfigError(f"frames.start: {start} is past the end of {cfg.input} ({info.frames} frames)")
    available = info.frames - start
    count = available if cfg.frames.count is None else min(cfg.frames.count, available)
    return start, count


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
        "inputs": input_identities(cfg),
        "size": list(size),
        "fps": str(info.fps),
    }


def resolve_segments(segments: int | str, batch: int) -> int:
    """'auto' -> one segment per stream of a batch (the split batching has always used)."""
    return batch if segments == "auto" else int(segments)


def segment_setting(cfg: Config) -> int:
    """The segments the video job of ``cfg`` is asked to have, as its render settles them: with
    ``render.devices`` (local) one a device times its batch (devices.segment_setting), else
    ``render.segments`` (auto: one per stream of a batch). ``--dry-run`` and ``--timeline`` show
    what the render uses."""
    from dreamreel.modes.setup import resolve_device

    if cfg.render.devices is not None and cfg.render.backend == "local":
        from dreamreel.farm import devices

        return devices.segment_setting(cfg, devices.resolve_devices(cfg.render.devices))
    return resolve_segments(cfg.render.segments, resolve_batch(cfg.render.batch, resolve_device(cfg.dream.device)))


class VideoRender:
    """A video render for the animated skeleton. Built before any job folder exists: the probe
    (which also finds truncation), the frame range, the context (audio read, schedules checked),
    the mask and, for Ray, the extra are checked here.

    With ``segments`` (a farm task) it dreams only those segments of the plan, side by side as a
    batch, under their locks; a
    plain run dreams whatever is still missing (skipping, then reporting, segments another
    process is dreaming) and assembles the output."""

    def __init__(self, cfg: Config, segments: tuple[int, ...] | None = None) -> None:
        assert cfg.input is not None
        self.segments = segments
        self.info = info = probe(cfg.input, cfg.limits.max_pixels)
        self.start, self.count = plan_frames(cfg, info)
        self.size = fit_size(info.height, info.width, cfg.size, even=True, max_pixels=cfg.limits.max_pixels)
        self.fps = info.fps
        self.timecode = output_timecode(info, self.start)
        self.ctx = build_context(cfg, self.count, float(info.fps), offset=float(self.start / info.fps), source=info)
        self.batch = resolve_batch(cfg.render.batch, self.ctx.device)
        self.nseg = resolve_segments(cfg.render.segments, self.batch)
        check_mask(cfg, self.size, info.fps)
        planned = stream_count(self.count, self.nseg, cfg.render.preroll, cfg.render.crossover)
        if segments is not None:
            # Before any job folder exists: a refused task leaves nothing behind.
            check_segments(segments, planned)
        if cfg.render.backend == "ray" and segments is None:
            from dreamreel.farm.ray_backend import import_ray

            import_ray()  # a missing extra fails before the job exists
        self.streams: list[Stream] = []
        self.busy: list[int] = []
        self.cuts: list[int] = []

    def fingerprint(self) -> dict:
        return fingerprint(self.ctx.cfg, self.info, self.size, self.nseg)

    def plan(self, job: Job) -> list[Stream]:
        """The job's segments: the stored plan (``plan.json``), made and stored by the first run or
        task that needs it, so every process of the job dreams one plan."""
        cfg = self.ctx.cfg
        make = lambda: plan_segments(cfg, self.info, self.start, self.count, self.nseg, self.ctx.timeline)  # noqa: E731
        # One segment is the whole range, which frames.count may change between runs: never stored.
        return job.plan(make, self.start, self.count) if self.nseg > 1 else make()

    def dream(self, job: Job) -> dict:
        cfg, info, segments = self.ctx.cfg, self.info, self.segments
        self.streams = streams = self.plan(job)
        if segments is not None:
            check_segments(segments, len(streams))
        # Only the segments this run may dream are checked (a farm task never hashes the others' frames).
        wanted = [s for s in streams if segments is None or s.index in segments]
        resumes = {s.index: resume_frame(job, s, s.first, self.size) for s in wanted}
        facts = {"mode": "video", "source": str(cfg.input), "fps": str(info.fps),
                 "size": [self.size[1], self.size[0]], "first_frame": self.start, "frames": self.count,
                 "batch": min(self.batch, len(streams)),
                 "resumed_at": min(resumes.values()) if any(resumes[s.index] > s.first for s in wanted) else None,
                 "variable_rate_source": info.variable_rate, "device": str(self.ctx.device),
                 "flow": flow_method(cfg.video.flow, max(self.size))}
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
                resume = resume_frame(job, s, resumes[s.index], self.size)
                if resume < s.own_to:
                    todo.append((s, resume))
            if segments is not None and self.busy:
                raise OutputExistsError(f"segment {self.busy[0]} of {cfg.output} is being dreamed by "
                                        f"{job.holder(self.busy[0])} right now")
            loop = LoopFacts()
            # The chains this run dreams side by side decide the promise, not render.batch: a clip
            # short enough for one chain is deterministic whatever the batch asked.
            held.enter_context(cuda_settings(self.ctx.device, max(1, min(self.batch, len(todo)))))
            if todo:
                work = sum(s.own_to - r for s, r in todo) * max(1, int(cfg.video.steps_after_first.at(0, self.ctx.env(0))))
                pinned = job.choices()
                facts["choices"] = self.ctx.tune(self.size, work, pinned, batch=min(self.batch, len(todo)))
                if pinned is None:
                    job.pin_choices(facts["choices"])
            if todo and cfg.render.backend == "ray":
                from dreamreel.farm.ray_backend import dream_on_ray

                self.ctx.release()  # the workers load their own: the trial's net would hold GPU 0 here
                loop = dream_on_ray(self.ctx, info, job, todo, self.size)
            elif todo:
                loop = dream_segments(self.ctx, info, JobStore(job, host_threads(self.ctx.device)["writers"]), todo,
                                      self.batch, self.size)
        self.cuts = loop.cuts
        facts.update(loop.facts(cfg))
        held = self.mask_held_from(loop.mask_held_from)
        if held is not None:
            facts["mask_held_from"] = held
        if segments is not None:
            facts.update(segments=list(segments), segment_frames=[[streams[i].first, streams[i].own_to]
                                                                  for i in segments])
        return facts

    def mask_held_from(self, seen: int | None) -> int | None:
        """The first frame whose mask holds a short matte's last frame: what this run's loop saw,
        or what the matte's length says for frames dreamed elsewhere (farm tasks, Ray workers,
        an earlier run)."""
        cfg = self.ctx.cfg
        track = open_mask(cfg.dream.mask, self.size, self.info.fps, 0, cfg.dream.mask_invert,
                          cfg.dream.mask_feather, cfg.limits.max_pixels)
        if track is None:
            return seen
        with track:
            predicted = track.held_after(self.start + self.count - 1)
        found = [h for h in (seen, predicted) if h is not None]
        return max(min(found), self.start) if found else None

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


    def measured(self, frames: list[Path], recorded: dict[str, dict]) -> dict[str, dict]:
        """``recorded``, with every output frame the dream's facts do not describe measured again
        on the frame as written: crossover frames blended at assembly (the facts are one
        segment's, unblended) and frames whose facts were lost or damaged (a kill -9 between a
        checkpoint and its facts line). The source frames are decoded again for them, and the
        flicker is taken along a fresh flow from the previous output frame."""
        from dreamreel.modes.chain import motion_items
        from dreamreel.inspect.report import FrameFacts, valid_facts

        need = {k for k, p in enumerate(frames) if p.parent.name == "blend" or valid_facts(recorded.get(p.name)) is None}
        if not need:
            return recorded
        out = dict(recorded)
        v = self.ctx.cfg.video
        first = max(min(need) - 1, 0)
        with FrameReader(self.info.path, self.info.fps, self.size, self.start + first, max(need) + 1 - first,
                         conceal=True) as reader:
            items = motion_items(iter(reader), flow_method(v.flow, max(self.size)), v.occlusion,
                                 lambda index: 2.0, context_until=0)  # no cut: fresh comes from the facts
            for item in items:
                k = item.index - self.start
                if k not in need:
                    continue
                base = valid_facts(recorded.get(frames[k].name)) or {}
                fresh = bool(base.get("fresh", k == 0))
                prev = None if fresh or k == 0 else read_image(frames[k - 1])
                facts = FrameFacts(item.rgb, prev, item.flow_back, item.mask, float(base.get("seconds", 0.0)), fresh,
                                   int(base.get("segment", 0))).measure(read_image(frames[k]))
                if base.get("host"):
                    facts["host"] = base["host"]
                out[frames[k].name] = facts
        return out


def render_video(cfg: Config, force: bool, segments: tuple[int, ...] | None = None) -> dict:
    """Dream ``cfg.input`` frame by frame into ``cfg.output``, resuming a stopped job; with
    ``segments``, dream those segments only (a farm task: no output, see VideoRender)."""
    writer = "" if segments is None else "s" + "-".join(f"{i:05d}" for i in segments)
    return render_animated(VideoRender(cfg, segments), force, writer=writer, encode=segments is None)


def check_segments(segments: tuple[int, ...], planned: int) -> None:
    """ConfigError naming the first of ``segments`` that the job's ``planned`` segments lack."""
    for i in segments:
        if not 0 <= i < planned:
            raise ConfigError(f"--segment: {i} is not a segment of this job; it has {planned} (0 to {planned - 1})")


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
