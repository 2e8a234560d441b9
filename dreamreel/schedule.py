"""Keyframed schedules and the safe expression evaluator behind them.

A schedule is a number, an expression (``"1.01 + 0.04*onset"``), a Deforum-style keyframe
string (``"0:(1.02), 120:(1.05)"``) or a YAML map (``{0: 1.02, 120: "1 + 0.1*sin(t/10)"}``),
interpolated between keys with an easing curve (``easing.py``: linear, step, cosine and
easings.net's names, ``easeInOutCubic`` ...). A key sits at a frame (``120``, ``f120``), a time
(``"0:12.5"``, ``"12.5s"``), a beat or a bar (``"beat 32"``, ``"bar 9"``, the render's own: 1 is
its first); times, beats and bars become frames when the render binds the schedule to its frame
rate and beat map (``Schedule.bind``). Expressions are parsed with
Python's ``ast`` and walked against a whitelist: numbers, + - * / // % **, unary signs,
comparisons, ``a if c else b``, the variables below and the functions below. Nothing is ever
handed to eval, exec or numexpr.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from dreamreel import schedule_vector
from dreamreel.easing import EASINGS, ease as ease_curve
from dreamreel.errors import ConfigError
from dreamreel.markers import parse_clock

AUDIO_VARIABLES = frozenset({"rms", "onset", "bass", "mid", "high", "beat", "bar", "beat_number", "beat_in_bar",
                             "bar_number"})
VARIABLES = ("t", "T", "s", "fps", "rms", "onset", "bass", "mid", "high", "beat", "bar", "beat_number", "beat_in_bar",
             "bar_number",
             "pi", "e", "tau")
MAX_LENGTH = 2000  # characters of one expression
MAX_SCHEDULE_LENGTH = 20_000  # characters of a whole keyframe string
MAX_DEPTH = 64  # nesting of an expression's syntax tree: (((x))), -----x, a+b+c+...


def _clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


FUNCTIONS: dict[str, Callable[..., float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "exp": math.exp, "log": math.log, "log2": math.log2, "log10": math.log10, "sqrt": math.sqrt,
    "abs": abs, "min": min, "max": max, "clamp": _clamp, "pow": math.pow, "floor": math.floor,
    "ceil": math.ceil, "round": round, "sign": lambda x: math.copysign(1.0, x) if x else 0.0,
    "fmod": math.fmod, "hypot": math.hypot, "lerp": lambda a, b, u: a + (b - a) * u,
    "smoothstep": lambda a, b, x: (lambda u: u * u * (3 - 2 * u))(_clamp((x - a) / (b - a), 0.0, 1.0)),
}
# Arguments each function takes, (fewest, most); checked when the expression is parsed.
ARITY: dict[str, tuple[int, int]] = {
    **{name: (1, 1) for name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp",
                                 "log2", "log10", "sqrt", "abs", "floor", "ceil", "sign")},
    "log": (1, 2), "round": (1, 2), "atan2": (2, 2), "pow": (2, 2), "fmod": (2, 2), "hypot": (2, 2),
    "min": (2, 64), "max": (2, 64), "clamp": (3, 3), "lerp": (3, 3), "smoothstep": (3, 3),
}
# Python's round wants a whole number of digits; ours are floats, and 400 digits mean nothing.
FUNCTIONS["round"] = lambda x, n=0.0: round(x, int(_clamp(n, -15, 15)))
assert set(ARITY) == set(FUNCTIONS)
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: math.pow(a, b),
}
_CMPOPS = {
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
}


class ScheduleError(ConfigError):
    """A schedule that cannot be parsed or evaluated; ``column`` is 1-based within its text.
    A ConfigError (so also a ValueError): the CLI reports it in one line with exit code 2."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(f"{message} at column {column}" if column else message)
        self.column = column


