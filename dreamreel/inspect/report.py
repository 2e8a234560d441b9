"""The report after a video or zoom render: per output frame its time, dream strength, flicker,
sharpness, seconds, whether it started fresh, its segment and host; a summary; the timeline's
lanes and the resolved config. Written as OUTPUT.report.json and OUTPUT.report.html.

The per-frame facts are measured on the checkpoint writer's thread (beside the PNG encoding) and
kept in the job folder, so a resumed render, farm tasks and Ray workers all report every frame.
"""
from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dreamreel.quality import dream_strength, sharpness, warp_flicker
from dreamreel.jobs.outputs import sidecar
from dreamreel.jobs.sidecars import check_sidecars, write_ledgered

KEYS = ("strength", "flicker", "sharpness", "seconds", "fresh", "segment", "host", "dreamed")
FORMAT = "dreamreel.report"


@dataclass
class FrameFacts:
    """What a frame's report line is measured from, host arrays all: ``raw`` the frame before the
    dream (the source frame; for a zoom, the zoomed previous frame) RGB uint8 [H,W,3];
    ``prev_out`` the previous output of its chain (None on a fresh start); ``flow_back`` [H,W,2]
    onto the previous frame (None: none needed) and ``trust`` [H,W] in [0,1]."""

    raw: np.ndarray
    prev_out: np.ndarray | None
    flow_back: np.ndarray | None
    trust: np.ndarray | None
    seconds: float
    fresh: bool
    segment: int = 0
    dreamed: bool = True  # False: a frame between dreamed ones (video.cadence, zoom.cadence)

    def measure(self, out: np.ndarray) -> dict[str, Any]:
        """The frame's report line: strength and flicker in full-scale units, sharpness as the
        output's over the raw frame's (variance of the Laplacian), seconds of dreaming."""
        flicker = None if self.prev_out is None else warp_flicker(out, self.prev_out, self.flow_back, self.trust)
        return {"strength": round(dream_strength(out, self.raw), 6),
                "flicker": None if flicker is None else round(flicker, 6),
                "sharpness": round(sharpness(out) / max(sharpness(self.raw), 1e-6), 5),
                "seconds": round(self.seconds, 4), "fresh": self.fresh, "segment": self.segment,
                "host": socket.gethostname(), "dreamed": self.dreamed}


def _number(v: Any, lo: float = 0.0, hi: float = 1e9) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi


def valid_facts(rec: Any) -> dict[str, Any] | None:
    """A frame's facts as read back from the job folder, or None when they are not what
    ``FrameFacts.measure`` writes (a person's edit, a torn line, another version): every figure
    a finite number in its range, ``fresh`` a bool, ``segment`` a whole number, ``host`` a short
    string. A bad record is measured again or left out of the report, never trusted."""
    if not isinstance(rec, dict):
        return None
    ok = (_number(rec.get("strength"), 0, 1) and (rec.get("flicker") is None or _number(rec.get("flicker"), 0, 1))
          and _number(rec.get("sharpness")) and _number(rec.get("seconds"), 0, 1e7)
          and isinstance(rec.get("fresh"), bool)
          and isinstance(rec.get("segment"), int) and not isinstance(rec.get("segment"), bool) and rec["segment"] >= 0
          and isinstance(rec.get("host"), str) and len(rec["host"]) <= 255
          and isinstance(rec.get("dreamed", True), bool))
    # A record from before cadence existed: every frame of it was dreamed.
    return {**{k: rec[k] for k in KEYS if k != "dreamed"}, "dreamed": rec.get("dreamed", True)} if ok else None


