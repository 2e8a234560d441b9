"""The Ray backend on a local Ray cluster: the same frames as a local render of the same plan,
and a lost node costs only its unfinished frames."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.media.images import read_image
from dreamreel.jobs.folder import Job, job_dir
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
    assert main(["render", str(config(tmp_path, clip, "local", "local"))]) == 0
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["render", str(config(tmp_path, clip, "remote", "ray"))]) == 0
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


def test_a_ray_render_at_cadence_3_dreams_the_local_renders_frames(tmp_path):
    """video.cadence on Ray workers: each segment keeps the one grid of output frame numbers, so the
    frames, and which of them were dreamed, are those of the local render of the same plan."""
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, size="96x64", rate="12", audio=False)
    made = {}
    for name, backend in (("local", "local"), ("remote", "ray")):
        cfg = config(tmp_path, clip, name, backend)
        cfg.write_text(cfg.read_text().replace("preset: ultrafast}", "preset: ultrafast, cadence: 3}"))
        if backend == "ray":
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            assert main(["render", str(cfg)]) == 0
        finally:
            if backend == "ray":
                ray.shutdown()
        made[name] = json.loads((tmp_path / f"{name}.report.json").read_text())["report"]["frames"]["dreamed"]
    assert made["remote"] == made["local"] and len(made["local"]) == 24 and 8 <= sum(made["local"]) < 24
    got, want = frames(tmp_path / "remote"), frames(tmp_path / "local")
    assert len(got) == len(want) == 24
    assert max(np.abs(g - w).mean() for g, w in zip(got, want)) < 2.55


def test_a_node_lost_mid_render_costs_only_its_unfinished_frames(tmp_path):
    from ray.cluster_utils import Cluster

    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out", "ray")
    # Frames slow enough (a few tenths of a second) that a segment takes seconds: the node is
    # removed while its worker is provably inside segment 1, not after it handed everything back.
    # Every frame dreamed (cadence 1): at the default 4 a segment took a second and could end first.
    cfg.write_text(cfg.read_text().replace("steps: 2, octaves: 1", "steps: 12, octaves: 1")
                   .replace("steps_after_first: 1", "steps_after_first: 12, cadence: 1"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker_node = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    result: dict[str, int] = {}
    render = threading.Thread(target=lambda: result.update(code=main(["render", str(cfg)])))
    try:
        render.start()
        job = Job(tmp_path / "out", {})
        # Which worker Ray placed on which node is its choice, so wait until both workers are
        # inside a segment (its first own frame in, its last not): whichever runs on the node
        # that goes is then lost mid-segment.
        spans = [(0, 11), (12, 23), (24, 35)]

        def in_flight() -> int:
            done = job.checksums() if job.root.is_dir() else {}
            return sum(f"{a:06d}.png" in done and f"{b:06d}.png" not in done for a, b in spans)

        deadline = time.monotonic() + 240
        while render.is_alive() and time.monotonic() < deadline and in_flight() < 2:
            time.sleep(0.02)
        assert render.is_alive() and in_flight() == 2, "no moment with both workers inside a segment"
        cluster.remove_node(worker_node, allow_graceful=False)
        render.join(timeout=300)
        assert not render.is_alive() and result["code"] == 0
    finally:
        ray.shutdown()
        cluster.shutdown()
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["workers_lost"] == 1, json.dumps({k: manifest[k] for k in ("segments", "frames_dreamed", "workers")})  # the loss happened mid-segment and was recovered
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
    assert main(["render", str(cfg)]) == 130
    assert not ray.is_initialized()  # the render started Ray, so it shut it down again
    assert Job(tmp_path / "out", {}).frames_done() == 10
    monkeypatch.setattr(Job, "record", real)
    assert main(["render", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["frames_dreamed"] == 36 + 2 * 4 - 10


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path, clips, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    cfg = config(tmp_path, clips["plain"], "out", "ray")
    assert main(["render", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "render.backend: ray needs the ray package" in err[0] and "pip install" in err[0]
    assert not job_dir(tmp_path / "out").exists()


def test_a_worker_wider_than_any_node_is_refused_in_one_line(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out", "ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["render", str(cfg), "render.worker_cpus=16"]) == 2  # used to wait for a 16-core node for ever
    finally:
        ray.shutdown()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "render.worker_cpus: 16 cores a worker, but the largest Ray node has 2" in err
    assert not job_dir(tmp_path / "out").exists()


def test_a_ray_that_fails_to_start_is_one_line_and_leaves_no_job_folder(tmp_path, monkeypatch, capsys):
    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out", "ray")

    def init(*args, **kwargs):
        raise Exception("Failed to start the GCS server")  # what Ray raises when its head cannot start

    monkeypatch.setattr(ray, "init", init)
    assert main(["render", str(cfg)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dreamreel: error: render.address: cannot start a local Ray: Failed to start the GCS server"]
    assert not job_dir(tmp_path / "out").exists()


def test_sigterm_to_a_ray_driver_exits_143_and_the_rerun_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out", "ray")
    # Slow frames: the render is still running when the signal comes.
    cfg.write_text(cfg.read_text().replace("steps: 2, octaves: 1", "steps: 12, octaves: 1")
                   .replace("steps_after_first: 1", "steps_after_first: 12"))
    job = Job(tmp_path / "out", {})
    # No progress lines (a loaded machine may print one before the signal): only the stop's own.
    child = subprocess.Popen([sys.executable, "-m", "dreamreel", "render", str(cfg)], cwd=tmp_path, stderr=subprocess.PIPE,
                             text=True, stdin=subprocess.DEVNULL, env={**os.environ, "DREAMREEL_PROGRESS_EVERY": "0"})
    try:
        deadline = time.monotonic() + 180
        while child.poll() is None and time.monotonic() < deadline:
            if job.root.is_dir() and job.frames_done() >= 4:
                break
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read()[-2000:]
        os.kill(child.pid, signal.SIGTERM)  # what a scheduler sends
        err = child.communicate(timeout=60)[1]
    finally:
        if child.poll() is None:
            child.kill()
    # Ray's native handler used to dump a stack and abort with 134.
    assert child.returncode == 143, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("dreamreel:")]
    assert lines == ["dreamreel: interrupted; what was rendered is kept, run the same command again to resume"]
    assert "SIGTERM received" not in err and "Traceback" not in err
    kept = job.frames_done()
    assert kept >= 4
    assert main(["render", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["frames_dreamed"] == 36 + 2 * 4 - kept


def test_inputs_are_shipped_in_pieces_and_only_to_workers_that_cannot_see_them(tmp_path):
    from dreamreel.farm.ray_backend import SegmentWorker, ship, unship

    class Store:  # the object store's put/get, counting the largest piece the driver held
        def __init__(self):
            self.objects, self.largest = [], 0

        def put(self, data):
            self.largest = max(self.largest, len(data))
            self.objects.append(data)
            return len(self.objects) - 1

        def get(self, ref):
            return self.objects[ref]

    src = tmp_path / "big.mov"
    src.write_bytes(np.random.default_rng(0).integers(0, 256, 1_000_003, np.uint8).tobytes())
    store = Store()
    refs = ship(store, src, chunk=65_536)
    assert len(refs) == 16 and store.largest == 65_536
    assert unship(store, refs, tmp_path / "copy.mov").read_bytes() == src.read_bytes()
    assert not (tmp_path / "copy.mov.part").exists()

    from dreamreel.modes.animated import file_identity

    worker = SegmentWorker.__new__(SegmentWorker)  # its methods, without starting torch threads
    same = {"input": (str(src), file_identity(src))}
    assert worker.sees(same)
    assert not worker.sees({"input": (str(tmp_path / "elsewhere.mov"), file_identity(src))})
    assert not worker.sees({"input": (str(src), {**file_identity(src), "bytes": 5})})


def test_fair_share_spreads_segments_over_every_worker_before_batching():
    from dreamreel.farm.ray_backend import fair_share

    assert [fair_share(4, 4, 4), fair_share(16, 4, 4), fair_share(5, 4, 4), fair_share(1, 4, 8)] == [1, 4, 2, 1]


def test_four_gpu_workers_each_get_a_segment(tmp_path, monkeypatch):
    """Ray's fake resources: a local cluster that says it has 4 GPUs (the workers then dream on
    the CPU). With a batch of 4, the first idle worker once took all four segments and three GPUs
    sat idle."""
    # Ray refuses fake GPUs under the suite's empty CUDA_VISIBLE_DEVICES (conftest.py); it sets
    # each GPU worker's own.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, size="64x48", rate="12", audio=False)
    cfg = tmp_path / "g.yaml"
    cfg.write_text(CONFIG.format(clip=clip, out=tmp_path / "g", backend="ray")
                   .replace("segments: 3, batch: 1", "segments: 4, batch: 4"))
    ray.init(address="local", num_cpus=4, num_gpus=4, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["render", str(cfg)]) == 0
    finally:
        ray.shutdown()
    manifest = json.loads((tmp_path / "g.manifest.json").read_text())
    assert manifest["workers"] == 4 and manifest["worker_gpus"] == 1
    assert manifest["segments_per_worker"] == [1, 1, 1, 1]


def test_a_ray_render_stopped_while_a_reveal_fades_in_resumes_from_the_reveal(tmp_path, monkeypatch):
    """As a local render (test_coherence): the frame a Ray render stopped on is mid-fade, so the
    rerun starts again at the reveal and ends with the local render's frames."""
    from tests.modes.test_coherence import DREAM, first_fade, integer_pan, write_clip

    clip = write_clip(tmp_path / "pan.mp4", integer_pan(24))
    local = tmp_path / "local.yaml"
    local.write_text(f"input: {clip}\noutput: {tmp_path / 'local'}\n{DREAM}")
    reveal = first_fade(monkeypatch, local, tmp_path / "local.work")
    assert main(["render", str(local)]) == 0
    cfg = tmp_path / "ray.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'ray'}\n{DREAM}"
                   "render: {backend: ray, segments: 1, batch: 1, worker_cpus: 1}\n")
    real = Job.record
    seen = {"n": 0}

    def record(self, index, png, state=""):
        if seen["n"] == reveal + 1:
            raise KeyboardInterrupt
        seen["n"] += 1
        real(self, index, png, state)

    monkeypatch.setattr(Job, "record", record)
    assert main(["render", str(cfg)]) == 130
    monkeypatch.setattr(Job, "record", real)
    assert main(["render", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "ray.manifest.json").read_text())
    assert manifest["resumed_at"] == reveal and manifest["frames_dreamed"] == 24 - reveal
    assert all(np.array_equal(a, b) for a, b in zip(frames(tmp_path / "ray"), frames(tmp_path / "local")))
    assert len(frames(tmp_path / "ray")) == 24


def test_a_gpu_worker_gets_its_share_of_the_nodes_cores_and_a_cpu_render_no_gpu():
    """Two nodes, one with 16 cores and 4 GPUs, one with 8 cores and 2: a GPU worker each GPU,
    with 4 cores for its host work (flow, encoding), not 1; ``dream.device: cpu`` takes no GPU
    and makes workers of cores."""
    from dreamreel.farm.ray_backend import worker_shape

    class FakeRay:
        @staticmethod
        def cluster_resources():
            return {"CPU": 24, "GPU": 6}

        @staticmethod
        def nodes():
            return [{"Alive": True, "Resources": {"CPU": 16, "GPU": 4}},
                    {"Alive": True, "Resources": {"CPU": 8, "GPU": 2}}]

    assert worker_shape(FakeRay, "auto", 10) == (6, 4, 1)
    assert worker_shape(FakeRay, 2, 3) == (3, 2, 1)
    assert worker_shape(FakeRay, "auto", 10, use_gpus=False) == (3, 8, 0)
