"""Schedules: every form, easing, expressions, and refusal of anything that reaches Python."""
from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import numpy as np

from dreamreel.easing import EASINGS, ease
from dreamreel.schedule import ScheduleError, compile_expr, parse_schedule


def test_number_is_constant():
    s = parse_schedule(1.5)
    assert s.constant and s.at(0) == 1.5 and s.at(1000) == 1.5


def test_deforum_string_interpolates_linearly_and_holds_the_ends():
    s = parse_schedule("0:(1.02), 120:(1.05), 239:(1.02)")
    assert s.at(0) == 1.02 and s.at(120) == 1.05 and s.at(239) == 1.02
    assert math.isclose(s.at(60), 1.035)
    assert s.at(-5) == 1.02 and s.at(500) == 1.02


def test_yaml_map_with_easings():
    lin = parse_schedule({0: 0.0, 10: 1.0})
    step = parse_schedule({0: 0.0, 10: 1.0, "ease": "step"})
    cos = parse_schedule({0: 0.0, 10: 1.0, "ease": "cosine"})
    assert lin.at(5) == 0.5 and step.at(5) == 0.0 and step.at(10) == 1.0
    assert cos.at(2) < lin.at(2) and math.isclose(cos.at(5), 0.5)
    assert parse_schedule("0:(0), 10:(1), ease=cosine").at(5) == pytest.approx(0.5)


def test_expressions_read_time_and_audio():
    s = parse_schedule("1.01 + 0.04*onset")
    assert s.at(3, {"onset": 1.0}) == pytest.approx(1.05) and s.names == {"onset"}
    wave = parse_schedule("0.5 + 0.5*sin(2*pi*t/T)")
    assert wave.at(0, {"T": 40}) == pytest.approx(0.5) and wave.at(10, {"T": 40}) == pytest.approx(1.0)
    assert parse_schedule("clamp(s*2, 0, 1)").at(0, {"s": 0.3}) == pytest.approx(0.6)
    assert parse_schedule("1 if t > 5 else 0").at(6) == 1.0
    keyed = parse_schedule({0: "t", 10: 20})  # keyframe values may be expressions too
    assert keyed.at(4) == pytest.approx(4 + (20 - 4) * 0.4)


def test_range_clamps_and_integers_round():
    s = parse_schedule("t", lo=0, hi=10, integer=True)
    assert s.at(3.6) == 4 and s.at(50) == 10
    with pytest.raises(ScheduleError, match="at least 0"):
        parse_schedule(-1, lo=0)
    with pytest.raises(ScheduleError, match="greater than 1"):
        parse_schedule("0:(1.0), 5:(2)", lo=1, lo_open=True)


@pytest.mark.parametrize("text,what", [
    ("__import__('os')", "unknown function '__import__'"),
    ("(1).real", "attribute access"),
    ("lambda: 1", "a lambda"),
    ("[1][0]", "indexing"),
    ("'a'", "only numbers"),
    ("open", "unknown name 'open'"),
    ("sin.__globals__", "attribute access"),
    ("max(*[1])", "* arguments"),
    ("[x for x in ()]", "a comprehension"),
])
def test_anything_that_reaches_python_is_refused(text, what):
    with pytest.raises(ScheduleError, match=re_escape(what)):
        compile_expr(text)


def re_escape(s: str) -> str:
    import re

    return re.escape(s)


def test_errors_give_the_column_in_the_whole_string():
    with pytest.raises(ScheduleError) as info:
        parse_schedule("0:(1.0), 10:(2 +)")
    assert info.value.column is not None and info.value.column >= 13
    with pytest.raises(ScheduleError, match="unclosed"):
        parse_schedule("0:(1.0), 10:(2")
    with pytest.raises(ScheduleError, match="given twice"):
        parse_schedule("0:(1), 0:(2)")
    with pytest.raises(ScheduleError, match="unknown easing"):
        parse_schedule({0: 1, "ease": "bounce"})


def test_huge_constant_is_an_error_at_parse_time():
    with pytest.raises(ScheduleError):
        parse_schedule("9**9**9")
    with pytest.raises(ScheduleError, match="division by zero"):
        parse_schedule("1/0")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_schedule_or_a_schedule_error(text):
    try:
        s = parse_schedule(text)
    except ScheduleError:
        return
    try:
        v = s.at(3, {"T": 10, "s": 0.1, "fps": 24, "rms": 0.5, "onset": 0.2, "beat": 1.0})
    except ScheduleError:
        return
    assert math.isfinite(v)


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["t", "T", "s", "onset", "pi", "1.5"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "%", "//"]), inner).map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
        st.tuples(st.sampled_from(["sin", "cos", "abs", "sqrt", "exp", "log"]), inner).map(lambda x: f"{x[0]}({x[1]})"),
    ),
    max_leaves=8,
))
def test_generated_expressions_evaluate_or_fail_cleanly(expr):
    try:
        s = parse_schedule(expr)
        v = s.at(2, {"T": 10, "s": 0.5, "onset": 0.3})
    except ScheduleError:
        return
    assert math.isfinite(v)


