"""Easing curves between two keyframes: the names motion tools use (easings.net's, which Parseq,
After Effects presets and CSS animation libraries share), as plain numpy functions.

Each curve maps u in [0, 1] (how far between two keys, in time) to how far in value: 0 at u = 0
and 1 at u = 1. ``back`` and ``elastic`` overshoot on purpose (below 0 or above 1 in between).
Pure: arrays in, arrays out."""
from __future__ import annotations

from typing import Callable

import numpy as np

Curve = Callable[[np.ndarray], np.ndarray]

_C1 = 1.70158  # easings.net's back overshoot (10 %)
_C2 = _C1 * 1.525
_C3 = _C1 + 1


def _bounce_out(u: np.ndarray) -> np.ndarray:
    n, d = 7.5625, 2.75
    return np.select(
        [u < 1 / d, u < 2 / d, u < 2.5 / d],
        [n * u * u, n * (u - 1.5 / d) ** 2 + 0.75, n * (u - 2.25 / d) ** 2 + 0.9375],
        n * (u - 2.625 / d) ** 2 + 0.984375,
    )


def _elastic_in(u: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        v = -(2.0 ** (10 * u - 10)) * np.sin((u * 10 - 10.75) * (2 * np.pi / 3))
    return np.where(u <= 0, 0.0, np.where(u >= 1, 1.0, v))


def _expo_in(u: np.ndarray) -> np.ndarray:
    return np.where(u <= 0, 0.0, 2.0 ** (10 * u - 10))


# The "in" curve of each family; "out" and "in-out" are made from it, as easings.net defines them.
_IN: dict[str, Curve] = {
    "Sine": lambda u: 1 - np.cos(u * np.pi / 2),
    "Quad": lambda u: u ** 2,
    "Cubic": lambda u: u ** 3,
    "Quart": lambda u: u ** 4,
    "Quint": lambda u: u ** 5,
    "Expo": _expo_in,
    "Circ": lambda u: 1 - np.sqrt(np.clip(1 - u * u, 0.0, 1.0)),
    "Back": lambda u: _C3 * u ** 3 - _C1 * u ** 2,
    "Elastic": _elastic_in,
    "Bounce": lambda u: 1 - _bounce_out(1 - u),
}


def _out(f: Curve) -> Curve:
    return lambda u: 1 - f(1 - u)


def _in_out(f: Curve) -> Curve:
    return lambda u: np.where(u < 0.5, f(2 * u) / 2, 1 - f(2 - 2 * u) / 2)


CURVES: dict[str, Curve] = {
    "linear": lambda u: u,
    "step": lambda u: np.where(u < 1, 0.0, 1.0),  # hold each key's value until the next key
    "cosine": lambda u: (1 - np.cos(np.pi * u)) / 2,  # dreamreel's older name of easeInOutSine
    # CSS's words, for people who think in them: a cubic, the usual "natural" choice.
    "ease-in": _IN["Cubic"], "ease-out": _out(_IN["Cubic"]), "ease-in-out": _in_out(_IN["Cubic"]),
}
for _name, _f in _IN.items():
    CURVES[f"easeIn{_name}"] = _f
    CURVES[f"easeOut{_name}"] = _out(_f)
    CURVES[f"easeInOut{_name}"] = _in_out(_f)
CURVES["easeOutBounce"] = _bounce_out  # exactly, not 1 - (1 - bounce(1 - (1 - u)))

EASINGS = tuple(CURVES)


def ease(name: str, u: np.ndarray) -> np.ndarray:
    """``name``'s curve at ``u`` (float array, each in [0, 1]): the share of the way from one key's
    value to the next's, float64 like ``u``. KeyError for an unknown name (checked at parse)."""
    return np.asarray(CURVES[name](np.asarray(u, np.float64)), np.float64)
