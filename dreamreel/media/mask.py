"""Dream masks: an image (one mask for every frame) or a matte video, per frame at the render size.

White dreams, black keeps the source, grey in between. A matte is aligned with the render by
time (decoded at the render's rate, from its first frame) and streamed like the input, so
memory stays flat; a matte shorter than the render holds its last frame.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from dreamreel.config import IMAGE_EXTS
from dreamreel.errors import MediaError
from dreamreel.media.images import read_image
from dreamreel.media.probe import probe
from dreamreel.media.reader import FrameReader


def shape_mask(rgb: np.ndarray, size: tuple[int, int], invert: bool, feather: float) -> np.ndarray:
    """RGB uint8 [h,w,3] -> float32 [H,W] in [0,1] at ``size`` (H, W): luminance, resized,
    inverted when asked, edges softened by a Gaussian of ``feather`` pixels (sigma)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    h, w = size
    if gray.shape != (h, w):
        shrink = gray.shape[0] * gray.shape[1] > h * w
        gray = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if invert:
        gray = 1.0 - gray
    if feather > 0:
        gray = cv2.GaussianBlur(gray, (0, 0), feather, borderType=cv2.BORDER_REPLICATE)
    return np.clip(gray, 0.0, 1.0)


class MaskTrack:
    """``at(i)``: the mask of render frame i as float32 [H,W] in [0,1].

    ``path`` is an image or a video; a video is decoded at ``fps`` from its frame ``start`` (the
    render's first frame, by time), forward as frames are asked for (asking for an earlier frame
    reopens the decoder). ``held_from`` is the first render frame past the matte's end, whose
    mask is the matte's last frame; None while the matte lasts. Use as a context manager.
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: Fraction, start: int = 0, invert: bool = False,
                 feather: float = 0.0, max_pixels: int = 100_000_000) -> None:
        self.path, self.size, self.fps, self.start = Path(path), size, fps, start
        self.invert, self.feather = invert, feather
        self.held_from: int | None = None
        self._still: np.ndarray | None = None
        self._reader: FrameReader | None = None
        self._frames: Iterator[tuple[int, np.ndarray]] | None = None
        self._pos = -1
        self._current: np.ndarray | None = None
        if self.path.suffix.lower() in IMAGE_EXTS:
            self._still = self._shape(read_image(self.path, max_pixels))
            return
        try:
            info = probe(self.path, max_pixels)
        except MediaError as exc:
            raise MediaError(f"dream.mask: {self.path} is not an image or a video ({exc})") from None
        self._last = max(0, int(info.duration * float(fps) + 1e-6) - 1)  # last matte frame at the render rate

    def held_after(self, last: int) -> int | None:
        """The first render frame up to ``last`` whose mask holds the matte's last frame, as the
        matte's probed length says (None for an image mask or a matte that lasts): what a
        manifest reports even when another process or a Ray worker dreamed those frames."""
        if self._still is not None:
            return None
        first = self._last + 1 - self.start
        return first if first <= last else None

    def _shape(self, rgb: np.ndarray) -> np.ndarray:
        return shape_mask(rgb, self.size, self.invert, self.feather)

    def at(self, index: int) -> np.ndarray:
        """Mask of render frame ``index`` (0 = the render's first frame)."""
        if self._still is not None:
            return self._still
        want = self.start + index
        if want > self._last:
            self.held_from = index if self.held_from is None else min(self.held_from, index)
            want = self._last
        if self._frames is None or want < self._pos:
            self._open(want)
        assert self._frames is not None
        while self._pos < want:
            try:
                self._pos, rgb = next(self._frames)
            except StopIteration:  # shorter than its duration said: hold what we have
                self.held_from = index if self.held_from is None else min(self.held_from, index)
                self._last = self._pos
                break
            self._current = self._shape(rgb)
        assert self._current is not None
        return self._current

    def _open(self, first: int) -> None:
        self.close()
        self._reader = FrameReader(self.path, self.fps, self.size, first, None).__enter__()
        self._frames = iter(self._reader)
        self._pos = first - 1

    def close(self) -> None:
        if self._reader is not None:
            self._reader.__exit__(None, None, None)
        self._reader = self._frames = None

    def __enter__(self) -> "MaskTrack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_mask(path: Path | None, size: tuple[int, int], fps: Fraction, start: int, invert: bool, feather: float,
              max_pixels: int) -> MaskTrack | None:
    """A MaskTrack for ``dream.mask`` (None without a mask); MediaError (exit 3) when the file is
    missing or is neither an image nor a video."""
    if path is None:
        return None
    return MaskTrack(path, size, fps, start, invert, feather, max_pixels)
