"""A frame's inputs on their way to the device (speed/transfer.py): exactly the host arrays on
the CPU; compact on a GPU (fp16 flow, uint8 masks) within stated bounds, which a render on the
CPU with the compact wire shows to be invisible; and the look-ahead that sends the next frame's
inputs during the dream never costs a frame already dreamed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamreel.api import render
from dreamreel.media.images import read_image, to_tensor
from dreamreel.motion.flow import FlowEstimator, to_gray
from dreamreel.motion.warp import flow_to_tensor
from dreamreel.modes import chain as chain_mod
from dreamreel.speed import transfer as transfer_mod
from dreamreel.jobs.folder import job_dir
from dreamreel.speed.transfer import FLOW_WIRE, MASK_LEVELS, Transfer
from tests.conftest import SAMPLES

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def real_pair():
    """Two frames of the sample clip with the real flow between them and a feathered mask."""
    import cv2

    cap = cv2.VideoCapture(str(SAMPLES / "city.mp4"))
    frames = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(4)]
    cap.release()
    a, b = frames[0], frames[3]
    flow = FlowEstimator("dis_medium")(to_gray(b), to_gray(a))
    mask = np.clip(cv2.GaussianBlur((np.abs(flow).sum(-1) > 1).astype(np.float32), (0, 0), 3), 0, 1)
    return b, flow, mask


def test_on_the_cpu_the_inputs_are_the_host_arrays_themselves(real_pair):
    rgb, flow, mask = real_pair
    t = Transfer(CPU)
    got = t.ready(t.send(t.pack(rgb, flow, mask, 1 - mask)))
    assert torch.equal(got.raw, to_tensor(rgb, CPU))
    assert torch.equal(got.flow_back, flow_to_tensor(flow, CPU))
    assert torch.equal(got.mask[0, 0], torch.from_numpy(mask)) and got.dream_mask is None
    # No copy: the flow and masks are views of the arrays the flow thread made.
    assert got.flow_back.data_ptr() == torch.from_numpy(flow).data_ptr()
    assert got.mask.data_ptr() == torch.from_numpy(mask).data_ptr()


def test_the_compact_wire_is_half_the_bytes_and_within_its_bounds(real_pair):
    rgb, flow, mask = real_pair
    t = Transfer(CPU, compact=True)
    packed = t.pack(rgb, flow, mask, 1 - mask)
    assert packed.flow_back.dtype == FLOW_WIRE and packed.mask.dtype == packed.lost.dtype == torch.uint8
    wire = sum(x.numel() * x.element_size() for x in (packed.rgb, packed.flow_back, packed.mask, packed.lost))
    full = rgb.nbytes + flow.nbytes + 2 * mask.nbytes
    assert wire < 0.5 * full
    got = t.send(packed)
    assert got.flow_back.dtype == got.mask.dtype == torch.float32
    err = (got.flow_back - flow_to_tensor(flow, CPU)).abs()
    assert (err <= flow_to_tensor(np.abs(flow), CPU) / 2048 + 1e-7).all() and np.abs(flow).max() > 1
    assert (got.mask[0, 0] - torch.from_numpy(mask)).abs().max() <= 0.5 / MASK_LEVELS + 1e-6
    # Full trust and none arrive exactly, so keep_clean's "exactly raw where the mask is 0" holds.
    exact = (mask == 0) | (mask == 1)
    assert exact.any() and torch.equal(got.mask[0, 0][torch.from_numpy(exact)], torch.from_numpy(mask[exact]))
    assert torch.equal(got.raw, to_tensor(rgb, CPU))


def _render(tmp_path, name, render_settings=None, **video):
    out = tmp_path / name
    render({"input": str(SAMPLES / "city.mp4"), "output": str(out), "frames": {"count": 6},
            "size": {"width": 96}, "dream": {"steps": 2, "octaves": 2, "jitter": 2},
            "video": {"steps_after_first": 1, **video}, "render": render_settings or {}}, force=True)
    return [read_image(p).astype(np.float32) for p in sorted(out.glob("*.png"))]


class _Nudged(Transfer):
    """The exact wire with every flow moved by a thousandth of a pixel."""

    def _flow(self, flow: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(flow + np.float32(1e-3))


def test_a_render_with_the_compact_wire_differs_no_more_than_a_thousandth_of_a_pixel_of_flow(tmp_path, monkeypatch):
    """What a GPU's frames get from the compact wire, shown on the CPU. A carried dream is
    chaotic: any change to its inputs grows frame by frame into a different but equally strong
    dream (at 160 px, about 3 levels of 8 bits a pixel by frame 20, from fp16 flow, uint8 masks
    or a flow 0.001 px off alike). So the compact wire is held to that floor: it changes the
    render no more than a thousandth of a pixel of flow does, and the dream is as strong."""
    exact = _render(tmp_path, "exact")
    monkeypatch.setattr(chain_mod, "Transfer", lambda device: transfer_mod.Transfer(device, compact=True))
    compact = _render(tmp_path, "compact")
    monkeypatch.setattr(chain_mod, "Transfer", _Nudged)
    nudged = _render(tmp_path, "nudged")
    assert len(exact) == len(compact) == len(nudged) == 6
    assert np.array_equal(exact[0], compact[0])  # a fresh frame reads no flow or mask
    compact_off = np.abs(exact[-1] - compact[-1]).mean()
    nudged_off = np.abs(exact[-1] - nudged[-1]).mean()
    assert 0 < compact_off <= 1.5 * nudged_off
    source = _source_frame(5, exact[-1].shape)
    strength = [np.abs(f[-1] - source).mean() for f in (exact, compact)]
    assert strength[0] > 4 and abs(strength[1] / strength[0] - 1) < 0.05


def _source_frame(index: int, shape: tuple[int, ...]) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(SAMPLES / "city.mp4"))
    for _ in range(index + 1):
        ok, bgr = cap.read()
    cap.release()
    small = cv2.resize(bgr, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)


class _Overlapping(Transfer):
    """The CPU's transfer, but taking the next frame during the dream, as on a GPU."""

    def __init__(self, device: torch.device) -> None:
        super().__init__(device)
        self.overlaps = True


