"""Where a carried frame holds no full dream yet, and the crops that dream it as a fresh frame
would: content a moving camera reveals, a pan's entering edge, the border ring of a zoom-out.

A chain keeps a coarse ``bare`` grid (one cell per CELL x CELL pixels, 0 to 255): how far the
carried detail there is from descending from a full multi-octave dream. A fresh frame has none;
each carried frame moves the grid along the flow, and cells whose pixels came from outside the
previous frame become bare. Once enough is bare, or some of it has waited long enough, padded
crops around it are dreamed at every octave, from the carried frame (so the dream around the crop
is the context the new detail continues), and pasted in feathered. All host numpy on small
arrays, except ``paste``.
"""
from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from dreamreel.dream.engine import MIN_OCTAVE_SIDE
from dreamreel.motion.consistency import pixel_axes

CELL = 4  # frame pixels per cell of the bare grid
BARE = 128  # a cell this bare (of 255) or more is dreamed
# A reveal is dreamed when this share of the frame is bare, or when bare cells have waited this
# many frames: on a 3-px-a-frame pan of a 320-px frame, about every 7 frames, a strip of ~28 px
# (the flow is not trusted a few pixels in from the edge); a slow tilt's strips wait 16 frames,
# which keeps the sample clip's frame time within 1.25x of the loop without reveals (1.23x at
# 640x360; every 8 frames cost 1.32x).
REVEAL_SHARE = 0.08
REVEAL_WAIT = 16
# A cell's bareness falls by this much each frame it is carried, so what a reveal has not reached
# within 16 frames of entering is left to the regrowth steps: dreaming it later replaced content
# the viewer had watched for a second, a pop (on the suite's real street clips, a street 29
# frames after the last reveal was 62 % bare and was dreamed over in one frame). At 8 the long
# pan's newest cells reached 0.61 of a fresh dream at frame 40 (0.55 without), 0.66 at 119.
EXPIRE = 8
# Past this share of the frame bare, the camera has moved so far that a reveal would redraw most
# of the frame at once, the flicker of a cut without one: the street clip's E_warp went from 1.85x
# its input's to 1.98x (its worst window 1.06 -> 1.25 of its bound) with such reveals allowed.
MAX_SHARE = 0.3
# Bare regions smaller than this many cells are specks of failed flow, which the carried frame's
# regrowth steps fill (chain.REGROW); they are not worth a crop of their own.
MIN_CELLS = 12
# Context around the bare pixels, as a share of the frame's long side (at least 16 px): the dream
# in it is what the new detail grows from, so the seam does not show.
PAD_SHARE = 0.025
# Above this share of the frame the crops become one full-frame dream.
FULL_SHARE = 0.6
# What reveals may cost: each carried frame earns this share of a frame's area of crop, banked up
# to one whole frame (FULL_CREDIT), and a reveal waits until its crops are paid for (a full frame
# every 20). Fast camera moves would otherwise re-dream a large share of the frame every few
# frames: the cost of fresh frames, and their flicker. A zoom-out's ring is such a full frame
# (four strips as deep as the coarsest octave needs): at 0.035 its last frame's newest cells held
# 0.46 of a fresh dream, at 0.05 0.63, for 1.18x the frame time without reveals (1.13x at 0.035;
# the sample's tilt 1.15x either way).
BUDGET = 0.05
FULL_CREDIT = 1000  # thousandths of a frame's area


