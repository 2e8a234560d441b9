"""Hypothesis over hostile configs, run as ``python -m tests.hostile_configs`` inside a child with
memory and time limits (see ``test_hostile_configs_stay_within_bounds``): nesting, aliases, long
strings, odd numbers, wrong arities and deep expressions must each give a Config or one short
ConfigError line, each example within the per-example deadline."""
from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dreamreel.config import load_config
from dreamreel.errors import ConfigError
from dreamreel.schedule import FUNCTIONS

SCHEDULE_KEYS = ["dream.step_size", "dream.octaves", "dream.jitter", "zoom.zoom", "zoom.rotate", "video.blend"]


def nested(n: int, kind: str) -> str:
    return "[" * n + "1" + "]" * n if kind == "flow" else "".join(f"{'  ' * i}a:\n" for i in range(n)) + "  " * n + "b: 1"


def laughs(width: int, levels: int) -> str:
    names = [f"l{i}" for i in range(levels + 1)]
    text = f"{names[0]}: &{names[0]} [{', '.join(['x'] * width)}]\n"
    for prev, cur in zip(names, names[1:]):
        text += f"{cur}: &{cur} [{', '.join(['*' + prev] * width)}]\n"
    return text


def call(name: str, args: int) -> str:
    return f"{name}({', '.join(['t'] * args)})"


expressions = st.one_of(
    st.builds(lambda op, n: "0.01" + op * n, st.sampled_from(["+0", "*1", "-0"]), st.integers(0, 1200)),
    st.builds(lambda op, n: op * n + "0.01", st.sampled_from(["-", "+", "--"]), st.integers(0, 1200)),
    st.builds(lambda n: "(" * n + "0.01" + ")" * n, st.integers(0, 400)),
    st.builds(call, st.sampled_from(sorted(FUNCTIONS)), st.integers(0, 5)),
    st.builds(lambda n: "0:(0.01)," + " " * n + "x", st.integers(0, 300_000)),
    st.builds(lambda n: ", ".join(f"{i}:(0.01)" for i in range(n)), st.integers(1, 4000)),
    st.sampled_from(["log(t)", "1/(t-2)", "sqrt(t-5)", "exp(1e6)", "t**1e6", "round(1.5, 400)", "0.01 % 0",
                     "0:(0.01), 10:(0.02), ease=cosine", "0:(1), ease=" + "x" * 5000]),
)
numbers = st.sampled_from([".nan", ".inf", "-.inf", "1e999", "true", "false", "0x10", "1_000", "-0", "null", "''",
                           "99999999999999999999999", "[1, 2]", "{a: 1}"])

documents = st.one_of(
    st.builds(lambda n, kind: f"output: o.png\nx:\n{nested(n, kind)}\n" if kind != "flow"
              else f"output: o.png\nx: {nested(n, kind)}\n", st.integers(1, 120), st.sampled_from(["flow", "block"])),
    st.builds(lambda w, lv: laughs(w, lv) + "output: o.png\n", st.integers(1, 12), st.integers(1, 9)),
    st.sampled_from(["a: &a [*a]\noutput: o.png\n", "a: &a {b: *a}\noutput: o.png\n",
                     "output: o.png\noutput: p.png\n", "output: o.png\ndream: {steps: 2, steps: 3}\n"]),
    st.builds(lambda key, e: (f"output: o.mp4\nmode: zoom\n{key.split('.')[0]}:\n  {key.split('.')[1]}: "
                              f"\"{e}\"\n"), st.sampled_from(SCHEDULE_KEYS), expressions),
    st.builds(lambda key, v: f"output: o.mp4\nmode: zoom\n{key.split('.')[0]}:\n  {key.split('.')[1]}: {v}\n",
              st.sampled_from(SCHEDULE_KEYS + ["zoom.frames", "zoom.fps", "size.width", "dream.seed", "render.batch"]),
              numbers),
    st.builds(lambda n: "output: " + "n" * n + ".png\n", st.integers(200, 400)),
)


@settings(max_examples=300, deadline=timedelta(seconds=3), derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(documents)
def check(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "hostile.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            cfg = load_config(path)
        except ConfigError as exc:
            line = str(exc)
            assert line and "\n" not in line and len(line) < 400, line[:500]
            return
        # A config that loads must evaluate everywhere it is used, or fail as a config error.
        for sched in cfg.schedules().values():
            try:
                sched.at(0)
                sched.at(7, {"T": 10.0})
            except ConfigError as exc:
                assert "\n" not in str(exc) and len(str(exc)) < 400


if __name__ == "__main__":
    # Import torch and build the model registry once, so the deadline measures the config alone.
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "warm.yaml").write_text("output: o.png\n")
        load_config(Path(d) / "warm.yaml")
    check()
    print("hostile configs: all within bounds", file=sys.stderr)
