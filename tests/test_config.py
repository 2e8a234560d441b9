"""Config loading: every mistake is one line naming the file, the line and the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from dreamreel.config import load_config
from dreamreel.errors import ConfigError

GOOD = """\
input: samples/astronaut.png
output: renders/x.png
dream:
  model: mobilenet_v2
  layers: {features.13: 1.0}
  steps: 3
"""


def cfg_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def error_of(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_a_good_config_loads_with_defaults(tmp_path):
    cfg = load_config(cfg_file(tmp_path, GOOD))
    assert cfg.mode == "still" and cfg.dream.steps.at(0) == 3 and cfg.dream.octaves.at(0) == 4


def test_misspelt_key_names_line_and_suggests(tmp_path):
    msg = error_of(cfg_file(tmp_path, GOOD.replace("  steps: 3", "  stpes: 3")))
    assert msg.startswith(f"{tmp_path / 'c.yaml'}:6: dream.stpes: unknown key")
    assert "did you mean 'steps'" in msg


def test_unknown_top_level_key(tmp_path):
    msg = error_of(cfg_file(tmp_path, GOOD + "colour: red\n"))
    assert ":7: colour: unknown key" in msg


def test_wrong_type(tmp_path):
    msg = error_of(cfg_file(tmp_path, GOOD + "  tile: big\n"))
    assert ":7: dream.tile: must be auto or a whole number of pixels from 64 to 8192" in msg
    msg = error_of(cfg_file(tmp_path, GOOD.replace("steps: 3", "steps: [1, 2]")))
    assert ":6: dream.steps:" in msg and "expected a number or a schedule" in msg
    # A word where a number goes is read as an expression, and named as such.
    msg = error_of(cfg_file(tmp_path, GOOD.replace("steps: 3", "steps: many")))
    assert ":6: dream.steps: unknown name 'many'" in msg


def test_out_of_range_values(tmp_path):
    assert ":6: dream.steps:" in error_of(cfg_file(tmp_path, GOOD.replace("steps: 3", "steps: -1")))
    msg = error_of(cfg_file(tmp_path, GOOD + "  octave_scale: 1.0\n"))
    assert "dream.octave_scale" in msg and "greater than 1" in msg


def test_unknown_model_lists_choices(tmp_path):
    msg = error_of(cfg_file(tmp_path, GOOD.replace("model: mobilenet_v2", "model: alexnet")))
    assert ":4: dream.model: unknown model 'alexnet'" in msg and "mobilenet_v2" in msg and "vgg16" in msg


def test_unknown_layer_suggests_close_names(tmp_path):
    msg = error_of(cfg_file(tmp_path, GOOD.replace("features.13", "feature.13")))
    assert ":5: dream.layers: unknown layer 'feature.13'" in msg and "features.13" in msg


def test_bad_channel_suffix(tmp_path):
    msg = error_of(cfg_file(tmp_path, GOOD.replace("features.13", "features.13:x")))
    assert "dream.layers" in msg and "whole number" in msg


def test_yaml_that_does_not_parse(tmp_path):
    msg = error_of(cfg_file(tmp_path, "output: [unclosed\nmode: still\n"))
    assert "YAML does not parse" in msg and "c.yaml:" in msg


def test_missing_output(tmp_path):
    assert "output: required key is missing" in error_of(cfg_file(tmp_path, "input: a.png\n"))


def test_output_extension_must_suit_the_mode(tmp_path):
    msg = error_of(cfg_file(tmp_path, GOOD.replace("x.png", "x.mp4")))
    assert ":2: output: a still render writes .png or .jpg" in msg


def test_missing_config_file(tmp_path):
    assert "config file not found" in error_of(tmp_path / "nope.yaml")


def test_overrides_are_validated_like_the_file(tmp_path):
    path = cfg_file(tmp_path, GOOD)
    cfg = load_config(path, ["dream.steps=5", "size.width=64", "dream.layers.features.6=0.5"])
    assert cfg.dream.steps.at(0) == 5 and cfg.size.width == 64 and cfg.dream.layers["features.6"].at(0) == 0.5
    msg = error_of(path, ("dream.steps=-2",))
    assert msg.startswith("override 'dream.steps=-2': dream.steps:")
    assert "did you mean 'steps'" in error_of(path, ("dream.step=2",))


def test_mode_auto_decides_from_input(tmp_path):
    assert load_config(cfg_file(tmp_path, "input: a.mp4\noutput: o.mp4\n")).mode == "video"
    assert load_config(cfg_file(tmp_path, "output: o.png\n")).mode == "still"
    assert "cannot tell" in error_of(cfg_file(tmp_path, "input: a.xyz\noutput: o.png\n"))


@pytest.mark.parametrize("key", ["mask", "guide"])
def test_an_atlas_refuses_a_mask_or_guide_it_would_ignore(tmp_path, key):
    path = cfg_file(tmp_path, f"mode: atlas\noutput: a.png\ndream:\n  {key}: nowhere.png\n")
    msg = error_of(path)
    assert f"dream.{key}" in msg and "atlas dreams each channel from noise" in msg and ":4:" in msg, msg


ZOOM_AUDIO = """\
mode: zoom
output: renders/z.mp4
audio: samples/beat.wav
zoom: {frames: 24}
"""


def test_audio_takes_a_file_or_a_section_and_an_override_keeps_the_file(tmp_path):
    short = load_config(cfg_file(tmp_path, ZOOM_AUDIO))
    assert short.audio.file == Path("samples/beat.wav") and short.audio.bpm is None and short.audio.meter == "auto"
    told = load_config(cfg_file(tmp_path, ZOOM_AUDIO), ("audio.bpm=128", "audio.meter=3"))
    assert told.audio.file == Path("samples/beat.wav") and told.audio.bpm == 128.0 and told.audio.meter == 3
    section = load_config(cfg_file(tmp_path, ZOOM_AUDIO.replace(
        "audio: samples/beat.wav", "audio: {file: samples/beat.wav, tempo_range: [80, 170], beats: madmom}")))
    assert section.audio.tempo_range == (80.0, 170.0) and section.audio.beats == "madmom"
    assert load_config(section).audio == section.audio  # a Config dumps and loads back the same


@pytest.mark.parametrize("audio, problem", [
    ("{file: samples/beat.wav, bpm: 1000}", "audio.bpm"),
    ("{file: samples/beat.wav, tempo_range: [150, 100]}", "audio.tempo_range: must be [slowest, fastest] bpm"),
    ("{file: samples/beat.wav, meter: 1}", "audio.meter: must be auto or a whole number of beats a bar from 2 to 12"),
    ("{file: samples/beat.wav, beats: aubio}", "audio.beats: must be one of 'dreamreel', 'dsp' or 'madmom'"),
    ("{file: samples/beat.wav, bpm_exact: true}", "audio.bpm_exact"),
    ("{file: samples/beat.wav, bmp: 120}", "audio.bmp: unknown key; did you mean 'bpm'?"),
])
def test_bad_audio_settings_are_one_line_naming_the_key(tmp_path, audio, problem):
    msg = error_of(cfg_file(tmp_path, ZOOM_AUDIO.replace("audio: samples/beat.wav", f"audio: {audio}")))
    assert problem in msg and msg.startswith(str(tmp_path / "c.yaml") + ":3:"), msg
