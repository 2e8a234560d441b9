"""Flow direction, warping, the occlusion mask, colour lock and cut detection on real arrays."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dreamreel.motion.color import color_lock, lowpass
from dreamreel.motion.consistency import consistency_mask, feather_trust, forward_at, symmetric_flow
from dreamreel.motion.flow import FlowEstimator, finest_scale, to_gray
from dreamreel.motion.scene import cut_score
from dreamreel.motion.temporal import MAX_RESTORE, carry_residual, hold_gain, merge_carried
from dreamreel.motion.warp import remap_lanczos, flow_to_tensor, warp, warp_lanczos
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
    # grid_sample works in [-1, 1]: an integer pixel comes back off by float32 rounding (~1e-6
    # px), which on a random image is up to a few 1e-6 in value; 1e-6 failed one run in six.
    x = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(warp(x, torch.zeros(1, 2, 20, 30)), x, atol=1e-5)
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0] = 3.0
    assert torch.allclose(warp(x, flow)[..., :-3], x[..., 3:], atol=1e-5)


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


def test_the_mean_of_both_flows_is_nearer_the_true_motion_than_either():
    """A view of the astronaut moved by a known sub-pixel shift and zoom, with sensor noise:
    where the round trip agrees, the mean of the backward flow and the forward flow's inverse
    errs less than the backward flow alone (0.083 px here, the mean 0.070; -fwd alone 0.081);
    where it does not, the backward flow is kept."""
    photo = cv2.cvtColor(cv2.imread(str(SAMPLES / "astronaut.png")), cv2.COLOR_BGR2GRAY).astype(np.float32)
    rng = np.random.default_rng(0)
    h, w = 180, 320

    def view(dx: float, dy: float, zoom: float) -> np.ndarray:
        m = cv2.getRotationMatrix2D((256, 230), 0.0, zoom)
        m[:, 2] += np.array([w / 2 - 256 - dx, h / 2 - 230 - dy])
        return np.vstack([m, [0, 0, 1]])

    def frame(m: np.ndarray) -> np.ndarray:
        f = cv2.warpAffine(photo, m[:2], (w, h), flags=cv2.INTER_LANCZOS4) + rng.normal(0, 2, (h, w))
        return np.clip(f, 0, 255).astype(np.uint8)

    a, b = view(0, 0, 1.0), view(1.3, 0.7, 1.01)
    prev, cur = frame(a), frame(b)
    est = FlowEstimator("dis_fine")
    back, fwd = est(cur, prev), est(prev, cur)
    mask = consistency_mask(back, fwd, motion_boundaries=False)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    p = a @ np.linalg.inv(b)  # a pixel of this frame to where it was in the previous one
    true = np.dstack([p[0, 0] * xs + p[0, 1] * ys + p[0, 2] - xs, p[1, 0] * xs + p[1, 1] * ys + p[1, 2] - ys])
    inner = (slice(10, -10), slice(10, -10))
    err = lambda f: float(np.sqrt(((f - true) ** 2).sum(-1))[inner].mean())  # noqa: E731
    both = symmetric_flow(back, forward_at(back, fwd), mask)
    assert err(both) < 0.9 * err(back), (err(both), err(back))
    assert np.array_equal(symmetric_flow(back, forward_at(back, fwd), np.zeros_like(mask)), back)


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


@pytest.mark.parametrize("sigma", [16.0, 32.0])  # grids 2x and 4x coarser
def test_a_wide_feather_on_a_coarser_grid_spreads_trust_as_the_full_size_blur(sigma):
    rng = np.random.default_rng(3)
    mask = (rng.random((180, 322)) > 0.1).astype(np.float32)
    mask[40:120, 100:220] = 0.0  # an occluded region and scattered specks
    exact = np.maximum(mask, cv2.GaussianBlur(mask, (0, 0), sigma))
    out = feather_trust(mask, sigma)
    assert np.abs(out - exact).max() < 0.02 and (out >= mask).all() and out.max() <= 1.0
    assert out.shape == mask.shape and out.dtype == np.float32


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
    from dreamreel.media.images import read_image

    a = texture(120, 160)
    shifted = np.roll(a, 8, axis=1)
    other = cv2.resize(read_image(SAMPLES / "astronaut.png"), (160, 120))
    assert cut_score(a, shifted) < 0.15
    assert cut_score(a, other) > 0.35


def _sharp(x: torch.Tensor) -> float:
    from dreamreel.media.images import to_rgb8
    from dreamreel.quality import sharpness

    return sharpness(to_rgb8(x))


def test_lanczos_warp_keeps_detail_that_bilinear_blurs_away(small_photo):
    """Ten round trips of half a pixel: bilinear compounds its low-pass, Lanczos-4 keeps most."""
    there = torch.zeros(1, 2, 128, 128)
    there[:, 0], there[:, 1] = 0.5, 0.25
    back = -there
    lz, bl = small_photo, small_photo
    for _ in range(10):
        lz = warp_lanczos(warp_lanczos(lz, there), back)
        bl = warp(warp(bl, there), back)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))  # away from the replicated edges
    base = _sharp(small_photo[inner])
    assert _sharp(lz[inner]) > 0.7 * base, (_sharp(lz[inner]), base)
    assert _sharp(bl[inner]) < 0.3 * base, (_sharp(bl[inner]), base)


def test_lanczos_warp_is_exact_on_whole_pixels_and_the_same_on_every_device_path(small_photo):
    shift = torch.zeros(1, 2, 128, 128)
    shift[:, 0] = 3.0  # out(x) = img(x + 3)
    moved = warp_lanczos(small_photo, shift)
    assert torch.equal(warp_lanczos(small_photo, torch.zeros_like(shift)), small_photo)
    assert torch.allclose(moved[..., :-3], small_photo[..., 3:], atol=1e-6)
    # The torch kernel (CUDA and other devices) against OpenCV's (the CPU): one Lanczos-4, up to
    # OpenCV's 1/32-pixel positions.
    g = torch.Generator().manual_seed(0)
    flow = (torch.rand(1, 2, 128, 128, generator=g) - 0.5) * 5
    cpu, portable = warp_lanczos(small_photo, flow), remap_lanczos(small_photo, flow)
    assert (cpu - portable).abs().mean() < 0.003, (cpu - portable).abs().mean()


def test_lanczos_warp_can_read_nothing_past_the_border_on_every_device_path(small_photo):
    """outside="zero": what comes from beyond the image is 0 (the carried detail there is
    nothing), on OpenCV's path and the torch kernel alike; inside it is the same warp."""
    shift = torch.zeros(1, 2, 128, 128)
    shift[:, 0] = 3.0
    moved = warp_lanczos(small_photo, shift, outside="zero")
    assert torch.equal(moved[..., -3:], torch.zeros_like(moved[..., -3:]))
    assert torch.allclose(moved[..., :-3], small_photo[..., 3:], atol=1e-6)
    edge = small_photo[..., -1:].expand(-1, -1, -1, 3)
    assert torch.allclose(warp_lanczos(small_photo, shift)[..., -3:], edge, atol=1e-6)  # by default, replicated
    g = torch.Generator().manual_seed(0)
    flow = (torch.rand(1, 2, 128, 128, generator=g) - 0.5) * 12
    cpu = warp_lanczos(small_photo, flow, outside="zero")
    portable = remap_lanczos(small_photo, flow, outside="zero")
    assert (cpu - portable).abs().mean() < 0.003, (cpu - portable).abs().mean()
    with pytest.raises(ValueError, match="outside"):
        warp_lanczos(small_photo, flow, outside="reflect")