# --- over(): a whole timeline at once, equal to at() frame by frame ---------------------------

_EXPRESSIONS = st.recursive(
    st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["t", "T", "s", "onset", "beat", "pi", "1.5"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "%", "//", "<", ">="]), inner)
        .map(lambda x: f"({x[0]} {x[1]} {x[2]})"),
        st.tuples(st.sampled_from(["sin", "abs", "sqrt", "exp", "log", "floor", "round", "sign", "tanh"]), inner)
        .map(lambda x: f"{x[0]}({x[1]})"),
        st.tuples(st.sampled_from(["min", "max", "fmod", "atan2", "pow", "hypot"]), inner, inner)
        .map(lambda x: f"{x[0]}({x[1]}, {x[2]})"),
        st.tuples(inner, inner, inner).map(lambda x: f"({x[0]} if {x[1]} else {x[2]})"),
    ),
    max_leaves=8,
)


def _scalar(s, t, env):
    """at() frame by frame: (values, None) or (None, the first error's text)."""
    out = []
    for i, ti in enumerate(t):
        try:
            out.append(s.at(float(ti), {k: float(v[i]) for k, v in env.items()}))
        except ScheduleError as exc:
            return None, str(exc)
    return out, None


@settings(max_examples=300, deadline=None)
@given(_EXPRESSIONS, st.sampled_from(["", "linear", "step", "cosine"]))
@example("(-1 % tanh(t))", "")  # numpy's tanh(19) is an ulp from libm's, and % made it a jump of 1
def test_over_equals_at_frame_by_frame_values_and_errors(expr, ease):
    import numpy as np

    try:
        s = parse_schedule({0: 0.5, 7: expr, 15: f"2 * {expr}", **({"ease": ease} if ease else {})}, lo=-1e9, hi=1e9)
    except ScheduleError:
        return
    t = np.arange(-2, 24, dtype=float)
    rng = np.random.default_rng(0)
    env = {"T": np.full(t.size, 20.0), "s": t / 8, "onset": rng.random(t.size), "beat": rng.random(t.size)}
    want, err = _scalar(s, t, env)
    if err is not None:
        with pytest.raises(ScheduleError) as exc:
            s.over(t, env)
        assert str(exc.value) == err
    else:
        np.testing.assert_allclose(s.over(t, env), want, rtol=1e-9, atol=1e-9)


def test_a_fault_at_one_frame_of_a_million_is_found_and_named():
    import numpy as np

    s = parse_schedule("1 + 1/(t - 999983)")
    s.name("zoom.zoom")
    with pytest.raises(ScheduleError, match=r"zoom.zoom: division by zero .* at frame 999983"):
        s.over(np.arange(1_000_000, dtype=float))
    ok = parse_schedule("0:(1), 500000:(1 + sqrt(abs(t - 400000))), ease=cosine")
    v = ok.over(np.arange(1_000_000, dtype=float))
    assert v[999_999] == ok.at(999_999) and v[250_000] == ok.at(250_000)


def test_over_takes_the_transcendental_functions_from_math_so_a_jump_after_them_agrees():
    import numpy as np

    # tanh(19) is 0.9999999999999999 in libm and 1.0 in numpy's SIMD kernel; the % turns that ulp
    # into 0.9999999999999998 against 0.0. The timeline must show what the render computes.
    s = parse_schedule("-1 % tanh(t) + floor(10 * sin(t) ** 2) + (exp(t / 9) > 2)")
    t = np.arange(0.25, 40, 0.25)  # tanh(0) = 0 would be a modulo by zero
    assert s.over(t).tolist() == [s.at(float(x)) for x in t]


# Keys by time, beat and bar (issue 38): a motion artist keys by the music, not frame numbers.

def test_keys_in_seconds_land_on_the_frames_of_the_render_rate():
    s = parse_schedule({0: 1.0, "0:01": 2.0, "2.5s": 4.0, "f72": 5.0})
    with pytest.raises(RuntimeError):  # an unplaced key is a programming error, never a silent frame
        s.at(10)
    s.bind(24.0)
    assert [k for k, _ in s.keys] == [0.0, 24.0, 60.0, 72.0]
    assert s.at(12) == pytest.approx(1.5) and s.at(60) == 4.0
    s.bind(10.0)  # another render of the same config, at another rate, places them again
    assert [k for k, _ in s.keys] == [0.0, 10.0, 25.0, 72.0]


