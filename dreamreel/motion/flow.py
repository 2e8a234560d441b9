"""Dense optical flow between two frames with OpenCV (DIS or Farneback)."""
from __future__ import annotations

import cv2
import numpy as np

FLOW_METHODS = ("dis_fast", "dis_medium", "dis_fine", "farneback")
FLOW_CHOICES = ("auto", *FLOW_METHODS)
# DIS needs frames larger than its patches at every pyramid level; below this side, flow is
# computed on an upscaled copy and scaled back (a tiny render still flows instead of failing).
MIN_FLOW_SIDE = 32
# DIS estimates its finest flow at 1/2**finest_scale of the frame. The MEDIUM preset's half
# size left a 320-px frame's flow 160 px wide: too coarse for a dream's detail to follow over a
# surface with little texture of its own (a tilt over a blank wall: E_warp 0.00040 at half
# size, 0.00030 at full, bench_coherence). Below this long side the flow is estimated at full size.
FULL_SIZE_FLOW_SIDE = 640


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 [H,W,3] -> gray uint8 [H,W], the input flow estimators take."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """Dense flow ``flow(a, b)``: for each pixel x of frame a, where it is in frame b, as
    [H,W,2] float32 (dx, dy) in pixels, so that a(x) ~ b(x + flow(x)).

    One estimator per thread: OpenCV's DIS object keeps per-call buffers.
    """

    def __init__(self, method: str = "dis_medium") -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {method!r}; valid choices: {', '.join(FLOW_METHODS)}")
        self.method = method
        self._dis = None
        self._preset_scale = 0
        if method.startswith("dis"):
            preset = cv2.DISOPTICAL_FLOW_PRESET_FAST if method == "dis_fast" else cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
            dis = cv2.DISOpticalFlow_create(preset)
            if method == "dis_fine":
                # Finer patches and more refinement than MEDIUM: slower, steadier on small detail.
                dis.setPatchSize(8)
                dis.setPatchStride(3)
                dis.setFinestScale(0)
                dis.setGradientDescentIterations(25)
                dis.setVariationalRefinementIterations(10)
            self._dis = dis
            self._preset_scale = dis.getFinestScale()

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from gray uint8 frame ``a`` [H,W] to ``b`` [H,W]; returns [H,W,2] float32 pixels."""
        h, w = a.shape[:2]
        if min(h, w) < MIN_FLOW_SIDE:
            k = -(-MIN_FLOW_SIDE // min(h, w))
            up = [cv2.resize(x, (w * k, h * k), interpolation=cv2.INTER_CUBIC) for x in (a, b)]
            big = self._flow(*up)
            return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA) / k
        return self._flow(a, b)

    def grain(self, side: int) -> int:
        """Frame pixels per flow pixel at the finest level, for a frame of long side ``side``."""
        return 2 ** finest_scale(self._preset_scale, side) if self._dis is not None else 1

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self._dis is not None:
            self._dis.setFinestScale(finest_scale(self._preset_scale, max(a.shape[:2])))
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 21, 5, 7, 1.5, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)


def flow_method(choice: str, side: int) -> str:
    """The flow method for ``choice`` on frames whose long side is ``side`` pixels. ``auto``:
    ``dis_fine`` below FULL_SIZE_FLOW_SIDE, where the suite chose it (it kept the dream on a blank
    wall within E_warp's bound at 320 px, where full-size ``dis_medium`` did not), and
    ``dis_medium`` at half size above, where ``dis_fine``'s full-size flow (88 ms a pair at
    640x360 on one core, against 16) would cost more than the dream itself."""
    if choice != "auto":
        return choice
    return "dis_fine" if side < FULL_SIZE_FLOW_SIDE else "dis_medium"


def finest_scale(preset: int, side: int) -> int:
    """DIS's finest pyramid level for a frame whose long side is ``side`` pixels: the preset's,
    but full size (0) below FULL_SIZE_FLOW_SIDE, so a small frame's flow is not halved again."""
    return 0 if side < FULL_SIZE_FLOW_SIDE else preset
