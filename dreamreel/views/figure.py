"""The timeline (or report) lanes as one PNG with matplotlib: for a terminal, a README or a chat."""
from __future__ import annotations

import io
from typing import Any

import numpy as np

COLORS = ["#f2a03d", "#5ab4f0", "#8fd16a", "#e0607e", "#b28cf0", "#50d0c0", "#f0d060", "#f08a5a"]
MAX_SCHEDULE_LANES = 12


def _lanes(data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(kind, label, values) of every lane, in the page's order."""
    lanes: list[tuple[str, str, Any]] = []
    if data.get("waveform") and data["waveform"]["max"]:
        lanes.append(("wave", "waveform", data["waveform"]))
    if data.get("audio"):
        lanes += [("line", k, v) for k, v in data["envelopes"].items()]
    report = (data.get("report") or {}).get("frames")
    if report:
        lanes += [("line", k, report[k]) for k in ("strength", "flicker", "sharpness", "seconds") if report.get(k)]
    for k, s in list(data.get("schedules", {}).items())[:MAX_SCHEDULE_LANES]:
        lanes.append(("line", k, s))
    if data.get("cuts") or data.get("segments"):
        lanes.append(("events", "cuts, segments", None))
    return lanes


MAX_LINES = 600  # beat or bar lines on a 1200-pixel-wide picture


def timeline_png(data: dict[str, Any], width_in: float = 12.0) -> bytes:
    """PNG bytes of ``data``'s lanes over its time axis (seconds), beats marked on every lane."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    lanes = _lanes(data) or [("events", "frames", None)]
    fps, n = float(data["fps"]), int(data["frames"])
    t = np.arange(n) / fps
    heights = [1.3 if kind == "wave" else (0.45 if kind == "events" else 0.9) for kind, _, _ in lanes]
    with plt.style.context("dark_background"):
        fig, axes = plt.subplots(len(lanes), 1, figsize=(width_in, 0.6 + 0.75 * sum(heights)), sharex=True,
                                 gridspec_kw={"height_ratios": heights, "hspace": 0.12}, squeeze=False)
        axes = axes[:, 0]
        beats = np.asarray(data.get("beats") or [], float)
        bars = np.asarray(data.get("bars") or [], float)
        for i, (ax, (kind, label, values)) in enumerate(zip(axes, lanes)):
            color = COLORS[i % len(COLORS)]
            ax.set_facecolor("#1f1f25")
            # One collection per kind of line, and none denser than a line every 2 pixels (they
            # would paint the lane over): a 2-hour set has 14,000 beats.
            if 0 < beats.size <= MAX_LINES:
                ax.vlines(beats, 0, 1, color="#f2a03d", alpha=0.18, lw=0.6, transform=ax.get_xaxis_transform())
            if 0 < bars.size <= MAX_LINES:
                ax.vlines(bars, 0, 1, color="#ffecc8", alpha=0.55, lw=0.9, transform=ax.get_xaxis_transform())
                if kind == "wave" and bars.size <= 64:
                    for k, b in enumerate(bars, 1):
                        ax.text(b, 0.98, f" {k}", color="#ffecc8", fontsize=6, va="top",
                                transform=ax.get_xaxis_transform())
            if kind == "wave":
                w = values
                x = np.arange(len(w["max"])) / w["rate"]
                ax.fill_between(x, np.array(w["min"], float), np.array(w["max"], float), color="#6f8fb0", lw=0)
                onsets = data.get("onsets") or []
                ax.vlines(onsets, -1.0, -0.75, color="#5ab4f0", lw=0.8)
                ax.set_ylim(-1.05, 1.05)
            elif kind == "line":
                series = values["values"] if isinstance(values, dict) else values
                y = np.array([np.nan if v is None else v for v in series], float)
                ax.step(t, y, where="post", color=color, lw=1.1)
                if isinstance(values, dict) and values.get("keyframes"):
                    kf = np.array(values["keyframes"], float)
                    ax.plot(kf[:, 0] / fps, kf[:, 1], "o", color="white", ms=3.5)
            else:
                for k, s in enumerate(data.get("segments") or []):
                    ax.axvspan(s["from"] / fps, s["to"] / fps, color="#b28cf0" if k % 2 else "#50d0c0", alpha=0.25, lw=0)
                for c in data.get("cuts") or []:
                    ax.axvline(c / fps, color="#e0607e", lw=1.2)
                ax.set_yticks([])
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.margins(x=0)
        axes[-1].set_xlabel("seconds", fontsize=8)
        axes[-1].set_xlim(0, max(n / fps, 1 / fps))
        title = ("report: " if data.get("report") else "timeline: ") + str(data.get("title", ""))
        tempo = (data.get("audio") or {}).get("tempo")
        fig.suptitle(title + (f"   ({tempo:.1f} bpm)" if tempo else ""), fontsize=10, x=0.01, ha="left")
        fig.subplots_adjust(left=0.16, right=0.99, top=1 - 0.35 / fig.get_figheight(), bottom=0.45 / fig.get_figheight())
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
    return buf.getvalue()