def summarise(frames: dict[str, list]) -> dict[str, Any]:
    """The report's summary of its per-frame columns (None where a column has no value)."""
    def col(k: str) -> np.ndarray:
        return np.array([v for v in frames[k] if v is not None], float)

    strength, flicker, sharp, secs = col("strength"), col("flicker"), col("sharpness"), col("seconds")
    fresh = np.array([bool(v) for v in frames["fresh"]])
    carried = np.array([s for s, f in zip(frames["sharpness"], fresh) if s is not None and not f], float)
    first = np.array([s for s, f in zip(frames["sharpness"], fresh) if s is not None and f], float)
    worst = int(np.nanargmax(np.array([np.nan if v is None else v for v in frames["flicker"]], float))) \
        if flicker.size else None
    out = {
        "frames": len(frames["fresh"]),
        "frames measured": int(strength.size),
        "fresh starts": int(fresh.sum()),
        "frames dreamed": sum(1 for v in frames["dreamed"] if v is not False),
        "strength, mean": _r(strength.mean()) if strength.size else None,
        "flicker, median": _r(np.median(flicker)) if flicker.size else None,
        "flicker, 95th percentile": _r(np.percentile(flicker, 95)) if flicker.size else None,
        "flicker, worst frame": worst,
        "sharpness, mean (x the source)": _r(sharp.mean()) if sharp.size else None,
        # How much of a fresh frame's sharpness the carried frames keep: under ~0.7 looks soft.
        "sharpness kept by carried frames": _r(carried.mean() / first.mean()) if carried.size and first.size else None,
        "seconds a frame, mean": _r(secs.mean()) if secs.size else None,
        "hosts": sorted({h for h in frames["host"] if h}),
    }
    return out


def _r(x: float) -> float:
    return float(f"{float(x):.5g}")


def write_report(cfg: Any, ctx: Any, names: list[str], recorded: dict[str, dict[str, Any]],
                 found: dict[str, Any], manifest: dict[str, Any]) -> list[Path]:
    """Write OUTPUT.report.json and .html for output frames ``names`` (checkpoint names, in
    output order) from their ``recorded`` facts; ``found`` holds cuts and segments. Returns the
    paths written."""
    from dreamreel.views.lanes import rounded, timeline_data
    from dreamreel.views.page import build_page

    t0 = time.perf_counter()
    n = len(names)
    fps = ctx.timeline.fps
    facts = [valid_facts(recorded.get(name)) or {} for name in names]
    frames: dict[str, list] = {k: [f.get(k) for f in facts] for k in KEYS}
    frames["time"] = rounded(np.arange(n) / fps, 9)
    start = manifest.get("first_frame", 0) or 0
    segments = [{"index": s["index"], "first": s["from"] - start, "from": s["frames"][0] - start,
                 "to": s["frames"][1] - start, "fresh": s["fresh"]} for s in found.get("segments", [])]
    cuts = [c - start for c in found.get("scene_cuts", [])]
    timeline = ctx.timeline
    if timeline.frames != n:  # a zoom loop's tail frames are dreamed but not shown
        from dreamreel.modes.variables import Timeline

        timeline = Timeline(n, fps, timeline.envelopes)
    from dreamreel.modes.variables import rhythm_sources

    audio = None
    if cfg.audio.file or timeline.envelopes is not None:
        # The page names where the beats came from; a track no setting reads is muxed, not analysed.
        found = rhythm_sources(cfg) if timeline.envelopes is not None else {"beat_source": "not analysed: no setting reads the audio"}
        audio = {"file": str(cfg.audio.file or cfg.input), **found}
    notes = list(timeline.envelopes.notes) if timeline.envelopes is not None else []
    data = timeline_data(cfg, timeline, title=str(cfg.output), first_frame=start, cuts=cuts, segments=segments,
                         audio=audio, notes=notes)
    data["format"] = FORMAT
    data["report"] = {"frames": frames, "summary": summarise(frames)}
    data["config"] = cfg.model_dump(mode="json")
    data["render"] = {k: manifest.get(k) for k in ("seconds", "frames_dreamed", "device", "backend", "workers",
                                                    "resumed_at", "flow") if k in manifest}
    data["report"]["seconds_to_write"] = round(time.perf_counter() - t0, 4)
    html_path, json_path = report_paths(cfg.output)
    return write_ledgered(json_path, data, {html_path: build_page(data).encode()})


def report_paths(output: Path) -> tuple[Path, Path]:
    """OUTPUT.report.html and OUTPUT.report.json."""
    return sidecar(output, ".report.html"), sidecar(output, ".report.json")


def check_report_files(output: Path, force: bool) -> None:
    """Before a render dreams anything: the report files it will write beside ``output`` are
    either absent, ours and unchanged (sidecars.py), or handed over by ``force``; else one line."""
    html_path, json_path = report_paths(output)
    check_sidecars(json_path, FORMAT, [html_path], force)
