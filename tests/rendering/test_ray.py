"""The Ray backend on a local Ray cluster: the same frames as a local render of the same plan,
and a lost node costs only its unfinished frames."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.media.images import read_image
from pipeline.rendering.jobs import Job, job_dir
from tests.conftest import make_clip

ray = pytest.importorskip("ray")

CONFIG = """\
input: {clip}
output: {out}
dream: {{steps: 2, octaves: 1, jitter: 4}}
video: {{steps_after_first: 1, preset: ultrafast}}
render: {{segments: 3, batch: 1, preroll: 2, crossover: 2, backend: {backend}, worker_cpus: 1}}
"""


def config(tmp_path: Path, clip: Path, name: str, backend: str) -> Path:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(CONFIG.format(clip=clip, out=tmp_path / name, backend=backend))
    return cfg


def frames(folder: Path) -> list[np.ndarray]:
    return [read_image(p).astype(np.float32) for p in sorted(folder.glob("*.png"))]


def test_ray_render_matches_the_local_render_of_the_same_plan(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    assert main([str(config(tmp_path, clip, "local", "local"))]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main([str(config(tmp_path, clip, "remote", "ray"))]) == 0
    finally:
        ray.shutdown()
    manifest = json.loads((tmp_path / "remote.manifest.json").read_text())
    assert manifest["backend"] == "ray" and manifest["workers"] == 2 and manifest["workers_lost"] == 0
    assert manifest["frames_dreamed"] == 36 + 2 * 4
    assert all(s["hosts"] and s["seconds"] > 0 for s in manifest["segments"])
    got, want = frames(tmp_path / "remote"), frames(tmp_path / "local")
    assert len(got) == len(want) == 36
    # Thread counts differ (workers hold one core each), so rounding may: under 1 % of 0-255.
    assert max(np.abs(g - w).mean() for g, w in zip(got, want)) < 2.55


def test_a_node_lost_mid_render_costs_only_its_unfinished_frames(tmp_path):
    from ray.cluster_utils import Cluster

    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out", "ray")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker_node = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    result: dict[str, int] = {}
    render = threading.Thread(target=lambda: result.update(code=main([str(cfg)])))
    try:
        render.start()
        job = Job(tmp_path / "out", {})
        deadline = time.monotonic() + 240
        while job.frames_done() < 6 and render.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert render.is_alive(), "the render ended before the node could be removed"
        cluster.remove_node(worker_node, allow_graceful=False)
        render.join(timeout=300)
        assert not render.is_alive() and result["code"] == 0
    finally:
        ray.shutdown()
        cluster.shutdown()
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["workers_lost"] == 1  # the loss happened mid-segment and was recovered
    # Every frame was checkpointed once: none finished before the loss was dreamed again.
    assert manifest["frames_dreamed"] == 36 + 2 * 4
    assert len(list((tmp_path / "out").glob("*.png"))) == 36
    assert not job_dir(tmp_path / "out").exists()


def test_ctrl_c_on_the_driver_stops_the_workers_and_the_rerun_resumes(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out", "ray")
    real = Job.record
    seen = {"n": 0}

    def record(self, index, png, state=""):
        if seen["n"] == 10:
            raise KeyboardInterrupt
        seen["n"] += 1
        real(self, index, png, state)

    monkeypatch.setattr(Job, "record", record)
    assert main([str(cfg)]) == 130
    assert not ray.is_initialized()  # the render started Ray, so it shut it down again
    assert Job(tmp_path / "out", {}).frames_done() == 10
    monkeypatch.setattr(Job, "record", real)
    assert main([str(cfg)]) == 0
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["frames_dreamed"] == 36 + 2 * 4 - 10


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path, clips, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    cfg = config(tmp_path, clips["plain"], "out", "ray")
    assert main([str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "render.backend: ray needs the ray package" in err[0] and "pip install" in err[0]
    assert not job_dir(tmp_path / "out").exists()
