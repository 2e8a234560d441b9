"""Tiles cover the frame with the promised overlap and blend back without seams."""
from __future__ import annotations

import torch

from dreamreel.dream.tiles import feather, tile_starts, tiled


def test_tile_starts_cover_the_length_with_overlap():
    for length, tile, overlap in [(1000, 256, 64), (513, 512, 64), (3840, 512, 64), (300, 512, 64)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        for a, b in zip(starts, starts[1:]):
            assert b - a <= tile - overlap


def test_tiled_identity_rebuilds_the_image_exactly():
    x = torch.rand(2, 3, 300, 410)
    y = tiled(lambda t, rows: t, x, tile=128, overlap=32, batch=3)
    assert torch.allclose(y, x, atol=1e-5)


def test_tiles_go_through_in_batches():
    seen: list[tuple[int, ...]] = []

    def fn(t: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape))
        assert len(rows) == t.shape[0] and set(rows.tolist()) == {0}
        return t

    tiled(fn, torch.rand(1, 3, 256, 256), tile=128, overlap=32, batch=4)
    assert all(s[0] <= 4 and s[2:] == (128, 128) for s in seen)
    assert sum(s[0] for s in seen) == 9


def test_whole_frames_go_through_no_more_pixels_at_once_than_the_tiles_would():
    """A batch of frames that each fit a tile: as many together as ``batch`` tiles hold (4 frames of
    1080p at once asked 13 GB of a GPU), each chunk told which samples it holds, the rest whole."""
    seen: list[tuple[int, list[int] | None]] = []

    def fn(t: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        seen.append((t.shape[0], None if rows is None else rows.tolist()))
        return t * 2

    x = torch.rand(5, 3, 64, 64)
    y = tiled(fn, x, tile=128, overlap=16, batch=1)  # 128x128 pixels at once: 4 frames of 64x64
    assert seen == [(4, [0, 1, 2, 3]), (1, [4])] and torch.equal(y, x * 2)
    seen.clear()
    tiled(fn, x[:4], tile=128, overlap=16, batch=1)
    assert seen == [(4, None)]


def test_feather_is_one_inside_and_low_at_the_border():
    w = feather(64, 64, 16, torch.device("cpu"), torch.float32)[0, 0]
    assert w[32, 32] == 1.0 and w[0, 32] < 0.1 and w[0, 0] < w[0, 32]
