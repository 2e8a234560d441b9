"""``dreamreel timeline CONFIG``: what a video or zoom render would use, computed without
dreaming (audio analysis, every schedule at every frame, cuts and segments), written beside the
output as OUTPUT.timeline.json, .html and .png, with the beats and onsets as Audacity label
tracks (OUTPUT.detected.beats.txt, .detected.bars.txt, .detected.onsets.txt) to correct and feed
back as ``audio_markers``. A file there that a person changed is never replaced without --force
(jobs/sidecars.py), and the marker input is never written."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dreamreel.config import Config
from dreamreel.errors import ConfigError, MediaError
from dreamreel.jsonio import load
from dreamreel.markers import format_labels
from dreamreel.media.audio import ANALYSIS_RATE, listening_copy, read_audio
from dreamreel.jobs.outputs import sidecar
from dreamreel.jobs.sidecars import check_sidecars, same_file, write_ledgered
from dreamreel.modes.variables import Timeline, analyse_audio, check_schedules, rhythm_sources
from dreamreel.views.lanes import FORMAT, timeline_data, waveform

# Audio longer than this is not embedded in the page (an hour of 32 kb/s Opus is 14 MB).
MAX_EMBED_SECONDS = 3600.0


def render_timeline(cfg: Config, force: bool = False) -> dict[str, Any]:
    """Compute the timeline of ``cfg`` and write its files; returns {written: [paths], ...}."""
    if cfg.mode not in ("video", "zoom"):
        raise ConfigError(f"--timeline shows the frames of video and zoom renders; this config renders mode {cfg.mode}")
    notes: list[str] = []
    info = None
    if cfg.mode == "video":
        from dreamreel.media.probe import probe
        from dreamreel.modes.video import plan_frames

        assert cfg.input is not None
        info = probe(cfg.input, cfg.limits.max_pixels)
        start, count = plan_frames(cfg, info)
        fps, offset = float(info.fps), float(start / info.fps)
        source = cfg.audio.file or (info.path if info.has_audio else None)
    else:
        start, count, fps, offset, source = 0, cfg.zoom.frames, float(cfg.zoom.fps), 0.0, cfg.audio.file
    samples = envs = None
    if source is None:
        notes.append("no audio: the envelopes are flat" + (" and the render would refuse this config, since "
                                                          f"{cfg.uses_audio()[0]} reads them" if cfg.uses_audio() else ""))
    else:
        try:
            samples = read_audio(source, notes=notes)
        except MediaError as exc:
            notes.append(f"audio: {exc}; the envelopes are flat")
    if samples is not None:
        envs = analyse_audio(cfg, source, count, fps, offset, samples=samples)
        notes.extend(envs.notes)
        if not np.any(samples):
            notes.append(f"audio: {source} is silent; the envelopes are flat")
        elif envs.tempo == 0 and cfg.audio_markers is None:
            notes.append("audio: no steady beat found; no beats marked")
    timeline = check_schedules(cfg, Timeline(count, fps, envs))
    cuts: list[int] = []
    segments: list[dict[str, Any]] = []
    if info is not None:
        cuts, segments = _cuts_and_segments(cfg, info, start, count, timeline)
    audio = None
    if source is not None:
        audio = {"file": str(source), "offset": offset, **rhythm_sources(cfg)}
    wave = waveform(samples, ANALYSIS_RATE, offset, count / fps) if samples is not None else None
    # Before the page's data: its notes (a track too long to embed) belong on the page too.
    listening = _listening(source, offset, count / fps, samples, notes)
    data = timeline_data(cfg, timeline, title=str(cfg.output), first_frame=start, audio=audio, cuts=cuts,
                         segments=segments, wave=wave, notes=notes)
    data["previews"] = _previews(cfg.output, count, fps)
    return write_timeline(cfg.output, data, listening, envs, force=force, markers=cfg.audio_markers,
                          bar_markers=cfg.audio_bar_markers)


def _cuts_and_segments(cfg: Config, info: Any, start: int, count: int,
                       timeline: Timeline) -> tuple[list[int], list[dict[str, Any]]]:
    """Scene cuts (output frame numbers) and the job's segments, as the render would plan them."""
    from dreamreel.modes.streams import plan_streams
    from dreamreel.modes.video import detect_cuts, segment_setting

    cuts = detect_cuts(cfg, info, start, count, timeline)
    nseg = segment_setting(cfg)
    streams = plan_streams(start, count, nseg, cuts if nseg > 1 else [], cfg.render.preroll, cfg.render.crossover)
    return [c - start for c in cuts], [
        {"index": s.index, "first": s.first - start, "from": s.own_from - start, "to": s.own_to - start,
         "fresh": s.fresh} for s in streams]


def _listening(source: Path | None, offset: float, seconds: float, samples: np.ndarray | None,
               notes: list[str]) -> bytes | None:
    if source is None or samples is None or not np.any(samples):
        return None
    if seconds > MAX_EMBED_SECONDS:
        notes.append(f"audio longer than {MAX_EMBED_SECONDS / 60:.0f} minutes is not embedded in the page")
        return None
    try:
        return listening_copy(source, offset, seconds)
    except MediaError as exc:
        notes.append(str(exc))
        return None


def _previews(output: Path, frames: int, fps: float) -> list[dict[str, Any]]:
    """The cells of this output's last moment preview (OUTPUT.preview.json), for the filmstrip,
    when it previewed this timeline (same frame count and rate); else none."""
    found = load(sidecar(output, ".preview.json"))
    try:
        if found.get("frames") == frames and abs(float(found.get("fps", 0)) - fps) < 1e-6:
            return [c for c in found.get("cells", []) if isinstance(c, dict) and {"frame", "thumb"} <= set(c)]
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return []


def write_timeline(output: Path, data: dict[str, Any], listening: bytes | None, envs: Any, force: bool = False,
                   markers: Path | None = None, bar_markers: Path | None = None) -> dict[str, Any]:
    """Write OUTPUT.timeline.json/.html/.png and the label tracks; returns what was written.

    Everything is made in memory first, then checked against what is there (sidecars.py): a file
    a person changed is refused without ``force`` before anything is written."""
    from dreamreel.views.figure import timeline_png
    from dreamreel.views.page import timeline_page

    files: dict[Path, bytes] = {sidecar(output, ".timeline.html"): timeline_page(data, listening).encode(),
                                sidecar(output, ".timeline.png"): timeline_png(data)}
    if envs is not None:
        # In the audio file's own time, as Audacity shows it: corrected, it goes back as audio_markers.
        tracks = [("onsets", envs.onsets, "onset"), ("bars", envs.downbeats, "bar")]
        if markers is None:
            tracks.insert(0, ("beats", envs.beats, "beat"))
        for name, times, label in tracks:
            files[sidecar(output, f".detected.{name}.txt")] = format_labels(times, label).encode()
    json_path = sidecar(output, ".timeline.json")
    inputs = {markers: "audio_markers", bar_markers: "audio_bar_markers"}
    writable = check_sidecars(json_path, FORMAT, list(files), force, (markers, bar_markers))
    for p in [p for p in files if p not in writable]:
        key = next((k for m, k in inputs.items() if m is not None and Path(m).exists() and same_file(p, m)),
                   "audio_markers")
        data["notes"].append(f"{p.name} is the {key} input: left as it is")
        del files[p]
    written = write_ledgered(json_path, data, files)
    return {"timeline": [str(p) for p in written], "frames": data["frames"], "notes": data["notes"]}
