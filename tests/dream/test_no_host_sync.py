"""The dream step and a frame's merge never wait on the device: proven on the CPU by running them
on PyTorch's meta device, where tensors have shapes but no data, so any read of a value on the
host (``.item()``, ``float(t)``, a branch on a tensor, a copy to the host) raises. On a GPU each
such read would stall the host until the device caught up."""
from __future__ import annotations

import pytest
import torch

from dreamreel.dream import DreamParams, Term, dream
from dreamreel.models.net import load_dream_net
from dreamreel.motion.color import color_lock
from dreamreel.motion.temporal import carry_residual, hold_gain, merge_carried, residual_strength
from dreamreel.motion.warp import warp_lanczos
from dreamreel.modes.chain import finish_frame, keep_clean
from dreamreel.selftest import counted_uploads

META = torch.device("meta")


@pytest.fixture(scope="module")
def meta_net():
    net, _ = load_dream_net("mobilenet_v2", ["features.13"], "random", torch.device("cpu"))
    return net.to(META)


@pytest.mark.parametrize("extra", [
    {}, {"grad_norm": "laplacian"}, {"tile": 64, "tile_overlap": 16}, {"smooth": 0.0}, {"jitter": 0},
])
def test_the_dream_reads_nothing_back_from_the_device(meta_net, extra):
    params = DreamParams(terms=(Term("features.13"), Term("features.13", 7, -0.5)), octaves=2, steps=2,
                         **{"tile": 512, "jitter": 8, **extra})
    x = torch.empty(2, 3, 96, 128, device=META)
    gens = [torch.Generator().manual_seed(i) for i in range(2)]  # jitter comes from host generators
    mask = torch.empty(2, 1, 96, 128, device=META)
    y = dream(x, meta_net, params, gens, mask=mask)
    assert y.shape == x.shape and y.device == META


def test_a_frames_merge_reads_nothing_back_from_the_device():
    raw, prev_out, prev_raw = (torch.empty(1, 3, 48, 64, device=META) for _ in range(3))
    flow = torch.empty(1, 2, 48, 64, device=META)
    mask = torch.empty(1, 1, 48, 64, device=META)
    residual = warp_lanczos(prev_out - prev_raw, flow)
    residual = hold_gain(residual, mask, 0.05, 1.0) * residual
    init = carry_residual(raw, residual, mask, 1.0)
    out = merge_carried(raw, init, init, residual, mask, 0.8, True)
    out = keep_clean(out, raw, mask)
    fresh = finish_frame(color_lock(init, raw), raw, True, None)
    assert out.shape == fresh.shape == raw.shape and residual_strength(out - raw, mask).shape == (1,)


def test_a_frame_is_read_from_the_device_once_and_its_dream_stays_there(monkeypatch):
    """commit_frame on meta tensors, with the one copy to the host stood in for: a fresh and a
    carried frame each read the device exactly once (the written frame), and the next frame's
    previous dream is made on the device, not uploaded again."""
    import numpy as np

    from dreamreel.modes import chain
    from dreamreel.modes.streams import Stream

    copies = []
    real_cpu = torch.Tensor.cpu

    def cpu(self, *a, **k):
        if self.device == META:
            copies.append(tuple(self.shape))
            return torch.zeros(self.shape, dtype=self.dtype)
        return real_cpu(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "cpu", cpu)
    uploads = []
    monkeypatch.setattr(chain, "to_tensor", lambda *a, **k: uploads.append(1))
    stream = Stream(index=0, first=0, own_from=0, own_to=2, fresh=True, crossover=0)
    ch = chain._Chain(stream, iter(()))
    item = chain.MotionItem(0, np.full((48, 64, 3), 9, np.uint8), None, None, cut=True, score=1.0)
    t = lambda *s: torch.empty(*s, device=META)  # noqa: E731
    fresh = chain._Work(ch, item, t(1, 3, 48, 64), t(1, 3, 48, 64), DreamParams(terms=()))
    name, rgb, state = chain.commit_frame(fresh, t(1, 3, 48, 64), lock=True)
    assert copies == [(48, 64, 3)] and rgb.shape == (48, 64, 3) and float(state) == ch.target
    assert ch.prev_out.device == META and uploads == []
    carried = chain._Work(ch, item, t(1, 3, 48, 64), t(1, 3, 48, 64), DreamParams(terms=()), 0.8,
                          t(1, 3, 48, 64), t(1, 1, 48, 64))
    chain.commit_frame(carried, t(1, 3, 48, 64), lock=True)
    assert len(copies) == 2 and uploads == []


@pytest.mark.parametrize("tile", [512, 48])
def test_per_sample_settings_make_no_copy_to_the_device_inside_a_step(tile):
    """Frames of one batch with their own step sizes, layer weights and channels (scheduled
    settings; the atlas): the number of uploads does not grow with the steps (today's code made
    two a step). Counted on the CPU, where the same calls are made as on a GPU."""
    net, _ = load_dream_net("mobilenet_v2", ["features.6"], "random", torch.device("cpu"))
    counts = {}
    for steps in (1, 3):
        params = DreamParams(terms=(Term("features.6", None, (1.0, 0.5)), Term("features.6", (3, 5), (0.2, 0.1))),
                             octaves=2, steps=steps, step_size=(0.01, 0.02), tile=tile, tile_overlap=16, jitter=4)
        x = torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(0))
        gens = [torch.Generator().manual_seed(i) for i in range(2)]
        with counted_uploads() as calls:
            dream(x, net, params, gens)
        counts[steps] = len(calls)
    assert counts[1] == counts[3] == 0, counts
