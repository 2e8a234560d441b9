"""A frame's host inputs (its pixels, flow and trust) on their way to the device.

On a GPU they travel compact and without holding the host: the flow as fp16 and the trust masks as
uint8 (18 MB a 1080p frame instead of 41), from pinned host memory, with ``non_blocking`` copies on
a stream of their own, so the next frame's inputs move while the device dreams this one. The
packing runs on the decoder's thread (``Transfer.pack``), the copies are issued by the frame
loop (``send``), and the device's work waits for them (``ready``) only where it reads them.

On the CPU nothing moves: the tensors are views of the host arrays, exactly as before.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Packed", "Inputs", "Transfer", "FLOW_WIRE", "MASK_LEVELS"]

# fp16 keeps 11 significant bits: a flow of |f| pixels arrives within |f| / 2048 (0.03 px at 64 px
# of motion a frame), far below what a Lanczos warp of the dream's detail can show.
FLOW_WIRE = torch.float16
# Trust and loss masks in [0,1], sent as k / MASK_LEVELS: within 1/510 of the host's value.
MASK_LEVELS = 255


@dataclass
class Packed:
    """A frame's inputs as host tensors ready to copy (pinned when a GPU takes them): rgb uint8
    [H,W,3]; flow_back [H,W,2] pixels; mask, lost, dream_mask [H,W] in [0,1] (uint8 levels when
    compact). Absent parts are None (a fresh start has no flow; dream_mask is ``dream.mask``'s)."""

    rgb: torch.Tensor
    flow_back: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    lost: torch.Tensor | None = None
    dream_mask: torch.Tensor | None = None


@dataclass
class Inputs:
    """A frame's inputs on the device, float32: raw [1,3,H,W] in [0,1]; flow_back [1,2,H,W]
    pixels; mask, lost, dream_mask [1,1,H,W] in [0,1]."""

    raw: torch.Tensor
    flow_back: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    lost: torch.Tensor | None = None
    dream_mask: torch.Tensor | None = None
    event: torch.cuda.Event | None = None  # recorded on the copy stream after the copies


class Transfer:
    """Moves packed inputs to ``device``. ``compact`` (default: on CUDA) sends the flow as fp16 and
    the masks as uint8; copies are pinned and asynchronous where the device is a GPU."""

    def __init__(self, device: torch.device, compact: bool | None = None) -> None:
        self.device = device
        self.gpu = device.type == "cuda"
        self.compact = self.gpu if compact is None else compact
        # Whether copies run beside the device's work, so the next frame is best sent during it.
        self.overlaps = self.gpu
        self.stream = torch.cuda.Stream(device) if self.gpu else None

    def pack(self, rgb: np.ndarray, flow_back: np.ndarray | None = None, mask: np.ndarray | None = None,
             lost: np.ndarray | None = None) -> Packed:
        """Host arrays (rgb uint8 [H,W,3], flow [H,W,2], masks float32 [H,W] in [0,1]) as tensors
        to send; on the thread that made them, so the frame loop only issues copies."""
        return Packed(self._host(torch.from_numpy(np.ascontiguousarray(rgb))),
                      None if flow_back is None else self._host(self._flow(flow_back)),
                      None if mask is None else self.pack_mask(mask),
                      None if lost is None else self.pack_mask(lost))

    def pack_mask(self, mask: np.ndarray) -> torch.Tensor:
        """A mask [H,W] in [0,1] as the tensor to send (uint8 levels when compact)."""
        t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))
        if self.compact:
            t = t.mul(MASK_LEVELS).round_().to(torch.uint8)
        return self._host(t)

    def send(self, packed: Packed) -> Inputs:
        """Issue the copies of ``packed`` to the device (on a GPU, asynchronously on the copy
        stream) and widen them there; call ``ready`` before the device's work reads them."""
        if not self.gpu:
            return self._widen(packed)
        with torch.cuda.stream(self.stream):
            inputs = self._widen(packed)
            inputs.event = torch.cuda.Event()
            inputs.event.record(self.stream)
        return inputs

    def ready(self, inputs: Inputs) -> Inputs:
        """Make the device's current stream wait for ``inputs``' copies (no host wait)."""
        if inputs.event is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(inputs.event)
            for t in (inputs.raw, inputs.flow_back, inputs.mask, inputs.lost, inputs.dream_mask):
                if t is not None:
                    t.record_stream(current)  # made on the copy stream, freed after use on this one
            inputs.event = None
        return inputs

    def _flow(self, flow: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))
        return t.to(FLOW_WIRE) if self.compact else t

    def _host(self, t: torch.Tensor) -> torch.Tensor:
        return t.pin_memory() if self.gpu else t

    def _move(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(self.device, non_blocking=self.gpu)

    def _plane(self, t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        t = self._move(t)
        return (t.float().div_(MASK_LEVELS) if t.dtype == torch.uint8 else t)[None, None]

    def _widen(self, p: Packed) -> Inputs:
        raw = self._move(p.rgb).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        flow = None if p.flow_back is None else self._move(p.flow_back).float().permute(2, 0, 1).unsqueeze(0)
        return Inputs(raw, flow, self._plane(p.mask), self._plane(p.lost), self._plane(p.dream_mask))
