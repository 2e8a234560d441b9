"""The crossfade a zoom loop's tail uses: a dissolve that keeps the pictures' contrast."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamreel.media.images import to_tensor
from dreamreel.media.images import read_image
from dreamreel.motion.blend import keep_contrast_blend
from dreamreel.quality import sharpness
from tests.conftest import SAMPLES


def _texture(seed: int) -> torch.Tensor:
    """Coloured detail of a dream-like scale: blurred noise around mid grey, [1,3,96,128] in [0,1]."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (96, 128, 3)).astype(np.float32)
    tex = 0.5 + 0.12 * cv2.GaussianBlur(noise, (0, 0), 1.5) / 0.2
    return torch.from_numpy(np.clip(tex, 0, 1)).permute(2, 0, 1)[None]


def _rgb8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def test_the_ends_are_the_pictures_exactly():
    x, y = _texture(0), _texture(1)
    assert torch.equal(keep_contrast_blend(x, y, 0.0), x) and torch.equal(keep_contrast_blend(x, y, 1.0), y)


@pytest.mark.parametrize("a", [0.25, 0.5, 0.75])
def test_two_unrelated_patterns_keep_their_sharpness_and_colour_halfway(a):
    x, y = _texture(0), _texture(1)
    want = (1 - a) * sharpness(_rgb8(x)) + a * sharpness(_rgb8(y))
    plain = sharpness(_rgb8((1 - a) * x + a * y))
    kept = sharpness(_rgb8(keep_contrast_blend(x, y, a)))
    assert plain < 0.75 * want  # the plain dissolve loses a quarter or more: the pulse
    assert abs(kept / want - 1) < 0.1
    sat = lambda t: float(t.max(1).values.sub(t.min(1).values).mean())  # noqa: E731 (chroma)
    assert sat(keep_contrast_blend(x, y, a)) > 0.9 * ((1 - a) * sat(x) + a * sat(y))


def test_a_picture_blended_with_itself_is_itself():
    """Where the two agree the dissolve already keeps the contrast: nothing is added."""
    x = to_tensor(read_image(SAMPLES / "astronaut.png")[::4, ::4].copy(), torch.device("cpu"))
    out = keep_contrast_blend(x, x.clone(), 0.5)
    assert (out - x).abs().max() < 1e-5
