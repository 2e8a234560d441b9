"""What a render would do, for ``--dry-run``: computed without writing anything."""
from __future__ import annotations

import yaml

from dreamreel.config import Config
from dreamreel.dream.engine import octave_sizes
from dreamreel.errors import DreamreelError
from dreamreel.media.probe import MediaInfo, probe
from dreamreel.models.registry import get_spec
from dreamreel.models.weights import locate_weights
from dreamreel.jobs.outputs import manifest_path
from dreamreel.modes.setup import fit_size, resolve_device, resolve_tile


def _frame_size(cfg: Config, info: MediaInfo | None) -> tuple[int, int]:
    if cfg.mode == "atlas":
        return cfg.atlas.cell, cfg.atlas.cell
    if cfg.input is None:
        return fit_size(512, 512, cfg.size)
    if info is not None:
        return fit_size(info.height, info.width, cfg.size, even=True)
    if cfg.mode == "zoom":
        from dreamreel.modes.zoom import start_frame

        return tuple(start_frame(cfg).shape[:2])
    from dreamreel.media.images import read_image

    h, w = read_image(cfg.input, cfg.limits.max_pixels).shape[:2]
    return fit_size(h, w, cfg.size)


def _place_keys(cfg: Config, info: MediaInfo | None) -> None:
    """Bind keys given by time, beat or bar as the render will: keys on beats need the render's
    own beat map, so the audio is analysed (what the render does first anyway)."""
    scheds = [s for s in cfg.schedules().values() if s.marks]
    if not scheds:
        return
    if cfg.mode in ("still", "atlas"):
        for s in scheds:
            s.bind(1.0)
        return
    if info is not None:
        from dreamreel.modes.video import plan_frames

        start, count = plan_frames(cfg, info)
        fps = float(info.fps)
    else:
        start, count, fps = 0, cfg.zoom.frames, float(cfg.zoom.fps)
    if any(s.reads_beats for s in scheds):
        from dreamreel.modes.context import timeline_of

        timeline_of(cfg, count, fps, start / fps, info)  # binds every schedule (check_schedules)
    else:
        for s in scheds:
            s.bind(fps)


def describe(cfg: Config) -> str:
    """The resolved config as YAML, then the plan: sizes, octaves, steps, device, weights, files."""
    lines = ["# resolved config", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).rstrip(), "", "# plan"]
    device = resolve_device(cfg.dream.device)
    try:
        weights = locate_weights(get_spec(cfg.dream.model), cfg.dream.weights)
        wsrc = str(weights) if weights else "random"
    except DreamreelError as exc:
        wsrc = f"MISSING ({exc})"
    info = probe(cfg.input, cfg.limits.max_pixels) if cfg.mode == "video" else None  # one probe serves size and plan
    h, w = _frame_size(cfg, info)
    _place_keys(cfg, info)
    tile = resolve_tile(cfg.dream.tile, device)
    octs = octave_sizes(h, w, int(cfg.dream.octaves.at(0)), cfg.dream.octave_scale.at(0))
    lines += [
        f"mode: {cfg.mode}",
        f"input: {cfg.input if cfg.input else 'noise'}",
        f"frame size: {w}x{h}",
        f"octaves: {', '.join(f'{ow}x{oh}' for oh, ow in octs)}",
        f"steps per frame: {int(cfg.dream.steps.at(0)) * len(octs)}"
        + (" (at frame 0; some settings are scheduled)" if any(not s.constant for s in cfg.schedules().values()) else ""),
        f"tiles: {'yes' if max(h, w) > tile else 'no'} (tile {tile}{' = auto' if cfg.dream.tile == 'auto' else ''})",
        f"device: {device}, {_choice_line(cfg, device, (h, w))}",
        f"model: {cfg.dream.model}, weights: {wsrc}",
        f"output: {cfg.output}",
        f"manifest: {manifest_path(cfg.output)}",
    ]
    if info is not None:
        lines += _video_plan(cfg, info)
    if cfg.mode == "zoom":
        lines += _zoom_plan(cfg)
    users = cfg.uses_audio()
    if users:
        lines.append(f"audio-driven: {', '.join(users)} (from {cfg.audio.file or 'the input video'})")
    return "\n".join(lines)


