"""Gradient shaping: per-sample normalisation, band equalisation, smoothing."""
from __future__ import annotations

import torch

from dreamreel.dream.gradient import gaussian_blur, normalize_laplacian, normalize_mean_abs


def test_mean_abs_normalisation_is_per_sample():
    g = torch.randn(3, 3, 20, 30) * torch.tensor([0.01, 1.0, 50.0]).view(3, 1, 1, 1)
    n = normalize_mean_abs(g)
    assert torch.allclose(n.abs().mean(dim=(1, 2, 3)), torch.ones(3), atol=1e-5)
    assert torch.allclose(n[1], g[1] / g[1].abs().mean(), atol=1e-5)


def test_laplacian_normalisation_lifts_the_weak_band():
    # A gradient that is almost all fine noise plus a faint coarse ramp: equalising the bands
    # must give the coarse ramp a much larger share.
    torch.manual_seed(0)
    fine = torch.randn(1, 3, 64, 64)
    ramp = torch.linspace(-1, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64) * 0.02
    out = normalize_laplacian(fine + ramp, levels=4)
    coarse_in = gaussian_blur(fine + ramp, 6.0).std() / (fine + ramp).std()
    coarse_out = gaussian_blur(out, 6.0).std() / out.std()
    assert coarse_out > 2 * coarse_in
    assert torch.isclose(out.abs().mean(), torch.tensor(1.0), atol=1e-4)


def test_gaussian_blur_keeps_the_mean_and_lowers_the_variance():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 50)
    y = gaussian_blur(x, 2.0)
    assert y.shape == x.shape
    assert torch.allclose(y.mean(), x.mean(), atol=1e-3)
    assert y.std() < 0.5 * x.std()
    assert torch.equal(gaussian_blur(x, 0.0), x)
