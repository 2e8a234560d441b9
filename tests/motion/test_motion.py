"""Flow direction, warping, the occlusion mask, colour lock and cut detection on real arrays."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from pipeline.motion.color import color_lock, lowpass
from pipeline.motion.consistency import consistency_mask, feather_trust
from pipeline.motion.flow import FlowEstimator, finest_scale, to_gray
from pipeline.motion.scene import cut_score
from pipeline.motion.temporal import MAX_RESTORE, hold_gain
from pipeline.motion.warp import flow_to_tensor, warp
from tests.conftest import SAMPLES


def texture(h: int = 140, w: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 1.5)


def test_known_shift_is_warped_back_exactly():
    base = texture()
    prev, cur = base[20:120, 20:180], base[20:120, 26:186]  # the camera pans 6 px right
    back = FlowEstimator("dis_medium")(to_gray(cur), to_gray(prev))
    assert np.allclose(back[20:80, 20:140].mean(axis=(0, 1)), [6.0, 0.0], atol=0.05)
    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    moved = warp(t(prev), flow_to_tensor(back, torch.device("cpu")))
    err = (moved - t(cur))[..., 10:-10, 10:-20].abs().mean().item()
    assert err < 0.01


def test_warp_with_zero_flow_is_identity_and_integer_flow_shifts():
    x = torch.rand(1, 3, 20, 30)
    assert torch.allclose(warp(x, torch.zeros(1, 2, 20, 30)), x, atol=1e-6)
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0] = 3.0
    assert torch.allclose(warp(x, flow)[..., :-3], x[..., 3:], atol=1e-6)


def test_occlusion_mask_marks_the_disoccluded_region():
    # A square moves 12 px right over a static background: the strip it uncovers in the
    # current frame has no match in the previous one.
    bg = texture(120, 160, seed=1)
    sq = texture(40, 40, seed=2)
    prev, cur = bg.copy(), bg.copy()
    prev[40:80, 40:80] = sq
    cur[40:80, 52:92] = sq
    flow = FlowEstimator("dis_fine")
    back = flow(to_gray(cur), to_gray(prev))
    fwd = flow(to_gray(prev), to_gray(cur))
    mask = consistency_mask(back, fwd)
    uncovered = mask[45:75, 42:50].mean()
    static = mask[5:30, 5:150].mean()
    assert uncovered < 0.5 < 0.9 < static


def test_mask_rejects_flow_that_leaves_the_frame():
    back = np.zeros((10, 10, 2), np.float32)
    back[..., 0] = -4.0  # everything came from 4 px to the left
    mask = consistency_mask(back, -back, motion_boundaries=False)
    assert mask[:, :4].sum() == 0 and mask[:, 4:].all()


def test_feathered_trust_fills_specks_but_not_an_occluded_region():
    mask = np.ones((100, 100), np.float32)
    specks = [(10, 10), (20, 70), (85, 30)]
    for y, x in specks:
        mask[y, x] = 0.0
    mask[50:90, 55:95] = 0.0  # a region the flow cannot follow (disoccluded)
    out = feather_trust(mask, 4.0)
    assert all(out[y, x] > 0.8 for y, x in specks)
    assert out[62:78, 67:83].max() < 0.05  # its inside stays fresh
    assert (out >= mask).all() and out.max() <= 1.0 and out.dtype == np.float32
    assert feather_trust(mask, 0.0) is mask


def test_small_frames_get_full_size_flow():
    assert [finest_scale(1, side) for side in (176, 320, 639, 640, 1920)] == [0, 0, 0, 1, 1]
    assert finest_scale(2, 1280) == 2  # above the threshold the preset decides
    assert FlowEstimator("dis_medium").grain(320) == 1 and FlowEstimator("dis_medium").grain(1280) == 2
    assert FlowEstimator("farneback").grain(1920) == 1


def test_the_hold_lowers_a_grown_residual_and_restores_a_faded_one():
    mask = torch.ones(3, 1, 8, 8)
    residual = torch.ones(3, 3, 8, 8) * torch.tensor([0.2, 0.08, 0.02]).view(3, 1, 1, 1)  # strengths
    gain = hold_gain(residual, mask, target=0.1, hold=1.0).flatten()
    assert torch.allclose(gain, torch.tensor([0.5, 1.25, MAX_RESTORE]), atol=1e-5)  # the last capped (5x asked)
    assert float(hold_gain(residual[:1], mask[:1], target=0.0, hold=1.0)) == 0.0  # no target: no carried detail
    # Above 1 the hold is a ceiling only: detail between the fresh strength and it is kept as is.
    loose = hold_gain(residual, mask, target=0.1, hold=3.0).flatten()
    assert torch.allclose(loose, torch.tensor([1.0, 1.25, MAX_RESTORE]), atol=1e-5)


def test_color_lock_keeps_detail_and_restores_the_low_frequencies():
    torch.manual_seed(0)
    src = lowpass(torch.rand(1, 3, 64, 64), 4)
    detail = torch.randn(1, 3, 64, 64) * 0.05
    drifted = (src + 0.2 + detail).clamp(0, 1)  # brighter overall, plus fine detail
    locked = color_lock(drifted, src)
    assert abs(locked.mean() - src.mean()) < 0.01
    hp = lambda x: x - lowpass(x)
    assert torch.nn.functional.cosine_similarity(hp(locked).flatten(), hp(drifted).flatten(), dim=0) > 0.9


def test_cut_score_separates_motion_from_a_cut():
    from pipeline.media.images import read_image

    a = texture(120, 160)
    shifted = np.roll(a, 8, axis=1)
    other = cv2.resize(read_image(SAMPLES / "astronaut.png"), (160, 120))
    assert cut_score(a, shifted) < 0.15
    assert cut_score(a, other) > 0.35
