"""The `dreamreel` command end to end, at tiny sizes with the real default weights."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.media.images import read_image
from tests.conftest import SAMPLES
from tests.warm import render as run

STILL = """\
input: {inp}
output: {out}
size: {{width: 96}}
dream: {{steps: 2, octaves: 2, jitter: 4}}
"""


def still_config(tmp_path: Path, out: str = "out/dream.png") -> Path:
    p = tmp_path / "still.yaml"
    p.write_text(STILL.format(inp=SAMPLES / "astronaut.png", out=tmp_path / out))
    return p


def test_still_render_writes_a_dreamed_png_and_a_manifest(tmp_path):
    cfg = still_config(tmp_path)
    proc = run(str(cfg))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out/dream.png"
    img = read_image(out)
    assert img.shape == (96, 96, 3)
    src = read_image(SAMPLES / "astronaut.png")
    import cv2

    ref = cv2.resize(src, (96, 96), interpolation=cv2.INTER_AREA)
    assert np.abs(img.astype(int) - ref.astype(int)).mean() > 3  # dreamed, not copied
    manifest = json.loads((tmp_path / "out/dream.png.manifest.json").read_text())
    assert manifest["config"]["dream"]["steps"] == 2 and manifest["model"] == "mobilenet_v2"
    assert manifest["weights"].endswith("mobilenet_v2-b0353104.pth") and manifest["seconds"] > 0
    assert "torch" in manifest["versions"]
    cpu = manifest["machine"]["cpu"]  # how the CPU was used, for comparing renders across machines
    assert cpu["isa"] in {"DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NEON", "SVE256"} and cpu["threads"] >= 1
    assert cpu["retain_memory"] is (sys.platform == "linux")
    assert not list((tmp_path / "out").glob(".*"))  # no temp or lock files left


def test_same_config_gives_identical_output(tmp_path):
    cfg = still_config(tmp_path)
    assert main(["render", str(cfg)]) == 0
    first = (tmp_path / "out/dream.png").read_bytes()
    assert main(["render", str(cfg), "--force"]) == 0
    assert (tmp_path / "out/dream.png").read_bytes() == first


def test_existing_output_needs_force(tmp_path, capsys):
    cfg = still_config(tmp_path)
    out = tmp_path / "out/dream.png"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"keep me")
    assert main(["render", str(cfg)]) == 2
    assert "output exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    cfg = still_config(tmp_path)
    assert main(["render", str(cfg), "--dry-run", "dream.steps=7"]) == 0
    text = capsys.readouterr().out
    assert "steps: 7" in text and "frame size: 96x96" in text and "octaves:" in text
    assert not (tmp_path / "out").exists()


def test_config_error_is_one_line_with_exit_code_2(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("output: o.png\ndream:\n  stepz: 3\n")
    proc = run(str(cfg))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"dreamreel: error: {cfg}:3: dream.stepz: unknown key; did you mean 'steps'?"]


def test_missing_input_image_is_a_media_error(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {tmp_path / 'none.png'}\noutput: {tmp_path / 'o.png'}\n")
    assert main(["render", str(cfg)]) == 3
    assert "none.png: input file not found" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_list_layers_prints_names_and_shapes(capsys):
    assert main(["render", "--list-layers", "mobilenet_v2"]) == 0
    out = capsys.readouterr().out
    assert "features.13" in out and "[96, 14, 14]" in out
    assert main(["render", "--list-layers", "nonet"]) == 2


def test_atlas_is_a_labelled_grid(tmp_path):
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text(f"mode: atlas\noutput: {tmp_path / 'a.png'}\n"
                   "atlas: {layer: features.6, channels: 3, columns: 2, cell: 48}\n"
                   "dream: {octaves: 1, steps: 3, grad_norm: laplacian, jitter: 2}\n")
    assert main(["render", str(cfg)]) == 0
    grid = read_image(tmp_path / "a.png")
    # 2 columns x 2 rows of (48 + caption) cells with 2 px gaps.
    assert grid.shape == (2 * (48 + 22) + 3 * 2, 2 * 48 + 3 * 2, 3)
    cells = [grid[2:50, 2:50], grid[2:50, 52:100], grid[74:122, 2:50]]
    assert all(c.std() > 10 for c in cells)  # dreamed structure, not flat noise
    assert not np.array_equal(cells[0], cells[1])


def test_atlas_past_the_last_channel_is_a_config_error(tmp_path, capsys):
    cfg = tmp_path / "atlas.yaml"
    cfg.write_text(f"mode: atlas\noutput: {tmp_path / 'a.png'}\natlas: {{layer: features.6, channels: 40}}\n")
    assert main(["render", str(cfg)]) == 2
    assert "has 32 channels" in capsys.readouterr().err


def test_preview_with_segment_is_refused_not_ignored(tmp_path, capsys):
    cfg = still_config(tmp_path)
    assert main(["render", str(cfg), "--segment", "0", "--preview", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamreel: error: --preview and --segment") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_dry_run_shows_the_plan_and_fails_on_missing_weights(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'o.png'}\n")
    assert main(["render", str(cfg), "--dry-run"]) == 0
    assert main(["render", str(cfg), "--dry-run", f"dream.weights={tmp_path / 'none.pth'}"]) == 2
    out, err = capsys.readouterr()
    assert "weights: MISSING" in out and err.strip().splitlines()[-1].startswith("dreamreel: error: dream.weights: ")


def test_the_command_is_dreamreel_and_nothing_else_is_installed():
    """Installing dreamreel adds one command and one package, both named dreamreel (issue 38:
    `render` and `pipeline` collided with every other project's)."""
    from importlib import metadata

    dist = metadata.distribution("dreamreel")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"dreamreel": "dreamreel.cli:main"}
    import importlib.util

    assert importlib.util.find_spec("pipeline") is None and importlib.util.find_spec("dreamreel") is not None


def test_subcommands_are_the_render_flags_under_their_own_names(tmp_path, capsys, monkeypatch):
    """`timeline`, `preview`, `self-test` and `layers` reach exactly what `render`'s flags reach."""
    import dreamreel.cli as cli

    seen = []
    monkeypatch.setattr(cli, "_render", lambda args: seen.append(args) or 0)
    cfg = str(still_config(tmp_path))
    assert main(["timeline", cfg, "size.width=64", "--force"]) == 0
    assert main(["preview", cfg, "--at", "0:01, beat 4"]) == 0
    assert main(["preview", cfg, "--every", "5"]) == 0
    assert main(["self-test", "cpu"]) == 0 and main(["layers", "mobilenet_v2"]) == 0
    t, at, every, st, layers = seen
    assert t.timeline and t.force and t.overrides == ["size.width=64"] and str(t.config) == cfg
    assert at.preview_at == "0:01, beat 4" and every.preview == 5 and st.self_test == "cpu"
    assert layers.list_layers == "mobilenet_v2"
    with pytest.raises(SystemExit):  # argparse: --at or --every is required
        main(["preview", cfg])
    assert "one of the arguments --at --every is required" in capsys.readouterr().err


def test_a_config_without_a_command_points_at_render(tmp_path, capsys):
    cfg = still_config(tmp_path)
    assert main([str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"dreamreel: error: unknown command {str(cfg)!r}; valid choices: render, timeline, preview, "
                   f"self-test, layers; did you mean `dreamreel render {cfg}`?")
    assert main([]) == 2 and "commands:" in capsys.readouterr().err


def test_python_dash_m_dreamreel_is_the_command():
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "dreamreel", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "dreamreel 0.1.0"
