"""The dream on real pixels with the real default weights, at tiny sizes."""
from __future__ import annotations

import torch

from dreamreel.dream import DreamParams, Term, dream, guide_features, objective
from dreamreel.dream.engine import ascent_step, octave_sizes

LAYER = (Term("features.13"),)


def params(**kw) -> DreamParams:
    base = dict(terms=LAYER, octaves=2, octave_scale=1.4, steps=4, step_size=0.02, jitter=4, smooth=0.5)
    base.update(kw)
    return DreamParams(**base)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_objective_rises_over_the_steps(net, small_photo):
    trace: list[torch.Tensor] = []
    dream(small_photo, net, params(octaves=1, steps=8, jitter=0), gen(), trace=trace)
    values = [float(v[0]) for v in trace]
    assert values[-1] > 1.5 * values[0]
    assert sum(b > a for a, b in zip(values, values[1:])) >= 6


def test_dream_changes_the_photo_by_a_measured_amount_and_more_at_larger_steps(net, small_photo):
    small = dream(small_photo, net, params(step_size=0.005), gen())
    large = dream(small_photo, net, params(step_size=0.03), gen())
    d_small = (small - small_photo).abs().mean().item()
    d_large = (large - small_photo).abs().mean().item()
    assert 0.005 < d_small < d_large < 0.3
    assert small.shape == small_photo.shape and 0.0 <= large.min() and large.max() <= 1.0


def test_channel_target_raises_its_own_channel_most(net, small_photo):
    chan = 7
    out = dream(small_photo, net, params(terms=(Term("features.13", chan),)), gen())
    with torch.no_grad():
        before = net(small_photo)["features.13"].pow(2).mean(dim=(0, 2, 3))
        after = net(out)["features.13"].pow(2).mean(dim=(0, 2, 3))
    gain = after / (before + 1e-6)
    assert int(gain.argmax()) == chan


def test_per_sample_channels_in_one_batch(net, small_photo):
    x = small_photo.repeat(2, 1, 1, 1)
    out = dream(x, net, params(terms=(Term("features.13", (3, 40)),)), gen())
    with torch.no_grad():
        acts = net(out)["features.13"].pow(2).mean(dim=(2, 3))
    assert acts[0, 3] / acts[1, 3] > 1.5 and acts[1, 40] / acts[0, 40] > 1.5


def test_batching_does_not_change_a_step_beyond_rounding(net, small_photo):
    flipped = small_photo.flip(-1)
    p = params(jitter=0)
    alone, _ = ascent_step(small_photo, net, p, gen())
    both, _ = ascent_step(torch.cat([small_photo, flipped]), net, p, gen())
    assert torch.allclose(both[:1], alone, atol=1e-5)
    assert not torch.allclose(both[1:], alone, atol=1e-3)