@dataclass(frozen=True)
class Expr:
    """A compiled, whitelisted expression; ``names`` are the variables it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def __call__(self, env: Mapping[str, float]) -> float:
        try:
            value = _eval(self.tree, env)
        except ZeroDivisionError:
            raise ScheduleError(f"division by zero in {_brief(self.text)}") from None
        except (OverflowError, ValueError, TypeError) as exc:
            raise ScheduleError(f"{exc} in {_brief(self.text)}") from None
        if isinstance(value, bool):
            value = float(value)
        if not math.isfinite(value):
            raise ScheduleError(f"{_brief(self.text)} is not a finite number")
        return float(value)


@dataclass(frozen=True)
class Mark:
    """A key's position named in seconds (``unit`` "s"), beats or bars ("beat", "bar"; 1 is the
    render's first, 8.5 halfway from the 8th to the 9th); ``text`` is how the user wrote it."""

    unit: str
    value: float
    text: str


def _brief(text: str, limit: int = 60) -> str:
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")


def compile_expr(text: str, offset: int = 0) -> Expr:
    """Parse and check ``text``; ScheduleError with the 1-based column (plus ``offset``) of a fault."""
    if len(text) > MAX_LENGTH:
        raise ScheduleError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip() or "?", mode="eval").body
    except SyntaxError as exc:
        col = (exc.offset or 1) + offset + (len(text) - len(text.lstrip()))
        raise ScheduleError(f"invalid expression ({exc.msg})", col) from None
    except (RecursionError, MemoryError):
        raise ScheduleError(f"expression nests deeper than {MAX_DEPTH} levels") from None
    _check_depth(tree)
    names: set[str] = set()
    lead = len(text) - len(text.lstrip())
    _check(tree, names, offset + lead)
    expr = Expr(text.strip(), tree, frozenset(names))
    if not names - set(_CONSTANTS):
        expr({})  # a constant expression that cannot be computed is an error now, not mid-render
    return expr


def _check_depth(tree: ast.AST) -> None:
    # Iterative, so the depth is known before the recursive checker and evaluator run.
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ScheduleError(f"expression nests deeper than {MAX_DEPTH} levels; split it or simplify it")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check(node: ast.AST, names: set[str], offset: int) -> None:
    col = getattr(node, "col_offset", 0) + 1 + offset
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ScheduleError(f"only numbers are allowed, not {type(node.value).__name__}", col)
    elif isinstance(node, ast.Name):
        if node.id not in VARIABLES:
            raise ScheduleError(f"unknown name {node.id!r} (known: {', '.join(VARIABLES)})", col)
        names.add(node.id)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, names, offset)
        _check(node.right, names, offset)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        _check(node.operand, names, offset)
    elif isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
        for sub in [node.left, *node.comparators]:
            _check(sub, names, offset)
    elif isinstance(node, ast.IfExp):
        for sub in (node.test, node.body, node.orelse):
            _check(sub, names, offset)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            _check(node.func, names, offset)  # says what is not allowed (attribute, lambda, ...)
            raise ScheduleError("only the listed functions can be called", col)
        if node.func.id not in FUNCTIONS:
            raise ScheduleError(f"unknown function {node.func.id!r} (known: {', '.join(sorted(FUNCTIONS))})", col)
        if node.keywords:
            raise ScheduleError("functions take positional arguments only", col)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise ScheduleError("* arguments are not allowed", col)
        fewest, most = ARITY[node.func.id]
        if not fewest <= len(node.args) <= most:
            want = str(fewest) if fewest == most else (f"{fewest} or more" if most > 3 else f"{fewest} or {most}")
            raise ScheduleError(f"{node.func.id}() takes {want} argument{'s' if most > 1 else ''}, "
                                f"got {len(node.args)}", col)
        for arg in node.args:
            _check(arg, names, offset)
    else:
        kind = type(node).__name__
        hint = {"Attribute": "attribute access", "Lambda": "a lambda", "Subscript": "indexing",
                "ListComp": "a comprehension", "Starred": "* unpacking", "Name": "that name"}.get(kind, f"'{kind}'")
        raise ScheduleError(f"{hint} is not allowed in an expression", col)


