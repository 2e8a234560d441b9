"""Fuzzing the config loader: any document gives a Config or a one-line ConfigError, never a crash."""
from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dreamreel.config import load_config
from dreamreel.errors import ConfigError

KEYS = ["input", "output", "mode", "size", "width", "height", "dream", "model", "layers", "steps", "octaves",
        "octave_scale", "step_size", "jitter", "seed", "tile", "video", "carry", "blend", "zoom", "frames",
        "fps", "loop", "audio", "atlas", "channels", "features.13", "features.13:5", "stepz", "", "0"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["1.02", "0:(1), 10:(2)", "t*2", "auto", "o.png",
                                                           "o.mp4", "mobilenet_v2", "sin(", "__import__('os')"]))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)), max_leaves=20)


def load(tmp: Path, text: str) -> None:
    p = tmp / "fuzz.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        load_config(p)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_structured_documents(tmp_path, doc):
    load(tmp_path, yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text(tmp_path, text):
    load(tmp_path, text)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["dream.steps", "dream.layers.features.6", "size.width", "zoom.zoom",
                                           "video.carry", "mode", "dream", "x.y.z", "dream.model"]),
                          st.sampled_from(["3", "-1", "abc", "[1,2]", "{a: 1}", "", "0:(1)", "null", "1e999"])),
                max_size=4))
def test_overrides(tmp_path, pairs):
    p = tmp_path / "base.yaml"
    p.write_text("output: o.png\n")
    try:
        load_config(p, [f"{k}={v}" for k, v in pairs])
    except ConfigError as exc:
        assert "\n" not in str(exc)
