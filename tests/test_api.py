"""The Python API: the same renders, validation and errors as the CLI, and a network kept loaded."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import dreamreel
from dreamreel.config import SizeConfig
from dreamreel.media.images import read_image
from dreamreel.media.probe import probe
from dreamreel.modes.still import fit_image
from tests.conftest import ROOT, SAMPLES, make_clip

TINY = {"steps": 1, "octaves": 1, "jitter": 2}


def test_the_surface_is_listed_and_importing_is_cheap():
    assert {"render", "Dreamer", "dream_image", "load_config", "ConfigError", "MediaError"} <= set(dreamreel.__all__)
    code = "import sys, dreamreel; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.strip() == "False"


def test_render_a_still_from_a_dict_returns_the_manifest(tmp_path):
    out = tmp_path / "o.png"
    manifest = dreamreel.render({"input": str(SAMPLES / "astronaut.png"), "output": str(out)},
                               size={"width": 48}, dream=TINY)
    assert manifest["mode"] == "still" and manifest["output"] == str(out)
    assert read_image(out).shape == (48, 48, 3)
    assert manifest["config"]["dream"]["steps"] == 1 and manifest["config"]["dream"]["octaves"] == 1


def test_render_a_short_clip_from_a_yaml_path_with_settings_and_overrides(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", seconds=0.5)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'o.mp4'}\ndream: {{steps: 4, octaves: 1}}\n")
    manifest = dreamreel.render(cfg, overrides=["video.preset=ultrafast"], dream={"steps": 1},
                               video={"steps_after_first": 1})
    assert manifest["frames"] == 6 and manifest["config"]["dream"]["steps"] == 1
    assert manifest["config"]["dream"]["octaves"] == 1  # merged, not replaced
    info = probe(tmp_path / "o.mp4")
    assert info.frames == 6 and info.has_audio


def test_errors_are_the_typed_errors_with_the_cli_message(tmp_path):
    with pytest.raises(dreamreel.ConfigError, match=r"render\(dream=.*\): dream.steps: -1 must be at least 0"):
        dreamreel.render({"output": str(tmp_path / "o.png")}, dream={"steps": -1})
    with pytest.raises(dreamreel.MediaError, match="nope.png: input file not found"):
        dreamreel.render({"input": str(tmp_path / "nope.png"), "output": str(tmp_path / "o.png")})
    (tmp_path / "o.png").write_bytes(b"precious")
    with pytest.raises(dreamreel.OutputExistsError, match="pass --force"):
        dreamreel.render({"input": str(SAMPLES / "astronaut.png"), "output": str(tmp_path / "o.png")})
    assert isinstance(dreamreel.ConfigError("x"), ValueError)


def test_dream_image_keeps_the_network_loaded_and_honours_masks(monkeypatch):
    from dreamreel.modes import setup

    loads = []
    real = setup.load_net
    monkeypatch.setattr(setup, "load_net", lambda *a, **k: (loads.append(1), real(*a, **k))[1])
    img = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=64))
    dreamer = dreamreel.Dreamer(**TINY)
    a = dreamer.dream_image(img)
    b = dreamer.dream_image(img, steps=2)
    assert len(loads) == 1  # one network for both calls
    assert a.shape == img.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - img).mean() > 1 and not np.array_equal(a, b)
    assert np.array_equal(a, dreamer.dream_image(img))  # same settings and frame: same picture
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[:, 32:] = 255
    c = dreamer.dream_image(img, mask=mask, mask_feather=0)
    assert np.abs(c[:, :30].astype(int) - img[:, :30]).max() == 0 and np.abs(c[:, 34:].astype(int) - img[:, 34:]).mean() > 1
    with pytest.raises(dreamreel.ConfigError, match="dream_image: dream.layers: unknown layer"):
        dreamer.dream_image(img, layers={"features.99": 1})
    with pytest.raises(dreamreel.ConfigError, match="H x W x 3 uint8"):
        dreamer.dream_image(img.astype(np.float32))


def test_module_level_dream_image_reuses_one_dreamer():
    img = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=48))
    out = dreamreel.dream_image(img, **TINY)
    assert out.shape == img.shape
    from dreamreel import api

    first = api._DEFAULT
    dreamreel.dream_image(img, **TINY)
    assert api._DEFAULT is first


def test_bad_arguments_are_typed_errors_naming_the_argument(tmp_path):
    img = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=32))
    dreamer = dreamreel.Dreamer(**TINY)
    cfg = {"input": str(SAMPLES / "astronaut.png"), "output": str(tmp_path / "o.png")}
    cases = [
        (lambda: dreamreel.render(cfg, preview=0), "preview"),
        (lambda: dreamreel.render(cfg, overrides=[3]), "overrides"),
        (lambda: dreamreel.render(cfg, overrides="dream.steps=1"), "overrides"),
        (lambda: dreamer.dream_image(img, mask=np.zeros((0, 0), np.uint8)), "mask must be H x W"),
        (lambda: dreamer.dream_image(img, frame="abc"), "frame must be a whole number"),
        (lambda: dreamer.dream_image(img, frame=-1), "frame must be a whole number"),
        (lambda: dreamer.dream_image(img, mask=np.full(img.shape[:2], 1000, np.int64)), "holds values from"),
        (lambda: dreamer.dream_image(np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (12000, 12000, 3))),
         "megapixel limit"),
    ]
    for call, needle in cases:
        with pytest.raises(dreamreel.DreamreelError, match=needle):
            call()
    assert not (tmp_path / "o.png").exists()


def test_masks_of_every_integer_type_and_the_settings_mask_and_invert(tmp_path):
    img = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=64))
    dreamer = dreamreel.Dreamer(**TINY, mask_feather=0)
    left = np.zeros(img.shape[:2], bool)
    left[:, :32] = True  # dream the left half only
    want = dreamer.dream_image(img, mask=left.astype(np.uint8) * 255)
    assert np.array_equal(want[:, 34:], img[:, 34:]) and np.abs(want[:, :30].astype(int) - img[:, :30]).mean() > 1
    for m in (left, left.astype(np.uint16) * 65535, left.astype(np.int64) * 255, left.astype(np.float32)):
        assert np.array_equal(dreamer.dream_image(img, mask=m), want), m.dtype  # uint16 and int64 were all white
    # mask_invert turns an array mask round; a mask file in the settings is used when no array is given.
    assert np.array_equal(dreamer.dream_image(img, mask=~left, mask_invert=True), want)
    path = tmp_path / "m.png"
    from dreamreel.media.images import write_image

    write_image(path, (left[..., None].repeat(3, 2) * 255).astype(np.uint8))
    assert np.array_equal(dreamreel.Dreamer(**TINY, mask_feather=0, mask=str(path)).dream_image(img), want)


def test_threads_loading_different_layers_while_others_dream():
    """Several threads, each with its own layer (a network traced per layer), half sharing one
    Dreamer and half with their own: the tracer is not thread-safe, and two traces at once used
    to raise NameError and leave the process unable to dream. Each thread's picture equals the
    one dreamed alone."""
    import threading

    img = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=48))
    layers = ["features.4", "features.7", "features.11", "features.14"]
    shared = dreamreel.Dreamer(**TINY)
    got: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(layers))

    def work(layer: str) -> None:
        try:
            dreamer = shared if layer in layers[::2] else dreamreel.Dreamer(**TINY)
            start.wait()
            for _ in range(2):
                got[layer] = dreamer.dream_image(img, layers={layer: 1.0})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(layer,)) for layer in layers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    alone = dreamreel.Dreamer(**TINY)
    for layer in layers:
        assert np.array_equal(got[layer], alone.dream_image(img, layers={layer: 1.0})), layer


def test_the_seed_is_a_schedule_and_keys_by_time_are_refused_for_a_picture():
    img = fit_image(read_image(SAMPLES / "astronaut.png"), SizeConfig(width=48))
    keyed = dreamreel.Dreamer(**TINY, seed="0:(1), 5:(2), ease=step")
    one, two = dreamreel.Dreamer(**TINY, seed=1), dreamreel.Dreamer(**TINY, seed=2)
    assert np.array_equal(keyed.dream_image(img, frame=3), one.dream_image(img, frame=3))
    assert np.array_equal(keyed.dream_image(img, frame=6), two.dream_image(img, frame=6))
    assert not np.array_equal(one.dream_image(img, frame=6), two.dream_image(img, frame=6))
    with pytest.raises(dreamreel.ConfigError, match="dream_image: dream.steps: key '0:02': a picture is keyed by frame"):
        dreamreel.Dreamer(**TINY | {"steps": {0: 1, "0:02": 2}})