def test_same_seed_same_output_other_seed_other_output(net, small_photo):
    a = dream(small_photo, net, params(), gen(3))
    b = dream(small_photo, net, params(), gen(3))
    c = dream(small_photo, net, params(), gen(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_tiled_and_untiled_gradients_agree_away_from_the_edges(net, astronaut):
    from dreamreel.dream.engine import image_gradient, resize
    from dreamreel.dream.tiles import tiled
    from dreamreel.media.images import to_tensor

    x = resize(to_tensor(astronaut, torch.device("cpu")), (192, 192))

    def grad(t: torch.Tensor, rows: list[int] | None = None) -> torch.Tensor:
        return image_gradient(t, net, LAYER)[0]

    whole, parts = grad(x), tiled(grad, x, tile=128, overlap=64)
    m = 24
    cos = torch.nn.functional.cosine_similarity(whole[..., m:-m, m:-m].flatten(), parts[..., m:-m, m:-m].flatten(), dim=0)
    assert cos > 0.9


def test_tiled_dream_is_as_strong_as_the_untiled_one(net, astronaut):
    from dreamreel.dream.engine import resize
    from dreamreel.media.images import to_tensor

    x = resize(to_tensor(astronaut, torch.device("cpu")), (192, 192))
    whole = dream(x, net, params(octaves=1), gen())
    parts = dream(x, net, params(octaves=1, tile=128, tile_overlap=64), gen())
    s_whole, s_parts = (whole - x).abs().mean().item(), (parts - x).abs().mean().item()
    assert 0.7 < s_parts / s_whole < 1.4


def test_laplacian_normalisation_dreams_too(net, small_photo):
    out = dream(small_photo, net, params(grad_norm="laplacian"), gen())
    assert 0.005 < (out - small_photo).abs().mean().item() < 0.3


def test_guide_pulls_toward_the_guide_features(net, small_photo):
    guide_img = small_photo.flip(-2).roll(40, -1)
    g = guide_features(net, guide_img, ["features.13"])
    plain = dream(small_photo, net, params(), gen())
    guided = dream(small_photo, net, params(), gen(), guide=g)
    with torch.no_grad():
        score_plain = objective(net(plain), LAYER, g)
        score_guided = objective(net(guided), LAYER, g)
    assert score_guided > score_plain


def test_octave_sizes_end_at_full_size_and_grow():
    sizes = octave_sizes(300, 200, 4, 1.4)
    assert sizes[-1] == (300, 200)
    assert all(a[0] < b[0] for a, b in zip(sizes, sizes[1:]))
    assert octave_sizes(40, 40, 6, 2.0) == [(40, 40)]


def test_zero_steps_returns_the_input(net, small_photo):
    out = dream(small_photo, net, params(steps=0), gen())
    assert torch.equal(out, small_photo)


def test_bf16_autocast_keeps_the_look(net, small_photo):
    full = dream(small_photo, net, params(), gen())
    half = dream(small_photo, net, params(precision="bf16"), gen())
    s_full, s_half = (full - small_photo).abs().mean().item(), (half - small_photo).abs().mean().item()
    assert 0.85 < s_half / s_full < 1.15
    with torch.no_grad():
        o_full, o_half = objective(net(full), LAYER).item(), objective(net(half), LAYER).item()
    assert abs(o_half / o_full - 1) < 0.15


def test_per_sample_generators_make_a_sample_independent_of_its_batch(net, small_photo):
    from dreamreel.modes.setup import frame_generator

    p = params()
    alone, _ = ascent_step(small_photo, net, p, [frame_generator(0, 7)])
    pair, _ = ascent_step(torch.cat([small_photo.flip(-1), small_photo]), net, p,
                          [frame_generator(0, 3), frame_generator(0, 7)])
    assert torch.allclose(pair[1:], alone, atol=1e-5)


def test_frames_with_different_scheduled_settings_dream_in_one_batch_as_they_would_alone(net, astronaut):
    """Per-sample step sizes and layer weights: three frames whose schedules differ (the
    music-video case) dream as one batch, and each comes out as it does dreamed alone, whole and
    in tiles."""
    from dreamreel.dream.engine import DreamParams, batch_key, batched, dream, resize
    from dreamreel.dream.objective import Term
    from dreamreel.media.images import to_tensor

    x = resize(to_tensor(astronaut, torch.device("cpu")), (96, 128))
    frames = torch.cat([x, x.flip(-1), x.flip(-2)])
    for tile in (512, 64):
        each = [DreamParams(terms=(Term("features.6", None, w10), Term("features.13", 5, w13)), octaves=2, steps=2,
                            step_size=s, jitter=6, tile=tile, tile_overlap=16)
                for s, w10, w13 in ((0.01, 1.0, 0.0), (0.03, 0.2, 1.5), (0.02, 0.0, 0.7))]
        assert len({batch_key(p) for p in each}) == 1
        together = dream(frames, net, batched(each), [torch.Generator().manual_seed(i) for i in range(3)])
        for i, p in enumerate(each):
            alone = dream(frames[i : i + 1], net, p, [torch.Generator().manual_seed(i)])
            assert (together[i] - alone[0]).abs().max() < 1e-4, (tile, i)
        assert (together[0] - together[1].flip(-1)).abs().mean() > 1e-3  # they did differ