@dataclass
class Bare:
    """A chain's bare grid and how long some of it has waited (frames)."""

    grid: np.ndarray  # [h,w] uint8, how bare: 0 dreamed .. 255 bare (BARE and up counts as bare)
    waited: int = 0
    credit: int = FULL_CREDIT  # thousandths of a frame's area of crop a reveal may spend (see BUDGET)

    def clear(self) -> bool:
        """Nothing bare, nothing waiting, the budget full: a chain state with no grid says as much."""
        return not self.grid.any() and self.waited == 0 and self.credit == FULL_CREDIT

    def encode(self) -> str:
        """One word for a checkpoint's state: a resumed chain continues exactly from it."""
        h, w = self.grid.shape
        return (f"{h}x{w}x{self.waited}x{self.credit}x"
                + base64.urlsafe_b64encode(zlib.compress(self.grid.astype(np.uint8).tobytes(), 9)).decode())

    @staticmethod
    def decode(word: str, shape: tuple[int, int] | None = None) -> Bare:
        """The grid ``encode`` wrote; ValueError for any word it could not have written (fields
        that are not ASCII whole numbers, a credit outside 0..FULL_CREDIT, data that is not
        base64 or zlib or not h x w bytes, a grid other than ``shape`` when given). Inflating
        stops at h x w bytes, so a crafted word cannot ask for gigabytes."""
        parts = word.split("x", 4)
        if len(parts) != 5 or not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts[:4]):
            raise ValueError("not a bare-grid word")
        h, w, waited, credit = (int(p) for p in parts[:4])
        if not (1 <= h <= 1 << 14 and 1 <= w <= 1 << 14 and 0 <= credit <= FULL_CREDIT):
            raise ValueError("bare-grid fields out of range")
        if shape is not None and (h, w) != tuple(shape):
            raise ValueError(f"a {h}x{w} bare grid for a frame of {shape[0]}x{shape[1]} cells")
        try:
            raw = base64.urlsafe_b64decode(parts[4].encode("ascii"))
            inflate = zlib.decompressobj()
            data = inflate.decompress(raw, h * w + 1)
        except (ValueError, UnicodeEncodeError, zlib.error) as exc:
            raise ValueError(f"damaged bare-grid data: {exc}") from None
        if len(data) != h * w or not inflate.eof:
            raise ValueError("bare-grid data of the wrong length")
        return Bare(np.frombuffer(data, np.uint8).reshape(h, w).copy(), waited, credit)

    def cells(self) -> np.ndarray:
        """[h,w] uint8, 1 where a cell counts as bare."""
        return (self.grid >= BARE).astype(np.uint8)


