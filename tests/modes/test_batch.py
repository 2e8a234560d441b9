"""Streams dreamed side by side in one batch: planning, and no seam where they meet."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dreamreel.cli import main
from dreamreel.media.images import read_image
from dreamreel.modes.streams import plan_streams
from tests.conftest import make_clip, video_stopped_after


def test_streams_cover_the_clip_once_with_preroll_and_crossover():
    streams = plan_streams(0, 100, 4, [], preroll=5, crossover=3)
    assert [s.own_from for s in streams] == [0, 25, 50, 75] and streams[-1].own_to == 100
    assert all(a.own_to == b.own_from for a, b in zip(streams, streams[1:]))
    assert [s.first for s in streams] == [0, 17, 42, 67] and not any(s.fresh for s in streams[1:])
    s = streams[1]
    assert s.name(20) == "000020.s1.png" and s.name(25) == "000025.png"
    assert s.crossfade_weight(21) == 0.0 and 0 < s.crossfade_weight(22) < s.crossfade_weight(24) < 1


def test_a_boundary_near_a_cut_moves_onto_it_and_starts_fresh():
    streams = plan_streams(0, 100, 2, [47], preroll=5, crossover=3)
    assert streams[1].own_from == 47 and streams[1].fresh and streams[1].first == 47


def test_short_clips_stay_one_stream():
    assert len(plan_streams(0, 10, 4, [], preroll=5, crossover=3)) == 1


def render(tmp_path: Path, clip: Path, batch: int) -> list[np.ndarray]:
    cfg = tmp_path / f"b{batch}.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / f'out{batch}'}\n"
                   "dream: {steps: 4, octaves: 2, jitter: 4}\nvideo: {steps_after_first: 2, preset: ultrafast}\n"
                   f"render: {{batch: {batch}, preroll: 4, crossover: 4}}\n")
    assert main(["render", str(cfg)]) == 0
    return [read_image(p).astype(np.float32) / 255 for p in sorted((tmp_path / f"out{batch}").glob("*.png"))]


def test_two_streams_meet_without_a_seam(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="128x96", rate="12", audio=False)
    one, two = render(tmp_path, clip, 1), render(tmp_path, clip, 2)
    manifest = json.loads((tmp_path / "out2.manifest.json").read_text())
    assert manifest["batch"] == 2 and manifest["segments"][1]["frames"] == [18, 36]
    assert len(one) == len(two) == 36
    steps = [np.abs(one[i] - one[i - 1]).mean() for i in range(1, len(one))]
    seam = range(18 - 4, 18 + 2)
    # Around the seam, the batched render is no further from the sequential one than one
    # ordinary frame is from the next...
    assert max(np.abs(two[f] - one[f]).mean() for f in seam) <= np.median(steps)
    # ...and it moves from frame to frame no harder there than the sequential render ever does.
    assert max(np.abs(two[f] - two[f - 1]).mean() for f in seam) <= 1.25 * max(steps)
    # Before the second stream's frames reach the output, both renders are the same chain, up to
    # the rounding of a different batch size.
    assert all(np.abs(two[f] - one[f]).mean() < np.median(steps) / 2 for f in range(0, 10))


def test_an_interrupted_batched_render_resumes(tmp_path, monkeypatch):

    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="128x96", rate="12", audio=False)
    reference = render(tmp_path, clip, 2)
    cfg = tmp_path / "b2.yaml"
    with video_stopped_after(monkeypatch, 9):
        assert main(["render", str(cfg), "--force"]) == 130
    assert main(["render", str(cfg)]) == 0
    again = [read_image(p).astype(np.float32) / 255 for p in sorted((tmp_path / "out2").glob("*.png"))]
    assert json.loads((tmp_path / "out2.manifest.json").read_text())["resumed_at"] is not None
    assert len(again) == 36
    # A resumed batch regroups frames, and batch size changes the convolutions' rounding, so the
    # chain may drift a little (bit-identical resume holds for batch 1, the CPU default); it
    # stays closer to the reference than one frame is to the next.
    steps = [np.abs(reference[i] - reference[i - 1]).mean() for i in range(1, len(reference))]
    assert max(np.abs(a - b).mean() for a, b in zip(again, reference)) < np.median(steps)


def test_a_fresh_and_a_carried_frame_with_the_same_settings_dream_in_one_batch(net):
    """With one octave and as many steps for carried frames as fresh ones, a fresh frame (no
    step weight) and a carried one (a regrowth weight) share settings and so a batch: the
    fresh one weighs 1 everywhere, and each comes out as it would alone."""
    import torch

    from dreamreel.dream import DreamParams, Term
    from dreamreel.modes.chain import _Work, dream_batch

    g = torch.Generator().manual_seed(0)
    frames = [torch.rand(1, 3, 32, 48, generator=g) for _ in range(2)]
    params = DreamParams(terms=(Term("features.13", None, 1.0),), octaves=1, steps=1, jitter=2)

    def work(i: int, weight):
        item = type("Item", (), {"index": i})()
        return _Work(None, item, frames[i], frames[i], params, step_weight=weight)

    boost = torch.full((1, 1, 32, 48), 2.0)
    both = dream_batch([work(0, None), work(1, boost)], net, None)
    assert torch.allclose(both[0], dream_batch([work(0, None)], net, None)[0], atol=1e-5)
    # ... and the carried one keeps its weight (it was dropped when the first frame had none).
    assert torch.allclose(both[1], dream_batch([work(1, boost)], net, None)[0], atol=1e-5)
    reversed_ = dream_batch([work(1, boost), work(0, None)], net, None)  # was a torch.cat of None
    assert torch.allclose(reversed_[1], both[0], atol=1e-5)