@pytest.mark.parametrize("during_the_dream", [False, True])
def test_an_error_taking_the_next_frame_keeps_the_frames_dreamed_before_it(tmp_path, monkeypatch,
                                                                          during_the_dream):
    """A GPU takes the next frame while this one dreams, the CPU after it is saved; when taking
    it fails (a decode error mid-clip), the frame already dreamed is saved before the error ends
    the render, and a look-ahead render is the same render."""
    if during_the_dream:
        monkeypatch.setattr(chain_mod, "Transfer", _Overlapping)
    real = chain_mod.motion_items

    def failing(*args, **kwargs):
        for item in real(*args, **kwargs):
            if item.index == 4:
                raise RuntimeError("the decoder failed at frame 4")
            yield item

    monkeypatch.setattr(chain_mod, "motion_items", failing)
    out = tmp_path / "broken"
    with pytest.raises(RuntimeError, match="frame 4"):
        render({"input": str(SAMPLES / "city.mp4"), "output": str(out), "frames": {"count": 8},
                "size": {"width": 64}, "dream": {"steps": 1, "octaves": 1},
                "video": {"steps_after_first": 1}, "render": {"batch": 1}}, force=True)
    saved = sorted(p.name for p in (job_dir(out) / "frames").glob("*.png"))
    assert saved == [f"{i:06d}.png" for i in range(4)]


def test_taking_the_next_frame_during_the_dream_gives_the_same_render(tmp_path, monkeypatch):
    """The look-ahead a GPU takes, run on the CPU: the same frames bit for bit, with two chains in
    a batch (``render.batch: 2``) so chains retire and start around it."""
    streams = {"batch": 2, "segments": 3, "preroll": 1, "crossover": 1}
    exact = _render(tmp_path, "after", streams)
    monkeypatch.setattr(chain_mod, "Transfer", _Overlapping)
    ahead = _render(tmp_path, "during", streams)
    assert len(exact) == len(ahead) == 6 and all(np.array_equal(a, b) for a, b in zip(exact, ahead))


@pytest.mark.cuda
def test_on_a_gpu_the_copies_are_pinned_asynchronous_and_match_the_compact_wire(real_pair):
    rgb, flow, mask = real_pair
    gpu = Transfer(torch.device("cuda"))
    packed = gpu.pack(rgb, flow, mask, 1 - mask)
    assert all(x.is_pinned() for x in (packed.rgb, packed.flow_back, packed.mask, packed.lost))
    got = gpu.ready(gpu.send(packed))
    want = Transfer(CPU, compact=True)
    want = want.send(want.pack(rgb, flow, mask, 1 - mask))
    torch.cuda.synchronize()
    for a, b in ((got.raw, want.raw), (got.flow_back, want.flow_back), (got.mask, want.mask)):
        assert a.device.type == "cuda" and torch.equal(a.cpu(), b)