def _choice_line(cfg: Config, device, size: tuple[int, int]) -> str:
    """Precision and layout as a render here would run them: as set, from the cache of measured
    choices, or to be measured (a render too short to repay a trial, a still among them, takes
    what was measured here at the nearest size, else the rule)."""
    from dreamreel.speed.choices import (cache_file, candidates, label, layer_names, lookup, machine_identity,
                                            nearest, rule)

    d = cfg.dream
    options = candidates(d.precision, d.channels_last, device)
    if len(options) == 1:
        return f"precision: {label(options[0])} (set)"
    identity = machine_identity(device)
    found = lookup(identity, d.model, layer_names(d), *size, options)
    if found is not None:
        return f"precision: {label((found.precision, found.channels_last))} (measured earlier, {cache_file()})"
    near = nearest(identity, d.model, *size, options)
    short = (f"{label((near.precision, near.channels_last))}, measured here at another size" if near is not None
             else f"{label(rule(d, device))} by rule")
    if cfg.mode in ("video", "zoom"):
        return (f"precision: auto, timed at the first frame among {', '.join(map(label, options))} "
                f"(a render too short to repay the trial takes {short})")
    return f"precision: {short} (auto: a picture is too short to time choices for)"


def _zoom_plan(cfg: Config) -> list[str]:
    from dreamreel.jobs.folder import job_dir
    from dreamreel.modes.zoom import loop_tail, warmup_frames

    z = cfg.zoom
    tail, warm = loop_tail(cfg), warmup_frames(cfg)
    return [
        f"frames: {z.frames} at {z.fps:g} fps ({z.frames / z.fps:.2f} s)",
        f"loop: {'yes, ' + str(tail) + ' tail frames dreamed toward the start' if z.loop else 'no'}",
        f"warm-up: {warm} frames dreamed before the first one shown" + (" (zoom.warmup: auto)" if z.warmup == "auto" else ""),
        f"audio track: {cfg.audio.file or 'none'}",
        f"job folder: {job_dir(cfg.output)}",
    ]


def _video_plan(cfg: Config, info: MediaInfo) -> list[str]:
    from dreamreel.jobs.folder import job_dir
    from dreamreel.modes.video import plan_frames

    start, count = plan_frames(cfg, info)
    lines = [
        f"source: {info.width}x{info.height} at {info.fps} fps ({float(info.fps):.3f}), "
        f"{info.frames} frames, audio: {'yes' if info.has_audio else 'no'}",
        f"frames to render: {count} (from {start})",
        f"job folder: {job_dir(cfg.output)}",
    ]
    return lines + _segments_plan(cfg, info, start, count)


def _segments_plan(cfg: Config, info: MediaInfo, start: int, count: int) -> list[str]:
    """The segments a render or its farm tasks (``--segment I``) would dream: the job's stored
    plan when there is one, else a fresh one (with the scene-cut pass when there are several)."""
    from dreamreel.jobs.folder import job_dir, read_plan
    from dreamreel.modes.streams import tiles
    from dreamreel.modes.context import timeline_of
    from dreamreel.modes.video import plan_segments, segment_setting

    n = segment_setting(cfg)
    segments = read_plan(job_dir(cfg.output)) if n > 1 else []
    if not tiles(segments, start, count):
        timeline = timeline_of(cfg, count, float(info.fps), float(start / info.fps), info)
        segments = plan_segments(cfg, info, start, count, n, timeline)
    lines = [f"segments: {len(segments)} (dreamreel render --segment 0 .. {len(segments) - 1} as farm tasks)"]
    for s in segments:
        lead = f", dreams from {s.first}" if s.first < s.own_from else ""
        lines.append(f"  segment {s.index}: frames {s.own_from}-{s.own_to - 1}{lead}"
                     f"{' (starts fresh)' if s.fresh else f', crossover {s.crossover}'}")
    return lines
