"""The manual's pictures, rendered by dreamreel itself from the samples and configs, small and fast.

    python docs/make_figures.py [--only NAME[,NAME]] [--check]

Each figure is made by the real ``dreamreel render`` (a subprocess, as a user runs it) from a config in
``configs/`` with a few overrides that make it small, and written to ``docs/figures/``. Beside
them, ``docs/figures/figures.json`` records, per figure, a fingerprint of what it was made from:
its config and overrides, the sample files it reads, and the code of the method (``dreamreel/dream``,
``dreamreel/motion``, the video chain and zoom). ``--check`` recomputes the fingerprints and names
the figures that are stale (exit 1), without rendering: run it after changing the method, then
run the script to remake them. The report's screenshot needs Chromium (``apt-get install
chromium`` or ``DREAMREEL_CHROMIUM``); without it that figure is skipped, saying so.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
LEDGER = FIGURES / "figures.json"
METHOD_CODE = ["dreamreel/dream", "dreamreel/motion", "dreamreel/modes/chain.py", "dreamreel/modes/zoom.py", "dreamreel/modes/cadence.py",
               "dreamreel/modes/still.py"]


@dataclass
class Figure:
    """One picture: the config and overrides it is rendered with, the files it reads, and how the
    render's files become the picture (``make(tmp) -> None`` writes ``FIGURES/name``)."""

    name: str
    config: str
    overrides: list[str]
    reads: list[str]
    make: Callable[[Path], None]
    extra: list[str] = field(default_factory=list)  # further code the figure depends on


def render(config: str, out: Path, *args: str, cwd: Path = ROOT) -> None:
    """``dreamreel render CONFIG output=OUT ARGS`` in a fresh process (in ``cwd``), failing loudly."""
    cmd = [sys.executable, "-m", "dreamreel", "render", str(ROOT / config), f"output={out}", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")


def frames_of(folder: Path) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in sorted(folder.glob("*.png"))]