def test_keys_on_beats_and_bars_use_the_renders_own_beat_map():
    beats = np.array([0.5, 1.0, 1.5, 2.0, 2.5])
    s = parse_schedule("beat 2:(1.0), beat:4:(3.0), bar 2:(5.0), ease=step")
    assert s.reads_beats
    s.bind(24.0, beats, bars=np.array([0.5, 2.5]))
    assert [k for k, _ in s.keys] == [24.0, 48.0, 60.0]
    assert [s.at(t) for t in (0, 24, 47, 48, 59, 60)] == [1.0, 1.0, 1.0, 3.0, 3.0, 5.0]
    half = parse_schedule({"beat 1.5": 0.0, "beat 5": 1.0})
    half.bind(24.0, beats)
    assert half.keys[0][0] == pytest.approx(0.75 * 24)  # halfway between the first two beats


@pytest.mark.parametrize("raw, bind, problem", [
    ({"beat 9": 1.0, 0: 0.0}, (24.0, [0.5, 1.0]), "key 'beat 9' is past the track: the render has beats 1 to 2"),
    ({"bar 1": 1.0}, (24.0, [0.5, 1.0], []), "key 'bar 1': this render has no bars"),
    ({"1s": 1.0, 24: 2.0}, (24.0,), "keys 'frame 24' and '1s' both land on frame 24"),
])
def test_a_key_the_render_cannot_place_is_one_clear_error(raw, bind, problem):
    s = parse_schedule(raw)
    s.name("dream.step_size")
    with pytest.raises(ScheduleError, match=re_escape("dream.step_size: " + problem)):
        s.bind(*[np.asarray(b, float) if isinstance(b, list) else b for b in bind])


@pytest.mark.parametrize("raw, problem", [
    ({"beat 0": 1.0}, "beats count from 1"),
    ({"beat x": 1.0}, "is not a position"),
    ({"1:75": 1.0}, "seconds must be under 60"),
    ("0:(1), f0:(2)", "is given twice"),
    ({"f3": 1.0, 3: 2.0}, "is given twice"),
])
def test_bad_key_positions_are_refused_at_parse(raw, problem):
    with pytest.raises(ScheduleError, match=re_escape(problem)):
        parse_schedule(raw)


@pytest.mark.parametrize("name", EASINGS)
def test_every_easing_starts_at_one_key_and_ends_at_the_next(name):
    u = np.linspace(0, 1, 101)
    v = ease(name, u)
    assert v[0] == pytest.approx(0.0, abs=1e-12) and v[-1] == pytest.approx(1.0, abs=1e-12)
    s = parse_schedule(f"0:(2), 100:(4), ease={name}")
    np.testing.assert_allclose(s.over(np.arange(101.0)), [s.at(t) for t in range(101)], rtol=0, atol=1e-12)
    assert s.at(0) == 2.0 and s.at(100) == 4.0


def test_easings_have_the_shapes_their_names_promise():
    assert ease("easeInOutCubic", np.array([0.25]))[0] == pytest.approx(4 * 0.25 ** 3)
    assert ease("easeInQuad", np.array([0.5]))[0] == pytest.approx(0.25)
    assert ease("easeOutQuad", np.array([0.5]))[0] == pytest.approx(0.75)
    assert ease("cosine", np.array([0.3]))[0] == pytest.approx(ease("easeInOutSine", np.array([0.3]))[0])
    assert ease("easeOutBack", np.linspace(0, 1, 50)).max() > 1.05  # overshoots, then settles
    bounce = ease("easeOutBounce", np.linspace(0, 1, 400))
    assert bounce.max() <= 1 + 1e-12 and np.sum(np.diff(np.sign(np.diff(bounce))) < 0) == 3  # three bounces


def test_a_time_key_written_without_quotes_in_yaml_is_a_time(tmp_path):
    from dreamreel.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"mode: zoom\noutput: {tmp_path / 'z.mp4'}\nzoom:\n  frames: 100\n  fps: 10\n"
                   "  zoom: {0: 1.01, 0:05: 1.05, 1:00: 1.02}\n")
    zoom = load_config(cfg).zoom.zoom
    zoom.bind(10.0)
    assert [k for k, _ in zoom.keys] == [0.0, 50.0, 600.0]  # YAML 1.1 made 1:00 the number 60: frame 60
