"""The video frame loop, end to end: seconds per frame and the share of the loop outside the dream
step, for variants of the process environment, in interleaved rounds (medians).

    python scripts/bench_loop.py [--frames 40] [--width 640] [--rounds 4] [--clip PATH]
                                 [--variant NAME=ENV=VALUE[,ENV=VALUE|+KEY=VALUE...]]... [--no-append]

Each round runs ``render`` once per variant on the same config (the clip at the given width,
every other setting default), as a fresh process, and reads the loop's seconds from the
manifest. A variant is an environment: a setting read from it (GOMP_SPINCOUNT=3000) or another
checkout of the code (PYTHONPATH=/tmp/old, e.g. a ``git worktree`` of an earlier commit), so
a change is measured against the code before it in the same run; an item ``+key=value`` is a
config override instead (``--variant reveal=+video.reveal=true``). Without --variant it times
this checkout alone. Run it with nothing else on the machine: the loop's figures are the whole
machine's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dreamreel.speed.choices import label  # noqa: E402
from scripts.benchlib import existing_file, positive_int, report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VARIANTS = ["this checkout="]


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``NAME=ENV=VALUE,ENV=VALUE`` -> (NAME, {ENV: VALUE}); ``NAME=`` is the environment as is.
    An item ``+key=value`` is a config override for that variant's renders instead (kept in the
    dict under its ``+`` key)."""
    name, _, rest = text.partition("=")
    env = dict(kv.split("=", 1) if not kv.startswith("+") else (kv, "") for kv in rest.split(",") if kv)
    return name, env


def run(cfg: Path, manifest: Path, env: dict[str, str]) -> dict:
    """One render of ``cfg``; the manifest's loop figures."""
    # Run from the config's folder with this checkout on PYTHONPATH unless the variant names
    # another: ``python -m`` puts the working directory first on sys.path, so started from a
    # checkout every variant imported that checkout's code, whatever its PYTHONPATH said.
    overrides = [k[1:] for k in env if k.startswith("+")]
    full = {**os.environ, "PYTHONPATH": str(ROOT), **{k: v for k, v in env.items() if not k.startswith("+")}}
    subprocess.run([sys.executable, "-m", "dreamreel", "render", str(cfg), *overrides, "--force"], check=True, env=full, cwd=cfg.parent,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    m = json.loads(manifest.read_text())
    return {"per_frame": m["loop_seconds"] / m["frames_dreamed"], "outside": m["outside_dream_share"],
            "after_first": m.get("frame_seconds_after_first", float("nan")),
            "choice": m.get("choices", {})}


def code_of(env: dict[str, str], cwd: Path) -> str:
    """The folder ``dreamreel`` is imported from under a variant's environment (the table says it,
    so a variant that did not reach its code shows)."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), **{k: v for k, v in env.items() if not k.startswith("+")}}
    out = subprocess.run([sys.executable, "-c", "import dreamreel, pathlib; print(pathlib.Path(dreamreel.__file__).parents[1])"],
                         env=full, cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=positive_int, default=40)
    ap.add_argument("--width", type=positive_int, default=640)
    ap.add_argument("--rounds", type=positive_int, default=4)
    ap.add_argument("--clip", type=existing_file, default=str(ROOT / "samples" / "city.mp4"))
    ap.add_argument("--variant", action="append", help="NAME=ENV=VALUE[,ENV=VALUE...] (repeatable)")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    variants = [parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS)]

    with tempfile.TemporaryDirectory() as tmp:
        cfg, out = Path(tmp) / "loop.yaml", Path(tmp) / "loop.mp4"
        cfg.write_text(f"input: {args.clip}\noutput: {out}\nsize: {{width: {args.width}}}\n"
                       f"frames: {{count: {args.frames}}}\n")
        manifest = Path(f"{out}.manifest.json")
        code = {name: code_of(env, Path(tmp)) for name, env in variants}
        got: dict[str, list[dict]] = {name: [] for name, _ in variants}
        for r in range(args.rounds):
            for name, env in variants:
                got[name].append(run(cfg, manifest, env))
                print(f"round {r + 1} {name}: {got[name][-1]['per_frame']:.3f} s a frame, "
                      f"{got[name][-1]['after_first']:.3f} after the first, {100 * got[name][-1]['outside']:.1f} % outside", flush=True)

    base = statistics.median(x["per_frame"] for x in got[variants[0][0]])
    # A long render's frame time: from the first carried frame on (the fresh first frame dreams
    # every octave, ~10x a carried frame, and weighs on a 40-frame mean, not on 5,000 frames').
    base_after = statistics.median(x["after_first"] for x in got[variants[0][0]])
    # The machine and the command head the section BENCHMARKS.md gets (benchlib.append).
    lines = [f"- clip: {Path(args.clip).name} at width {args.width}, {args.frames} frames, defaults otherwise; "
             f"{args.rounds} interleaved rounds, medians (range in brackets)", "",
             "| variant | code from | s per frame | x first | s per frame after the first | time / first's | "
             "outside the dream step | choice |",
             "|---|---|---|---|---|---|---|---|"]
    for name, env in variants:
        pf = [x["per_frame"] for x in got[name]]
        out_share = [x["outside"] for x in got[name]]
        cf = [x["after_first"] for x in got[name]]
        ch = got[name][-1]["choice"]
        lines.append(f"| {name} ({', '.join(k if k.startswith('+') else f'{k}={v}' for k, v in env.items()) or 'as is'}) | {code[name]} | "
                     f"{statistics.median(pf):.3f} ({min(pf):.3f}-{max(pf):.3f}) | "
                     f"{base / statistics.median(pf):.2f} | {statistics.median(cf):.3f} ({min(cf):.3f}-{max(cf):.3f}) | "
                     f"{statistics.median(cf) / base_after:.2f}x | {100 * statistics.median(out_share):.1f} % "
                     f"({100 * min(out_share):.1f}-{100 * max(out_share):.1f}) | "
                     f"{label((ch.get('precision'), ch.get('channels_last')))} ({ch.get('how')}) |")
    report("bench_loop: the video frame loop", lines, not args.no_append)


if __name__ == "__main__":
    main()