def _eval(node: ast.AST, env: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        return float(env.get(node.id, 0.0))
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env)
            if not _CMPOPS[type(op)](left, right):
                return 0.0
            left = right
        return 1.0
    if isinstance(node, ast.IfExp):
        return _eval(node.body, env) if _eval(node.test, env) else _eval(node.orelse, env)
    if isinstance(node, ast.Call):
        return float(FUNCTIONS[node.func.id](*[_eval(a, env) for a in node.args]))
    raise ScheduleError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check


@dataclass(frozen=True)
class Schedule:
    """A value over frames. ``at(t, env)`` gives the value at frame t, clamped to [lo, hi] and
    rounded when ``integer``. ``source`` is what the user wrote (for manifests and dumps)."""

    source: Any
    keys: tuple[tuple[float, Expr | float], ...]
    ease: str = "linear"
    lo: float = -math.inf
    hi: float = math.inf
    integer: bool = False
    names: frozenset[str] = field(default_factory=frozenset)
    key: str = field(default="schedule", compare=False)
    # Keys placed by time, beat or bar, as written; ``keys`` holds them as frames once bound.
    marks: tuple[tuple[Mark, Expr | float], ...] = ()
    frame_keys: tuple[tuple[float, Expr | float], ...] = ()  # the keys given as frames
    bound: tuple[float, tuple[float, ...], tuple[float, ...]] | None = field(default=None, compare=False)

    @property
    def constant(self) -> bool:
        given = (*self.frame_keys, *self.marks)
        return len(given) == 1 and not isinstance(given[0][1], Expr)

    @property
    def reads_beats(self) -> bool:
        """True when a key sits on a beat or a bar, so the render must find them."""
        return any(m.unit in ("beat", "bar") for m, _ in self.marks)

    def bind(self, fps: float, beats: np.ndarray | None = None, bars: np.ndarray | None = None) -> None:
        """Place the keys named by time, beat or bar on frames: ``fps`` frames a second, ``beats``
        and ``bars`` the render's own beat and downbeat times (seconds of the output, ascending;
        beat 1 is the first). Done by the render once its rate and beat map are known; binding
        again (another render of the same config) replaces the last. ScheduleError for a beat or
        bar the render does not have, or two keys on one frame."""
        if not self.marks:
            return
        beats = np.zeros(0) if beats is None else np.asarray(beats, float)
        bars = np.zeros(0) if bars is None else np.asarray(bars, float)
        state = (float(fps), tuple(beats.tolist()), tuple(bars.tolist()))
        if self.bound == state:
            return
        placed = list(self.frame_keys)
        where: dict[float, str] = {k: f"frame {k:g}" for k, _ in placed}
        for mark, value in self.marks:
            frame = _frame_of_mark(mark, fps, beats, bars, self.key)
            if frame in where:
                raise ScheduleError(f"{self.key}: keys {where[frame]!r} and {mark.text!r} both land on frame {frame:g}")
            where[frame] = mark.text
            placed.append((frame, value))
        object.__setattr__(self, "keys", tuple(sorted(placed, key=lambda kv: kv[0])))
        object.__setattr__(self, "bound", state)

    def name(self, key: str) -> None:
        """Record the dotted config key this schedule belongs to, for its error messages."""
        object.__setattr__(self, "key", key)

    def at(self, t: float = 0.0, env: Mapping[str, float] | None = None) -> float:
        """The value at frame ``t``; ``env`` gives T, s, fps and the audio envelopes.

        An expression that cannot be computed there (log(0), 1/0, NaN) is a ConfigError naming
        the key and the frame."""
        try:
            return self._at(t, env)
        except ScheduleError as exc:
            raise ScheduleError(f"{self.key}: {exc} at frame {t:g}") from None

    def _check_bound(self) -> None:
        if self.marks and self.bound is None:
            raise RuntimeError(f"{self.key}: keys by time, beat or bar are not placed yet (Schedule.bind)")

    def _at(self, t: float, env: Mapping[str, float] | None) -> float:
        self._check_bound()
        env = {**(env or {}), "t": float(t)}
        keys = self.keys
        if t <= keys[0][0] or len(keys) == 1:
            value = _value(keys[0][1], env)
        elif t >= keys[-1][0]:
            value = _value(keys[-1][1], env)
        else:
            i = next(k for k in range(1, len(keys)) if keys[k][0] >= t)
            (t0, v0), (t1, v1) = keys[i - 1], keys[i]
            u = float(ease_curve(self.ease, np.float64((t - t0) / (t1 - t0))))
            a = _value(v0, env)
            value = a if u == 0.0 else a + (_value(v1, env) - a) * u
        value = _clamp(value, self.lo, self.hi)
        return float(round(value)) if self.integer else value


    def over(self, t: np.ndarray, env: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The values at frames ``t`` (float array [n]) at once; ``env`` maps T, s, fps and the
        envelopes to arrays [n] (or scalars). Equal to ``at`` frame by frame, thousands of times
        faster; a frame where ``at`` would fail raises the same ScheduleError (the first such
        frame, in order of ``t``)."""

        self._check_bound()
        t = np.asarray(t, float)
        n = t.size
        env = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in (env or {}).items()}
        env["t"] = t
        kt = np.array([k for k, _ in self.keys])
        suspect = np.zeros(n, bool)
        # Which key(s) each frame reads, as _at picks them: a (and b where u != 0).
        if len(kt) == 1:
            ia, ib, u = np.zeros(n, int), np.zeros(n, int), np.zeros(n)
        else:
            i = np.clip(np.searchsorted(kt, t, side="left"), 1, len(kt) - 1)
            t0, t1 = kt[i - 1], kt[i]
            with np.errstate(all="ignore"):
                u = ease_curve(self.ease, np.clip((t - t0) / (t1 - t0), 0.0, 1.0))
            first, last = t <= kt[0], (t >= kt[-1]) & ~(t <= kt[0])
            ia = np.where(first, 0, np.where(last, len(kt) - 1, i - 1))
            ib = np.where(first | last, ia, i)
            u = np.where(first | last, 0.0, u)
        consts = np.array([0.0 if isinstance(v, Expr) else v for _, v in self.keys])
        va, vb = consts[ia], consts[ib]
        exprs = [j for j, (_, v) in enumerate(self.keys) if isinstance(v, Expr)]
        for which, out, use in ((ia, va, np.ones(n, bool)), (ib, vb, u != 0)):
            if not exprs:
                break
            # Frames grouped by the key they read: one pass over the frames, whatever the keys.
            lanes = np.flatnonzero(use & np.isin(which, exprs))
            order = lanes[np.argsort(which[lanes], kind="stable")]
            groups = np.split(order, np.flatnonzero(np.diff(which[order])) + 1) if order.size else []
            for group in groups:
                expr = self.keys[int(which[group[0]])][1]
                got, bad = schedule_vector.evaluate(expr.tree, {k: a[group] for k, a in env.items()}, group.size)
                out[group] = got
                suspect[group] |= bad
        with np.errstate(all="ignore"):
            values = np.where(u == 0, va, va + (vb - va) * u)
        suspect |= ~np.isfinite(values)
        values = np.clip(values, self.lo, self.hi)
        values = np.round(values) if self.integer else values
        for f in np.flatnonzero(suspect):
            # The scalar evaluator decides and words the error; a lane it passes was a false alarm
            # (inf - inf in numpy, where Python never made the inf), and its value is the scalar's.
            values[f] = self.at(float(t[f]), {k: float(a[f]) for k, a in env.items() if k != "t"})
        return values


def _value(v: Expr | float, env: Mapping[str, float]) -> float:
    return v(env) if isinstance(v, Expr) else v


# Anchored with match() at one position at a time: linear, no backtracking across the text. A
# position is a beat or bar, a clock time (two or three parts), seconds, an f-frame or a frame.
_KEYFRAME = re.compile(r"[ \t]*((?:beat|bar)[ \t:]?[ \t]*\d{1,9}(?:\.\d{1,9})?|\d{1,9}(?::\d{1,2}){1,2}(?:\.\d{1,9})?"
                       r"|\d{1,9}(?:\.\d{1,9})?s|f\d{1,9}|-?\d{1,9}(?:\.\d{1,9})?)[ \t]*:[ \t]*\(", re.IGNORECASE)
_MARK = re.compile(r"(beat|bar)[ \t:]?[ \t]*(\d{1,9}(?:\.\d{1,9})?)", re.IGNORECASE)
_SECONDS_KEY = re.compile(r"(\d{1,9}(?:\.\d{1,9})?)s", re.IGNORECASE)
_FRAME_KEY = re.compile(r"f(\d{1,9})", re.IGNORECASE)
POSITIONS = "a frame (120, f120), a time (\"0:12.5\", \"12.5s\"), a beat (\"beat 32\") or a bar (\"bar 9\")"


def key_position(text: str) -> float | Mark:
    """A key's position from how it is written: a frame number (float), or a Mark for a time,
    beat or bar. ScheduleError when it is none of them."""
    s = text.strip()
    m = _MARK.fullmatch(s)
    if m:
        value = float(m.group(2))
        if value < 1:
            raise ScheduleError(f"keyframe {_brief(s)}: {m.group(1).lower()}s count from 1 (the render's first)")
        return Mark(m.group(1).lower(), value, s)
    m = _SECONDS_KEY.fullmatch(s)
    if m:
        return Mark("s", float(m.group(1)), s)
    m = _FRAME_KEY.fullmatch(s)
    if m:
        return float(m.group(1))
    if ":" in s:
        try:
            return Mark("s", parse_clock(s), s)
        except ValueError as exc:
            raise ScheduleError(f"keyframe {exc}") from None
    try:
        frame = float(s)
    except ValueError:
        raise ScheduleError(f"keyframe {_brief(s)} is not a position: {POSITIONS}") from None
    if not math.isfinite(frame):
        raise ScheduleError(f"keyframe position {_brief(s)} is not a frame number")
    return frame


def _frame_of_mark(mark: Mark, fps: float, beats: np.ndarray, bars: np.ndarray, key: str) -> float:
    """The frame (fractional) where ``mark`` lands; beats and bars between two are interpolated."""
    if mark.unit == "s":
        return mark.value * fps
    events = beats if mark.unit == "beat" else bars
    if len(events) == 0:
        raise ScheduleError(f"{key}: key {mark.text!r}: this render has no {mark.unit}s (no audio, or no steady beat)")
    if mark.value > len(events):
        raise ScheduleError(f"{key}: key {mark.text!r} is past the track: the render has {mark.unit}s 1 to {len(events)}")
    seconds = float(np.interp(mark.value - 1, np.arange(len(events)), events))
    return seconds * fps


def parse_schedule(raw: Any, lo: float = -math.inf, hi: float = math.inf, integer: bool = False,
                   lo_open: bool = False) -> Schedule:
    """Parse any schedule form; ScheduleError naming the position of a fault.

    Constant parts are range-checked here (``lo`` <= v <= ``hi``, or ``lo`` < v when lo_open);
    expression values are clamped when evaluated.
    """
    if isinstance(raw, Schedule):
        return raw
    if isinstance(raw, bool) or raw is None:
        raise ScheduleError(f"expected a number or a schedule, got {raw!r}")
    if isinstance(raw, (int, float)):
        keys: list[tuple[float, Expr | float]] = [(0.0, float(raw))]
        ease = "linear"
    elif isinstance(raw, str):
        if len(raw) > MAX_SCHEDULE_LENGTH:  # before any parsing, so no pattern ever sees a huge text
            raise ScheduleError(f"schedule is {len(raw)} characters long; at most {MAX_SCHEDULE_LENGTH}")
        keys, ease = _parse_string(raw)
    elif isinstance(raw, dict):
        keys, ease = _parse_map(raw)
    else:
        raise ScheduleError(f"expected a number or a schedule, got {type(raw).__name__}")
    for _, v in keys:
        if not isinstance(v, Expr):
            _range_check(v, lo, hi, lo_open)
    names = frozenset().union(*[v.names for _, v in keys if isinstance(v, Expr)])
    frames = tuple(sorted(((k, v) for k, v in keys if not isinstance(k, Mark)), key=lambda kv: kv[0]))
    marks = tuple((k, v) for k, v in keys if isinstance(k, Mark))
    return Schedule(raw, frames, ease, lo, hi, integer, names, marks=marks, frame_keys=frames)


def _range_check(v: float, lo: float, hi: float, lo_open: bool) -> None:
    if not math.isfinite(v):
        raise ScheduleError(f"{v} is not a finite number")
    if (v <= lo if lo_open else v < lo):
        raise ScheduleError(f"{v:g} must be {'greater than' if lo_open else 'at least'} {lo:g}")
    if v > hi:
        raise ScheduleError(f"{v:g} must be at most {hi:g}")


def _number_or_expr(text: str, offset: int) -> Expr | float:
    try:
        return float(text)
    except ValueError:
        return compile_expr(text, offset)


def _split_ease(text: str) -> tuple[str, str]:
    """``"0:(1), 9:(2), ease=cosine"`` -> (``"0:(1), 9:(2)"``, "cosine"), by plain string
    operations on the last comma-separated part."""
    head, _, last = text.rpartition(",")
    word, eq, value = last.partition("=")
    if not eq or word.strip() != "ease":
        return text, "linear"
    ease = value.strip()
    if ease not in EASINGS:
        raise ScheduleError(f"unknown easing {_brief(ease)} (choices: {', '.join(EASINGS)})",
                            len(head) + len(word) + 3)
    return head, ease


def _parse_string(raw: str) -> tuple[list, str]:
    text, ease = raw, "linear"
    if _KEYFRAME.match(text):
        text, ease = _split_ease(text)
    if not _KEYFRAME.match(text):
        return [(0.0, _number_or_expr(text, 0))], ease
    keys = []
    pos = 0
    seen = set()
    while pos < len(text):
        km = _KEYFRAME.match(text, pos)
        if km is None:
            raise ScheduleError("expected 'frame:(value)'", pos + 1 + (len(text[pos:]) - len(text[pos:].lstrip())))
        try:
            frame = key_position(km.group(1))
        except ScheduleError as exc:
            raise ScheduleError(str(exc), km.start(1) + 1) from None
        if frame in seen:
            raise ScheduleError(f"key {km.group(1).strip()!r} is given twice", km.start(1) + 1)
        seen.add(frame)
        start = km.end()
        depth, i = 1, start
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        if depth:
            raise ScheduleError("unclosed '('", km.end())
        keys.append((frame, _number_or_expr(text[start : i - 1], start)))
        j = i
        while j < len(text) and text[j].isspace():
            j += 1
        if j == len(text):
            break
        if text[j] != ",":
            raise ScheduleError("expected ',' between keyframes", j + 1)
        pos = j + 1
    return keys, ease


def _parse_map(raw: dict) -> tuple[list, str]:
    ease = raw.get("ease", "linear")
    if ease not in EASINGS:
        raise ScheduleError(f"unknown easing {ease!r} (choices: {', '.join(EASINGS)})")
    keys = []
    for k, v in raw.items():
        if k == "ease":
            continue
        if isinstance(k, bool) or not isinstance(k, (int, float, str)):
            raise ScheduleError(f"keyframe {_brief(str(k))} is not a position: {POSITIONS}")
        frame = key_position(str(k)) if isinstance(k, str) else float(k)
        if not math.isfinite(frame if isinstance(frame, float) else 0.0):
            raise ScheduleError(f"keyframe position {k!r} is not a frame number")
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ScheduleError(f"keyframe {k}: expected a number or an expression, got {_brief(str(v))}")
        if frame in {pos for pos, _ in keys}:
            raise ScheduleError(f"keyframe {_brief(str(k))} is given twice")
        keys.append((frame, float(v) if isinstance(v, (int, float)) else _number_or_expr(v, 0)))
    if not keys:
        raise ScheduleError("a keyframe map needs at least one frame")
    return keys, ease