def grid_shape(h: int, w: int) -> tuple[int, int]:
    """Cells of the bare grid for an (h, w) frame."""
    return -(-h // CELL), -(-w // CELL)


def none_bare(h: int, w: int) -> Bare:
    """The grid of a freshly dreamed (h, w) frame: nothing bare."""
    return Bare(np.zeros(grid_shape(h, w), np.uint8))


def carry_bare(bare: Bare, flow_back: np.ndarray) -> Bare:
    """The grid moved onto the next frame along flow_back [H,W,2] (this frame onto the previous,
    pixels): each cell takes the bareness where its centre came from (bilinear, in cells, so a
    slow zoom-out's ring of a pixel a frame still gathers) or, if more, the share of its pixels
    that came from outside the previous frame: what a pan, a tilt or a zoom-out brings into view.

    Not where the flow merely fails: on real footage it fails in patches that come and go, whose
    carried detail is fine, and a large failure (a blank wall, a small frame's flat area)
    re-dreamed most of the frame at once, a pop (the suite's street clips went past their E_warp
    bound); the carried frame's regrowth steps (chain.REGROW) cover those, as they cover what a
    moving object uncovers."""
    gh, gw = bare.grid.shape
    h, w = flow_back.shape[:2]
    gx, gy = pixel_axes(h, w)
    sx, sy = gx + flow_back[..., 0], gy + flow_back[..., 1]
    outside = ((sx < 0) | (sx > w - 1) | (sy < 0) | (sy > h - 1)).astype(np.float32)
    pad = ((0, gh * CELL - h), (0, gw * CELL - w))
    outside = np.pad(outside, pad, mode="edge").reshape(gh, CELL, gw, CELL).mean(axis=(1, 3))
    cy = np.minimum(np.arange(gh) * CELL + CELL // 2, h - 1)
    cx = np.minimum(np.arange(gw) * CELL + CELL // 2, w - 1)
    f = flow_back[cy][:, cx] / CELL
    mx = (np.arange(gw, dtype=np.float32)[None, :] + f[..., 0]).astype(np.float32)
    my = (np.arange(gh, dtype=np.float32)[:, None] + f[..., 1]).astype(np.float32)
    came = cv2.remap(bare.grid.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=255.0)
    grid = np.clip(np.rint(np.maximum(came - EXPIRE, 255.0 * outside)), 0, 255).astype(np.uint8)
    return Bare(grid, bare.waited + 1 if (grid >= BARE).any() else 0, min(FULL_CREDIT, bare.credit + round(FULL_CREDIT * BUDGET)))


def due(bare: Bare) -> bool:
    """Whether the bare cells are to be dreamed on this frame, credit allowing (``affordable``):
    enough of them (REVEAL_SHARE) or some long enough (REVEAL_WAIT), but not most of the frame
    (MAX_SHARE)."""
    share = float(bare.cells().mean())
    return share <= MAX_SHARE and (share >= REVEAL_SHARE or (share > 0 and bare.waited >= REVEAL_WAIT))


def affordable(bare: Bare, boxes: list[tuple[int, int, int, int]], size: tuple[int, int]) -> int | None:
    """The credit left once ``boxes`` are dreamed, or None when ``bare.credit`` does not cover them."""
    cost = round(FULL_CREDIT * sum(_area(b) for b in boxes) / (size[0] * size[1]))
    return bare.credit - cost if cost <= bare.credit else None

def drop_specks(bare: Bare) -> Bare:
    """``bare`` without regions of fewer than MIN_CELLS cells (left to the regrowth steps)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bare.cells(), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_CELLS
    grid = np.where(keep[labels] | (bare.grid < BARE), bare.grid, 0).astype(np.uint8)
    return Bare(grid, bare.waited if (grid >= BARE).any() else 0, bare.credit)


def min_side(octaves: int, octave_scale: float) -> int:
    """The smallest crop side whose coarsest octave is still dreamed (engine.octave_sizes drops
    octaves under MIN_OCTAVE_SIDE)."""
    return math.ceil(MIN_OCTAVE_SIDE * octave_scale ** (octaves - 1))


def crops(grid: np.ndarray, size: tuple[int, int], side: int) -> list[tuple[int, int, int, int]]:
    """Rectangles (y0, y1, x0, x1) in frame pixels that cover every bare cell of ``grid`` with
    context around it: the bare cells of each tile of about ``side`` pixels, boxed and padded, at
    least ``side`` a side where the frame allows; overlapping boxes joined where that costs little
    (a strip along an edge becomes one crop, a ring four); past FULL_SHARE of the frame, the whole
    frame."""
    h, w = size
    pad = max(16, round(PAD_SHARE * max(h, w)))
    # The bare cells of each tile of about the smallest crop, boxed; touching boxes joined where
    # that costs little, so a strip along an edge is one box and a ring is four strips and its
    # corners, not the frame. Then the context around each, and the same join again.
    t = max(1, side // CELL)
    gh, gw = grid.shape
    boxes: list[tuple[int, int, int, int]] = []
    for r in range(0, gh, t):
        for c in range(0, gw, t):
            ys, xs = np.nonzero(grid[r : r + t, c : c + t])
            if len(ys):
                boxes.append((int(r + ys.min()) * CELL, int(r + ys.max() + 1) * CELL,
                              int(c + xs.min()) * CELL, int(c + xs.max() + 1) * CELL))
    boxes = _join(boxes, touching=True)
    boxes = _join([_fit(y0 - pad, y1 + pad, h, side) + _fit(x0 - pad, x1 + pad, w, side)
                   for y0, y1, x0, x1 in boxes])
    if sum(_area(b) for b in boxes) > FULL_SHARE * h * w:
        return [(0, h, 0, w)]
    return boxes


def _fit(a: int, b: int, n: int, side: int) -> tuple[int, int]:
    """[a, b) grown to at least ``side`` around its middle and moved inside [0, n)."""
    if b - a < side:
        mid = (a + b) // 2
        a, b = mid - side // 2, mid - side // 2 + side
    if a < 0:
        a, b = 0, b - a
    if b > n:
        a, b = a - (b - n), n
    return int(max(0, a)), int(min(n, b))


def _area(b: tuple[int, int, int, int]) -> int:
    return (b[1] - b[0]) * (b[3] - b[2])


def _join(boxes: list[tuple[int, int, int, int]], touching: bool = False) -> list[tuple[int, int, int, int]]:
    """Overlapping boxes replaced by the box around both where that costs little more than the
    two (at most a fifth more pixels), until no more can be; the pieces of a ring stay apart.
    ``touching``: boxes that share an edge count as overlapping."""
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                both = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
                oy, ox = min(a[1], b[1]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[2], b[2])
                over = max(0, oy) * max(0, ox)
                meet = over > 0 or (touching and oy >= 0 and ox >= 0 and (oy > 0 or ox > 0))
                if meet and _area(both) <= 1.2 * (_area(a) + _area(b) - over):
                    boxes[i] = both
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def paste_weight(grid: np.ndarray, size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """How much of a crop's dream replaces the frame, [y1-y0, x1-x0] float32 in [0,1]: 1 over the
    bare cells, feathered over a few pixels around them, 0 at the crop's edge (no seam)."""
    h, w = size
    full = cv2.resize(grid.astype(np.float32), (grid.shape[1] * CELL, grid.shape[0] * CELL),
                      interpolation=cv2.INTER_NEAREST)[:h, :w]
    y0, y1, x0, x1 = box
    sigma = CELL
    soft = np.maximum(full, cv2.GaussianBlur(full, (0, 0), sigma))[y0:y1, x0:x1]
    soft = np.clip(soft * 1.5, 0.0, 1.0)  # the feather spread outward: bare cells themselves get all
    edge = np.ones_like(soft)
    m = 2 * sigma
    ramp = np.clip(np.minimum(np.arange(y1 - y0), np.arange(y1 - y0)[::-1]) / m, 0, 1)
    # The frame's own border is no seam: only a crop edge inside the frame fades.
    if y0 == 0:
        ramp[: (y1 - y0) // 2] = 1
    if y1 == h:
        ramp[(y1 - y0) // 2 :] = 1
    edge *= ramp[:, None]
    ramp = np.clip(np.minimum(np.arange(x1 - x0), np.arange(x1 - x0)[::-1]) / m, 0, 1)
    if x0 == 0:
        ramp[: (x1 - x0) // 2] = 1
    if x1 == w:
        ramp[(x1 - x0) // 2 :] = 1
    edge *= ramp[None, :]
    return (soft * edge).astype(np.float32)


def dreamed_cells(grid: np.ndarray, weight: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``grid`` with the cells a paste of ``weight`` (paste_weight) at ``box`` filled set to 0, so
    a later, overlapping crop does not dream them a second time."""
    y0, y1, x0, x1 = box
    out = grid.copy()
    c0, c1, r0, r1 = -(-x0 // CELL), x1 // CELL, -(-y0 // CELL), y1 // CELL
    if c1 > c0 and r1 > r0:
        sub = weight[r0 * CELL - y0 : r1 * CELL - y0, c0 * CELL - x0 : c1 * CELL - x0]
        cells = sub.reshape(r1 - r0, CELL, c1 - c0, CELL).min(axis=(1, 3))
        out[r0:r1, c0:c1][cells >= 0.99] = 0
    return out


def paste(frame: torch.Tensor, crop: torch.Tensor, weight: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """``frame`` [1,3,H,W] with ``crop`` [1,3,h,w] blended in at ``box`` by ``weight`` [1,1,h,w]."""
    y0, y1, x0, x1 = box
    out = frame.clone()
    region = out[..., y0:y1, x0:x1]
    out[..., y0:y1, x0:x1] = region + weight * (crop - region)
    return out
