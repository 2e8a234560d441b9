"""Scene-cut detection between consecutive source frames."""
from __future__ import annotations

import cv2
import numpy as np


def cut_score(a: np.ndarray, b: np.ndarray) -> float:
    """How unlike two RGB uint8 frames are, in [0,1]: the Bhattacharyya distance of their colour
    histograms (8x8x8 bins). Motion within a shot barely moves it; a cut sends it above ~0.4."""
    def hist(rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(rgb, (160, max(1, round(160 * rgb.shape[0] / rgb.shape[1]))), interpolation=cv2.INTER_AREA)
        h = cv2.calcHist([small], [0, 1, 2], None, [8, 8, 8], [0, 256, 0, 256, 0, 256])
        return cv2.normalize(h, h).flatten()

    return float(cv2.compareHist(hist(a), hist(b), cv2.HISTCMP_BHATTACHARYYA))