def test_a_carried_frame_never_resamples_the_footage():
    """merge_carried builds on the frame's own raw pixels: with nothing carried and nothing
    dreamed it is the raw frame exactly, and the carried detail lands on it unfiltered."""
    g = torch.Generator().manual_seed(1)
    raw = torch.rand(1, 3, 32, 32, generator=g) * 0.6 + 0.2
    residual = (torch.rand(1, 3, 32, 32, generator=g) - 0.5) * 0.2
    ones = torch.ones(1, 1, 32, 32)
    assert torch.equal(merge_carried(raw, raw, raw, torch.zeros_like(raw), ones, 0.8, True), raw)
    init = carry_residual(raw, residual, ones, 1.0)
    # No new detail: the output is the raw frame plus the carried detail, whatever the blend.
    assert torch.allclose(merge_carried(raw, init, init, residual, ones, 0.8, True), raw + residual, atol=1e-6)
    # A frame between dreamed ones (no steps, ``None``) takes the short way to the same bits.
    half = ones * torch.linspace(0, 1, 32)
    assert torch.equal(merge_carried(raw, init, None, residual, half, 0.8, True),
                       merge_carried(raw, init, init, residual, half, 0.8, True))
    # New detail is kept at 1 - blend where trusted, in full where not, its low frequencies out.
    new = torch.full_like(raw, 0.01) + (torch.rand(1, 3, 32, 32, generator=g) - 0.5) * 0.02
    trusted = merge_carried(raw, init, init + new, residual, ones, 0.8, False) - init
    lost = merge_carried(raw, raw, raw + new, residual, torch.zeros_like(ones), 0.8, False) - raw
    assert torch.allclose(trusted, 0.2 * new, atol=1e-6) and torch.allclose(lost, new, atol=1e-6)
    locked = merge_carried(raw, raw, raw + new, residual, torch.zeros_like(ones), 0.8, True) - raw
    assert abs(float(locked.mean())) < 1e-3 < float(new.mean())  # the flat 0.01 lift is taken out