def labelled(images: list[Image.Image], labels: list[str], cols: int) -> Image.Image:
    """A grid of equal images with a caption strip under each."""
    w, h = images[0].size
    pad = 18
    rows = -(-len(images) // cols)
    sheet = Image.new("RGB", (cols * w, rows * (h + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (im, text) in enumerate(zip(images, labels)):
        x, y = (k % cols) * w, (k // cols) * (h + pad)
        sheet.paste(im, (x, y))
        draw.text((x + 4, y + h + 3), text, fill="black")
    return sheet


def save(image: Image.Image, name: str) -> None:
    path = FIGURES / name
    tmp = path.with_suffix(".tmp" + path.suffix)
    image.save(tmp, **({"quality": 88} if name.endswith(".jpg") else {"optimize": True}))
    tmp.replace(path)


def still(tmp: Path) -> None:
    render("configs/still.yaml", tmp / "still.png", "size.width=360")
    after = Image.open(tmp / "still.png").convert("RGB")
    before = Image.open(ROOT / "samples" / "astronaut.png").convert("RGB").resize(after.size, Image.LANCZOS)
    save(labelled([before, after], ["samples/astronaut.png", "dreamreel render configs/still.yaml"], 2), "still.jpg")


def mask(tmp: Path) -> None:
    render("configs/mask.yaml", tmp / "masked.png", "size.width=300")
    after = Image.open(tmp / "masked.png").convert("RGB")
    before = Image.open(ROOT / "samples" / "astronaut.png").convert("RGB").resize(after.size, Image.LANCZOS)
    matte = Image.open(ROOT / "samples" / "astronaut_mask.png").convert("RGB").resize(after.size, Image.LANCZOS)
    save(labelled([before, matte, after], ["source", "dream.mask (white dreams)", "dreamreel render configs/mask.yaml"], 3),
         "mask.jpg")


def video_strip(tmp: Path) -> None:
    render("configs/clip.yaml", tmp / "clip", "size.width=320", "frames.count=90", "video.audio=none")
    outs = frames_of(tmp / "clip")
    picks = [0, 45, 89]
    src = tmp / "src"
    src.mkdir()
    from dreamreel.media.probe import probe
    from dreamreel.media.reader import FrameReader

    info = probe(ROOT / "samples" / "city.mp4")
    h, w = outs[0].size[1], outs[0].size[0]
    with FrameReader(info.path, info.fps, (h, w), 0, 90) as reader:
        raw = {i: Image.fromarray(np.ascontiguousarray(f)) for i, f in reader if i in picks}
    images = [raw[i] for i in picks] + [outs[i] for i in picks]
    labels = [f"source, frame {i}" for i in picks] + [f"dreamed, frame {i}" for i in picks]
    save(labelled(images, labels, 3), "video_strip.jpg")


def cadence(tmp: Path) -> None:
    """Four consecutive frames of the sample clip at video.cadence 1, 2 and 4 (320 px): which are
    dreamed and which carried, side by side."""
    picks = [44, 45, 46, 47]
    images, labels = [], []
    for n in (1, 2, 4):
        render("configs/clip.yaml", tmp / f"c{n}", "size.width=320", "frames.count=48", "video.audio=none",
               f"video.cadence={n}")
        outs = frames_of(tmp / f"c{n}")
        images += [outs[i] for i in picks]
        labels += [f"cadence {n}, frame {i}: {'dreamed' if i % n == 0 else 'carried'}" for i in picks]
    save(labelled(images, labels, 4), "cadence.jpg")


def reveal(tmp: Path) -> None:
    """The suite's whole-pixel pan (scripts/coherence_clips.py), 64 frames at 320 px: its last
    frame, where everything has entered the view since frame 0, with and without reveals."""
    sys.path.insert(0, str(ROOT))
    from scripts.coherence_clips import _write, integer_pan

    clip = _write(tmp / "pan.mp4", integer_pan(64, (180, 320)))
    common = [f"input={clip}", "size.width=320", "video.audio=none"]
    render("configs/clip.yaml", tmp / "off", *common, "frames.count=64", "video.reveal=false")
    render("configs/clip.yaml", tmp / "on", *common, "frames.count=64")
    render("configs/clip.yaml", tmp / "fresh", *common, "frames.start=63", "frames.count=1")
    from dreamreel.media.probe import probe
    from dreamreel.media.reader import FrameReader

    info = probe(clip)
    with FrameReader(info.path, info.fps, (180, 320), 63, 1) as reader:
        source = Image.fromarray(np.ascontiguousarray(next(iter(reader))[1]))
    images = [source, frames_of(tmp / "off")[63], frames_of(tmp / "on")[63], frames_of(tmp / "fresh")[0]]
    labels = ["source, frame 63 of a pan to the left", "video.reveal: false", "video.reveal: true (the default)",
              "a fresh dream of frame 63"]
    save(labelled(images, labels, 2), "reveal.jpg")


def zoom(tmp: Path) -> None:
    render("configs/zoom.yaml", tmp / "zoom", "size.width=192", "zoom.frames=24", "zoom.loop_frames=8", "audio=null")
    frames = frames_of(tmp / "zoom")
    path = FIGURES / "zoom.gif"
    part = path.with_suffix(".tmp.gif")
    frames[0].save(part, save_all=True, append_images=frames[1:], duration=1000 // 24, loop=0, optimize=True)
    part.replace(path)


def timeline(tmp: Path) -> None:
    # The config's own output name, relative, in this run's folder: the title shows it (a
    # temporary folder's path there said nothing to a reader).
    render("configs/musicvideo.yaml", Path("renders/musicvideo.mp4"), "--timeline", cwd=tmp)
    save(Image.open(tmp / "renders" / "musicvideo.mp4.timeline.png").convert("RGB"), "musicvideo.timeline.png")


def preview(tmp: Path) -> None:
    render("configs/musicvideo.yaml", tmp / "mv.mp4", "--preview-at", "0, bar:2, bar:3, beat:12")
    save(Image.open(tmp / "mv.mp4.preview.png").convert("RGB"), "preview.png")


def report(tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.browser import Browser, find_chromium

    if find_chromium() is None:
        print("report.png: skipped, no Chromium (apt-get install chromium, or set DREAMREEL_CHROMIUM)")
        return
    render("configs/clip.yaml", tmp / "r.mp4", "size.width=256", "frames.count=30", "video.audio=none")
    with Browser(width=1200, height=900) as browser:
        browser.open(tmp / "r.mp4.report.html")
        png = browser.screenshot()
    (tmp / "shot.png").write_bytes(png)
    save(Image.open(tmp / "shot.png").convert("RGB"), "report.png")


FIGS = [
    Figure("still.jpg", "configs/still.yaml", ["size.width=360"], ["samples/astronaut.png"], still),
    Figure("mask.jpg", "configs/mask.yaml", ["size.width=300"], ["samples/astronaut.png", "samples/astronaut_mask.png"],
           mask, ["dreamreel/media/mask.py"]),
    Figure("video_strip.jpg", "configs/clip.yaml", ["size.width=320", "frames.count=90"], ["samples/city.mp4"],
           video_strip),
    Figure("cadence.jpg", "configs/clip.yaml", ["size.width=320", "frames.count=48", "video.cadence"],
           ["samples/city.mp4"], cadence),
    Figure("reveal.jpg", "configs/clip.yaml", ["pan", "size.width=320", "frames.count=64"], ["samples/astronaut.png",
           "samples/city.mp4"], reveal, ["scripts/coherence_clips.py"]),
    Figure("zoom.gif", "configs/zoom.yaml", ["size.width=192", "zoom.frames=24", "zoom.loop_frames=8"],
           ["samples/astronaut.png"], zoom),
    Figure("musicvideo.timeline.png", "configs/musicvideo.yaml", ["--timeline"], ["samples/beat.wav"], timeline,
           ["dreamreel/rhythm", "dreamreel/models/beatnet.pt", "dreamreel/views", "dreamreel/envelopes.py"]),
    Figure("preview.png", "configs/musicvideo.yaml", ["--preview-at"], ["samples/beat.wav", "samples/astronaut.png"],
           preview, ["dreamreel/rhythm", "dreamreel/models/beatnet.pt", "dreamreel/inspect/preview.py"]),
    Figure("report.png", "configs/clip.yaml", ["size.width=256", "frames.count=30"], ["samples/city.mp4"], report,
           ["dreamreel/views", "dreamreel/inspect/report.py"]),
]


def _code(path: Path) -> bytes:
    """What a file contributes to a fingerprint: for Python its syntax tree without docstrings (so a
    comment or a docstring edited does not make every figure stale), else its bytes."""
    if path.suffix != ".py":
        return path.read_bytes()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


def fingerprint(fig: Figure) -> str:
    """SHA-256 over the figure's config, overrides, the files it reads and the method's code."""
    h = hashlib.sha256()
    h.update(json.dumps([fig.config, fig.overrides]).encode())
    paths: list[Path] = []
    for rel in [fig.config, *fig.reads, *METHOD_CODE, *fig.extra]:
        p = ROOT / rel
        paths += sorted(p.rglob("*.py")) + sorted(p.rglob("*.js")) + sorted(p.rglob("*.html")) if p.is_dir() else [p]
    for p in paths:
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(_code(p))
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated figure names")
    ap.add_argument("--check", action="store_true", help="name the stale figures; render nothing")
    args = ap.parse_args()
    ledger = json.loads(LEDGER.read_text()) if LEDGER.exists() else {}
    wanted = None if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(wanted or []) - {f.name for f in FIGS})
    if wanted is not None and (unknown or not wanted):
        ap.error(f"--only {args.only}: not a figure ({', '.join(unknown) or 'none named'}); "
                 f"the figures: {', '.join(f.name for f in FIGS)}")
    figs = [f for f in FIGS if wanted is None or f.name in wanted]
    if args.check:
        stale = [f.name for f in figs if ledger.get(f.name) != fingerprint(f) or not (FIGURES / f.name).exists()]
        for name in stale:
            print(f"stale: docs/figures/{name} (remake: python docs/make_figures.py --only {name})")
        print("every figure is current" if not stale else f"{len(stale)} of {len(figs)} stale")
        return 1 if stale else 0
    FIGURES.mkdir(parents=True, exist_ok=True)
    for fig in figs:
        with tempfile.TemporaryDirectory() as tmp:
            fig.make(Path(tmp))
        if (FIGURES / fig.name).exists():
            ledger[fig.name] = fingerprint(fig)
            LEDGER.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")
            print(f"wrote docs/figures/{fig.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
