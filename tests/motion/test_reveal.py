"""The bare grid (what holds no full dream yet) and the crops that dream it, on real flow."""
from __future__ import annotations

import numpy as np
import torch

from dreamreel.motion.flow import FlowEstimator, to_gray
from dreamreel.motion.reveal import (CELL, Bare, carry_bare, crops, drop_specks, due, min_side, none_bare, paste,
                                    paste_weight)
from tests.motion.test_motion import texture


def test_a_pan_leaves_the_strip_it_moves_into_bare_and_the_rest_dreamed():
    base = texture(120, 260)
    prev, cur = base[:, 20:180], base[:, 26:186]  # the camera pans 6 px right: new content on the right
    est = FlowEstimator("dis_fine")
    back = est(to_gray(cur), to_gray(prev))
    bare = carry_bare(none_bare(120, 160), back)
    cols = bare.cells().mean(axis=0)
    assert cols[-1] == 1.0  # the entering strip
    assert cols[: -16 // CELL].max() == 0.0  # all that was already in view keeps its dream
    assert bare.waited == 1
    # Carried again without motion, the wholly new cells stay bare and wait one frame longer.
    again = carry_bare(bare, np.zeros_like(back))
    assert again.cells()[bare.grid == 255].all() and again.waited == 2


def test_what_no_reveal_reaches_within_16_frames_is_left_to_the_regrowth():
    bare = Bare(np.full((4, 4), 255, np.uint8))
    still = np.zeros((16, 16, 2), np.float32)
    for _ in range(15):
        bare = carry_bare(bare, still)
    assert bare.cells().all() and bare.waited == 15
    assert not carry_bare(bare, still).cells().any()


def test_a_reveal_waits_while_most_of_the_frame_is_bare():
    """Past MAX_SHARE bare the camera has moved too far: a reveal would redraw most of the frame
    at once (a pop like a cut's); the regrowth steps take it."""
    grid = np.zeros((45, 80), np.uint8)
    grid[:, :20] = 255  # a quarter of the frame
    assert due(Bare(grid, 1))
    grid[:, :30] = 255  # 37 %
    assert not due(Bare(grid, 1)) and not due(Bare(grid, 20))


def test_the_grid_travels_in_a_checkpoint_word_exactly():
    rng = np.random.default_rng(1)
    bare = Bare((rng.random((45, 80)) * 256).astype(np.uint8), waited=5, credit=321)
    word = bare.encode()
    assert len(word.split()) == 1
    back = Bare.decode(word)
    assert np.array_equal(back.grid, bare.grid) and back.waited == 5 and back.credit == 321


def test_specks_are_dropped_and_a_strip_is_due():
    grid = np.zeros((45, 80), np.uint8)
    grid[10, 10] = grid[30, 40:42] = 255
    assert not drop_specks(Bare(grid, 3)).grid.any()
    grid[:, -2:] = 255  # a 8-px strip down the right edge: 90 cells, 2.5 % of the frame
    kept = drop_specks(Bare(grid, 3))
    assert kept.grid[:, -2:].all() and kept.grid[:, :-2].sum() == 0
    assert not due(Bare(kept.grid, 3)) and due(Bare(kept.grid, 16))
    grid[:, -8:] = 255  # 10 %, past the share: due at once
    assert due(Bare(grid, 1))


def test_crops_cover_every_bare_cell_with_context_and_a_ring_is_not_the_whole_frame():
    h, w = 720, 1280
    side = min_side(4, 1.4)
    assert side == 88
    strip = np.zeros((h // CELL, w // CELL), np.uint8)
    strip[:, -4:] = 1
    (box,) = crops(strip, (h, w), side)
    assert box == (0, h, w - side, w)  # the strip and its context, as wide as the coarsest octave needs
    ring = np.zeros_like(strip)
    ring[:2], ring[-2:], ring[:, :2], ring[:, -2:] = 1, 1, 1, 1
    boxes = crops(ring, (h, w), side)
    covered = np.zeros((h, w), bool)
    for y0, y1, x0, x1 in boxes:
        assert y1 - y0 >= side and x1 - x0 >= side
        covered[y0:y1, x0:x1] = True
    assert covered[ring.repeat(CELL, 0).repeat(CELL, 1) > 0].all()
    assert covered.mean() < 0.75  # the middle of the frame is not dreamed again


def test_paste_puts_the_crop_over_bare_cells_and_fades_at_its_inner_edge():
    h, w = 72, 128
    grid = np.zeros((h // CELL, w // CELL), np.uint8)
    grid[:, -3:] = 1
    box = (0, h, 64, w)
    wt = paste_weight(grid, (h, w), box)
    assert wt.shape == (h, 64) and wt[:, -12:].min() == 1.0 and wt[:, :8].max() == 0.0
    frame, crop = torch.zeros(1, 3, h, w), torch.ones(1, 3, h, 64)
    out = paste(frame, crop, torch.from_numpy(wt)[None, None], box)
    assert out[..., :64].abs().max() == 0 and out[..., -12:].min() == 1.0


def test_a_slow_zoom_out_gathers_its_ring():
    """A zoom-out of a pixel a frame at the edge never moves a cell's centre out of the frame, but
    the ring it reveals still gathers until it is bare: about 1.4 px a frame on each side."""
    h, w = 180, 320
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    zoom = 1.0085  # frame t shows 0.85 % more than t-1: its edge maps outside t-1
    back = np.stack([(xs - w / 2) * (zoom - 1), (ys - h / 2) * (zoom - 1)], axis=-1).astype(np.float32)
    bare = none_bare(h, w)
    for _ in range(6):
        bare = carry_bare(bare, back)
    ring = bare.cells()
    assert ring[:, 0].all() and ring[0, :].all() and ring[:, -1].all() and ring[-1, :].all()
    assert ring[10:-10, 10:-10].sum() == 0
