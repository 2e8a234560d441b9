"""Schedules evaluated over many frames at once with numpy.

The scalar evaluator in ``schedule.py`` is the reference: it is what a render calls frame by
frame and what words an error. This module computes the same values, to the bit, for an array
of frames (a timeline of 18,000 frames in milliseconds, a zoom of a million in under a second),
together with a mask of the
frames where the scalar evaluator could fail. The mask is generous on purpose: any lane where an
intermediate value is not finite or a divisor is zero is marked, because every way ``math`` and
Python floats fail (ZeroDivisionError, a domain ValueError, OverflowError) shows there as a zero
divisor, a NaN or an infinity. ``Schedule.over`` confirms each marked frame with the scalar
evaluator, so the mask never invents an error and never misses one.
"""
from __future__ import annotations

import ast
import math
from typing import Callable, Mapping

import numpy as np

Array = np.ndarray

_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _clamp(x: Array, lo: Array, hi: Array) -> Array:
    return np.maximum(lo, np.minimum(hi, x))


def _smoothstep(a: Array, b: Array, x: Array) -> Array:
    u = _clamp((x - a) / (b - a), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _round(x: Array, n: Array | float = 0.0) -> Array:
    n = np.broadcast_to(np.clip(np.nan_to_num(np.asarray(n, float)), -15, 15).astype(int), np.shape(x))
    if np.all(n == n.flat[0] if n.size else True):
        return np.round(x, int(n.flat[0]) if n.size else 0)
    return np.array([round(float(v), int(d)) if math.isfinite(v) else v for v, d in zip(x, n)])


def _libm(f: Callable[..., float], nin: int) -> Callable[..., Array]:
    """``f`` from Python's math applied lane by lane: the scalar evaluator's own function, so the
    two agree to the bit. numpy's SIMD kernels may differ by an ulp (tanh(19): numpy 1.0, libm
    0.9999999999999999), and a %, a floor or a comparison after it turns that ulp into a jump
    (``-1 % tanh(t)``: 0.0 against 1.0). NaN where math raises, which marks the lane for the scalar.
    About 0.15 s a million lanes against numpy's few ms: a timeline's 18,000 frames do not notice."""
    plain = np.frompyfunc(f, nin, 1)

    def safe(*xs: float) -> float:
        try:
            return f(*xs)
        except (ValueError, OverflowError):
            return math.nan

    careful = np.frompyfunc(safe, nin, 1)

    def call(*args: Array) -> Array:
        try:
            out = plain(*args)
        except (ValueError, OverflowError):
            out = careful(*args)
        return np.asarray(out, float)

    return call


_LOG, _LOG_BASE = _libm(math.log, 1), _libm(math.log, 2)


def _log(x: Array, base: Array | None = None) -> Array:
    return _LOG(x) if base is None else _LOG_BASE(x, base)


def _minmax(reduce: Callable) -> Callable:
    def f(*args: Array) -> Array:
        return reduce(np.broadcast_arrays(*args), axis=0)
    return f


# numpy twins of schedule.FUNCTIONS. Domain faults give NaN or inf here, where math raises.
# Functions IEEE arithmetic rounds exactly (sqrt, floor, fmod ...) are numpy's; the
# transcendental ones are math's own, lane by lane (see _libm).
FUNCTIONS: dict[str, Callable[..., Array]] = {
    **{name: _libm(getattr(math, name), 1) for name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh",
                                                         "cosh", "tanh", "exp", "log2", "log10")},
    "atan2": _libm(math.atan2, 2), "log": _log, "sqrt": np.sqrt,
    "abs": np.abs, "min": _minmax(np.min), "max": _minmax(np.max), "clamp": _clamp,
    "pow": _libm(math.pow, 2), "floor": np.floor, "ceil": np.ceil, "round": _round, "sign": np.sign,
    "fmod": np.fmod, "hypot": np.hypot, "lerp": lambda a, b, u: a + (b - a) * u,
    "smoothstep": _smoothstep,
}

_BINOPS = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: FUNCTIONS["pow"],  # the scalar's ** is math.pow
}
_CMPOPS = {
    ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
    ast.Eq: np.equal, ast.NotEq: np.not_equal,
}
_DIVIDES = (ast.Div, ast.FloorDiv, ast.Mod)


def evaluate(tree: ast.expr, env: Mapping[str, Array], n: int) -> tuple[Array, Array]:
    """(values float64 [n], suspect bool [n]) of a checked expression tree over ``n`` lanes;
    ``env`` maps each variable to an array [n] (a missing one reads 0, as in the scalar)."""
    bad = np.zeros(n, bool)
    with np.errstate(all="ignore"):
        value = _eval(tree, env, n, bad)
    value = np.broadcast_to(np.asarray(value, float), (n,)).astype(float)
    return value, bad | ~np.isfinite(value)


def _eval(node: ast.AST, env: Mapping[str, Array], n: int, bad: Array) -> Array:
    # ``bad`` is marked in place: every intermediate that is not finite marks its lanes.
    if isinstance(node, ast.Constant):
        return np.full(n, float(node.value))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return np.full(n, _CONSTANTS[node.id])
        v = env.get(node.id)
        return np.zeros(n) if v is None else np.asarray(v, float)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, env, n, bad), _eval(node.right, env, n, bad)
        if isinstance(node.op, _DIVIDES):
            bad |= b == 0
        return _mark(_BINOPS[type(node.op)](a, b), bad)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env, n, bad)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, n, bad)
        out = np.ones(n, bool)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env, n, bad)
            out &= _CMPOPS[type(op)](left, right)
            left = right
        return out.astype(float)
    if isinstance(node, ast.IfExp):
        test = _eval(node.test, env, n, bad) != 0
        # Each branch marks only the lanes that take it, as the scalar evaluates only one.
        bad_body, bad_else = np.zeros(n, bool), np.zeros(n, bool)
        body = _eval(node.body, env, n, bad_body)
        orelse = _eval(node.orelse, env, n, bad_else)
        bad |= np.where(test, bad_body, bad_else)
        return np.where(test, body, orelse)
    if isinstance(node, ast.Call):
        args = [_eval(a, env, n, bad) for a in node.args]
        if node.func.id == "fmod":
            bad |= args[1] == 0
        return _mark(np.asarray(FUNCTIONS[node.func.id](*args), float), bad)
    raise TypeError(f"cannot evaluate {type(node).__name__}")  # unreachable after schedule._check


def _mark(v: Array, bad: Array) -> Array:
    bad |= ~np.isfinite(v)
    return v
