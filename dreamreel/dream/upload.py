"""Host numbers to the device without making the host wait for it."""
from __future__ import annotations

from typing import Sequence

import torch


def device_values(values: Sequence[float] | Sequence[int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``values`` as a 1-D tensor [len(values)] of ``dtype`` on ``device``.

    ``torch.tensor(values, device=cuda)`` copies from pageable memory, which blocks the host until
    the GPU has finished everything queued before it: once per ascent step, that was two waits a
    step and no overlap of the next batch's copies. Here the numbers go through pinned memory
    with a non-blocking copy, which the device orders before any kernel that reads them."""
    host = torch.tensor(list(values), dtype=dtype)
    if device.type == "cpu":
        return host
    if device.type == "cuda":
        host = host.pin_memory()
    return host.to(device, non_blocking=device.type == "cuda")
