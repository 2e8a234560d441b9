"""Segments as farm tasks: `dreamreel render --segment I` dreams one segment into the job folder; tasks
run out of order and at once; a plain run assembles what they made."""
from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.media.probe import probe
from dreamreel.errors import MediaError
from dreamreel.media.images import read_image
from dreamreel.jobs.folder import MARKER, job_dir
from tests.conftest import ROOT, SAMPLES, make_clip

CONFIG = """\
input: {clip}
output: {out}
dream: {{steps: 2, octaves: 1, jitter: 4}}
video: {{steps_after_first: 1, preset: ultrafast}}
render: {{segments: 3, batch: 1, preroll: 2, crossover: 2}}
"""


def config(tmp_path: Path, clip: Path, name: str) -> Path:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(CONFIG.format(clip=clip, out=tmp_path / name))
    return cfg


def task(cfg: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dreamreel", "render", str(cfg), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def frames(folder: Path) -> list[np.ndarray]:
    return [read_image(p) for p in sorted(folder.glob("*.png"))]


def hold_lock(output: Path, index: int) -> int:
    path = job_dir(output) / "locks" / f"segment-{index:05d}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    (job_dir(output) / MARKER).touch()  # the other task's job folder, made by dreamreel
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"testhost 4242\n")
    return fd


def test_farm_tasks_out_of_order_and_at_once_then_assembly_match_one_render(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    assert main(["render", str(config(tmp_path, clip, "ref"))]) == 0
    ref = json.loads((tmp_path / "ref.manifest.json").read_text())
    assert [s["frames"] for s in ref["segments"]] == [[0, 12], [12, 24], [24, 36]]
    assert ref["frames_dreamed"] == 36 + 2 * 4  # each later segment dreams 4 frames of pre-roll

    cfg = config(tmp_path, clip, "farm")
    a, b = task(cfg, "--segment", "2"), task(cfg, "--segment", "0")  # two at once, out of order
    for proc in (a, b):
        code, err = finish(proc)
        assert code == 0, err
        assert err.strip().splitlines()[-1].startswith("dreamreel: dreamed segment")
    assert not (tmp_path / "farm").exists()  # a task writes no output
    code, err = finish(task(cfg, "--segment", "1"))
    assert code == 0, err
    assert main(["render", str(cfg)]) == 0  # assembly only
    farm = json.loads((tmp_path / "farm.manifest.json").read_text())
    assert farm["frames_dreamed"] == 0
    assert all(s["seconds"] > 0 and s["hosts"] and s["frames_dreamed"] > 0 for s in farm["segments"])
    got, want = frames(tmp_path / "farm"), frames(tmp_path / "ref")
    assert len(got) == len(want) == 36
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert not job_dir(tmp_path / "farm").exists()


def test_a_segment_being_dreamed_is_refused_at_once_and_assembly_waits_for_it(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out")
    fd = hold_lock(tmp_path / "out", 1)  # as if another machine were dreaming segment 1
    try:
        code, err = finish(task(cfg, "--segment", "1"))
        assert code == 2 and err.strip().splitlines() == [
            f"dreamreel: error: segment 1 of {tmp_path / 'out'} is being dreamed by testhost 4242 right now"]
        capsys.readouterr()
        assert main(["render", str(cfg)]) == 2  # dreams segments 0 and 2, then says what it waits for
        # (Progress lines come every 10 s on a slow or busy machine: not what is tested.)
        err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("dreamreel: dreaming")]
        assert len(err) == 1 and "segment 1 (testhost 4242)" in err[0] and "run the same command again" in err[0]
        assert not (tmp_path / "out").exists()
    finally:
        os.close(fd)
    assert main(["render", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["frames_dreamed"] == 12 + 4  # only segment 1 (its pre-roll and own frames) was left
    assert len(frames(tmp_path / "out")) == 36


def test_segment_numbers_and_modes_are_checked(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    cfg = config(tmp_path, clip, "out")
    assert main(["render", str(cfg), "--segment", "3"]) == 2
    assert "--segment: 3 is not a segment of this job; it has 3 (0 to 2)" in capsys.readouterr().err
    assert not job_dir(tmp_path / "out").exists()  # refused before any job folder
    assert main(["render", str(cfg), "--segment", "0", "--force"]) == 2
    assert "--segment cannot be combined with --force" in capsys.readouterr().err
    still = tmp_path / "still.yaml"
    still.write_text(f"input: {ROOT / 'samples/astronaut.png'}\noutput: {tmp_path / 's.png'}\n")
    assert main(["render", str(still), "--segment", "0"]) == 2
    assert "--segment works on video renders" in capsys.readouterr().err


def test_dry_run_prints_the_segments(tmp_path, capsys):
    clip = make_clip(tmp_path / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    assert main(["render", str(config(tmp_path, clip, "out")), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "segments: 3 (dreamreel render --segment 0 .. 2 as farm tasks)" in out
    assert "  segment 1: frames 12-23, dreams from 8, crossover 2" in out
    assert not job_dir(tmp_path / "out").exists()


@pytest.fixture(scope="module")
def farm_job(tmp_path_factory) -> tuple[Path, Path, list[np.ndarray]]:
    """A 3-segment job whose tasks all ran (its folder kept, not assembled), and the frames of
    the same render in one go."""
    d = tmp_path_factory.mktemp("farm")
    clip = make_clip(d / "c.mp4", seconds=3.0, size="96x64", rate="12", audio=False)
    assert main(["render", str(config(d, clip, "ref"))]) == 0
    cfg = config(d, clip, "out")
    for i in range(3):
        assert main(["render", str(cfg), "--segment", str(i)]) == 0
    return cfg, job_dir(d / "out"), frames(d / "ref")


def copy_job(farm_job, tmp_path: Path) -> tuple[Path, Path]:
    """The farm job's folder and config copied into ``tmp_path`` (one test may tamper with it)."""
    import shutil

    cfg, root, _ = farm_job
    text = cfg.read_text().replace(str(cfg.parent / "out"), str(tmp_path / "out"))
    new = tmp_path / "out.yaml"
    new.write_text(text)
    shutil.copytree(root, job_dir(tmp_path / "out"))
    return new, job_dir(tmp_path / "out")


@pytest.mark.parametrize("plan", [
    '{"segments": [{"index": 0, "first": "0", "own_from": 0, "own_to": 12, "crossover": 0, "fresh": true}]}',
    "segment 1 missing",
    '[1, 2]',
])
def test_a_damaged_plan_is_made_again_not_trusted(farm_job, tmp_path, plan, capsys):
    cfg, root = copy_job(farm_job, tmp_path)
    if plan == "segment 1 missing":
        doc = json.loads((root / "plan.json").read_text())
        del doc["segments"][1]
        plan = json.dumps(doc)
    (root / "plan.json").write_text(plan)
    assert main(["render", str(cfg), "--dry-run"]) == 0
    assert "segment 1: frames 12-23" in capsys.readouterr().out
    assert main(["render", str(cfg)]) == 0  # assembles the full clip: every frame was still in the job
    got = frames(tmp_path / "out")
    assert len(got) == 36 and all(np.array_equal(a, b) for a, b in zip(got, farm_job[2]))
    assert json.loads((tmp_path / "out.manifest.json").read_text())["frames_dreamed"] == 0


def test_a_segment_record_that_is_not_ours_is_ignored(farm_job, tmp_path):
    cfg, root = copy_job(farm_job, tmp_path)
    (root / "segments" / "00001.json").write_text('["not", "a", "record"]')
    (root / "segments" / "00002.json").write_text('{"seconds": "soon", "frames_dreamed": 1, "hosts": []}')
    assert main(["render", str(cfg)]) == 0
    segments = json.loads((tmp_path / "out.manifest.json").read_text())["segments"]
    assert "seconds" in segments[0] and "seconds" not in segments[1] and "seconds" not in segments[2]


def test_frames_without_job_json_are_not_taken_for_any_settings(farm_job, tmp_path, capsys):
    cfg, root = copy_job(farm_job, tmp_path)
    (root / "job.json").unlink()
    assert main(["render", str(cfg), "dream.steps=3"]) == 2
    assert "holds frames but no job.json" in capsys.readouterr().err
    assert main(["render", str(cfg), "dream.steps=3", "--force"]) == 0


def test_a_task_whose_job_folder_was_removed_does_not_recreate_it(tmp_path):
    """A farm task paused while another run started over: its next frame is not written into a
    re-created folder without job.json (which a later run would trust)."""
    from dreamreel.jobs.folder import Job

    job = Job(tmp_path / "o.mp4", {"settings": "x"})
    job.open(force=False)
    job.record(0, b"png")
    import shutil

    shutil.rmtree(job.root)
    with pytest.raises(MediaError, match="job folder was removed while this render ran"):
        job.record(1, b"png")
    assert not job.root.exists()


def test_a_job_folder_appears_with_its_marker_so_a_task_started_beside_never_refuses_it(tmp_path, monkeypatch):
    # Two farm tasks started together: the second saw the first's folder before its marker was
    # written and refused it as "not a dreamreel job folder" (exit 2, one run of the suite in
    # several). The folder must never be visible without the marker.
    from dreamreel.jobs import folder as jobs

    out = tmp_path / "take.mp4"
    root = jobs.job_dir(out)
    visible_when_marked: list[bool] = []
    real_write = jobs.atomic_write_bytes

    def write(path, data):
        if Path(path).name == jobs.MARKER:
            visible_when_marked.append(root.exists())
        return real_write(path, data)

    monkeypatch.setattr(jobs, "atomic_write_bytes", write)
    jobs.Job(out, {"settings": "a"}).open(force=False)
    assert visible_when_marked == [False] and (root / jobs.MARKER).is_file()

    # Another task wins the rename between this one's preparing and renaming: this one takes its folder.
    other = tmp_path / "other.mp4"
    real_rename = os.rename

    def rename(src, dst):
        if Path(dst) == jobs.job_dir(other):
            Path(dst).mkdir()
            real_write(Path(dst) / jobs.MARKER, b"made by the other task\n")
        return real_rename(src, dst)

    monkeypatch.setattr(jobs.os, "rename", rename)
    jobs.Job(other, {"settings": "a"}).open(force=False)
    assert (jobs.job_dir(other) / jobs.MARKER).read_bytes() == b"made by the other task\n"
    assert (jobs.job_dir(other) / "job.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.mp4.work", "take.mp4.work"]  # no temp left


def test_render_devices_spreads_segments_over_worker_processes_and_matches_one_process(tmp_path):
    """render.devices: [cpu, cpu]: two worker processes, each on its share of the cores, dream the
    job's segments as farm tasks; this process assembles. The frames are those of one process
    rendering the same plan (thread counts differ, so rounding may: under 1 % of 0-255)."""
    import json

    from dreamreel.media.images import read_image
    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, size="96x64", rate="12", audio=False)
    body = (f"input: {clip}\ndream: {{steps: 2, octaves: 1, jitter: 4}}\nvideo: {{steps_after_first: 1, preset: ultrafast}}\n"
            "render: {segments: 2, batch: 1, preroll: 2, crossover: 2")
    (tmp_path / "one.yaml").write_text(f"output: {tmp_path / 'one'}\n{body}}}\n")
    (tmp_path / "two.yaml").write_text(f"output: {tmp_path / 'two'}\n{body}, devices: [cpu, cpu]}}\n")
    assert main(["render", str(tmp_path / "one.yaml")]) == 0
    assert main(["render", str(tmp_path / "two.yaml")]) == 0
    manifest = json.loads((tmp_path / "two.manifest.json").read_text())
    assert manifest["devices"] == ["cpu", "cpu"] and sorted(manifest["segments_per_device"]) == [1, 1]
    one = [read_image(p).astype(float) for p in sorted((tmp_path / "one").glob("*.png"))]
    two = [read_image(p).astype(float) for p in sorted((tmp_path / "two").glob("*.png"))]
    assert len(one) == len(two) == 24
    assert max(abs(a - b).mean() for a, b in zip(one, two)) < 2.55


def test_render_devices_settings_that_cannot_hold_are_one_line(tmp_path, capsys):
    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=0.5, size="64x48", rate="12", audio=False)
    cases = [("dream: {device: cpu}\nrender: {devices: [cpu, cpu]}", "dream.device must be auto"),
             ("render: {devices: [cpu, gpu]}", "'gpu' is not a device"),
             ("render: {devices: [cpu], backend: ray}", "with backend: ray")]
    import torch

    if not torch.cuda.is_available():
        cases.append(("render: {devices: all}", "this machine has none"))
    for text, needle in cases:
        cfg = tmp_path / "bad.yaml"
        cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'x.mp4'}\n{text}\n")
        assert main(["render", str(cfg)]) == 2, text
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (text, err)


def test_a_workers_gpu_is_named_as_this_process_sees_it(monkeypatch):
    """cuda:N counts the GPUs this process sees: under CUDA_VISIBLE_DEVICES=2,3 cuda:1 is GPU 3,
    and UUID lists map the same way; a CPU worker sees none. The worker is told which kind it
    must find."""
    from dreamreel.farm.devices import WORKER_DEVICE, worker_env

    assert worker_env("cuda:1", {})["CUDA_VISIBLE_DEVICES"] == "1"
    assert worker_env("cuda:1", {"CUDA_VISIBLE_DEVICES": "2,3"})["CUDA_VISIBLE_DEVICES"] == "3"
    uuids = {"CUDA_VISIBLE_DEVICES": "GPU-aaaa, GPU-bbbb"}
    assert worker_env("cuda:0", uuids)["CUDA_VISIBLE_DEVICES"] == "GPU-aaaa"
    cpu = worker_env("cpu", {"CUDA_VISIBLE_DEVICES": "2,3"})
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and cpu[WORKER_DEVICE] == "cpu"
    assert worker_env("cuda:0", {})[WORKER_DEVICE] == "cuda"


def test_every_device_is_checked_before_anything_is_dreamed(monkeypatch):
    import torch

    from dreamreel.errors import ConfigError
    from dreamreel.farm.devices import resolve_devices

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"render.devices: cuda:0: this process sees no CUDA device"):
        resolve_devices(["cpu", "cuda:0"])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_devices(["cuda", "cuda:1", "cpu"]) == ["cuda:0", "cuda:1", "cpu"]
    with pytest.raises(ConfigError, match=r"cuda:7: this process sees 2 CUDA devices \(cuda:0 to cuda:1\)"):
        resolve_devices(["cuda:0", "cuda:7"])


def test_a_worker_that_finds_another_kind_of_device_stops(monkeypatch):
    from dreamreel.errors import ConfigError
    from dreamreel.farm.devices import WORKER_DEVICE, check_worker_device

    cfg = type("C", (), {"dream": type("D", (), {"device": "auto"})()})()
    monkeypatch.setenv(WORKER_DEVICE, "cuda")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ConfigError, match="given a cuda device .* but finds cpu"):
        check_worker_device(cfg)
    monkeypatch.setenv(WORKER_DEVICE, "cpu")
    check_worker_device(cfg)


def test_each_device_gets_one_worker_with_its_share_of_segments_and_of_the_cores():
    from dreamreel.farm.devices import core_sets, shares

    assert shares(8, 2) == [[0, 2, 4, 6], [1, 3, 5, 7]] and shares(1, 2) == [[0], []]
    assert core_sets(["cuda:0", "cuda:1"], list(range(8))) == [{0, 2, 4, 6}, {1, 3, 5, 7}]
    assert core_sets(["cpu", "cpu", "cpu"], [0, 1]) == [{0}, {1}, {0}]


def test_render_devices_on_a_clip_too_short_to_split_finishes(tmp_path):
    """Four segments asked of a clip with room for one: the workers are handed the plan's one
    segment, not segments it does not have (every rerun failed that way)."""
    import json

    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=0.5, size="64x48", rate="12", audio=False)
    cfg = tmp_path / "short.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'short.mp4'}\ndream: {{steps: 1, octaves: 1}}\n"
                   "video: {steps_after_first: 1, preset: ultrafast}\n"
                   "render: {segments: 4, preroll: 4, crossover: 4, devices: [cpu, cpu]}\n")
    assert main(["render", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "short.mp4.manifest.json").read_text())
    assert manifest["segments_per_device"] == [1, 0] and probe(tmp_path / "short.mp4").frames == 6


def test_one_farm_task_dreams_several_segments_side_by_side(tmp_path):
    """``--segment 0,2``: one process, the two segments as one batch; the rest by another task;
    the plain run assembles all four."""
    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, size="64x48", rate="12", audio=False)
    cfg = tmp_path / "farm.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'farm.mp4'}\ndream: {{steps: 1, octaves: 1}}\n"
                   "video: {steps_after_first: 1, preset: ultrafast}\n"
                   "render: {segments: 4, batch: 2, preroll: 1, crossover: 1}\n")
    assert main(["render", str(cfg), "--segment", "0,2"]) == 0
    assert main(["render", str(cfg), "--segment", "1,3"]) == 0
    assert main(["render", str(cfg), "--segment", "0,9"]) == 2
    for bad in ("1,1", "-1", "a", "２"):
        with pytest.raises(SystemExit) as stop:
            main(["render", str(cfg), "--segment", bad])
        assert stop.value.code == 2
    assert main(["render", str(cfg)]) == 0 and probe(tmp_path / "farm.mp4").frames == 24


def _devices_cfg(tmp_path, clip, out="d.mp4", extra=""):
    cfg = tmp_path / f"{out}.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / out}\ndream: {{steps: 1, octaves: 1}}\n"
                   "video: {steps_after_first: 1, preset: ultrafast}\n"
                   f"render: {{segments: 2, preroll: 1, crossover: 1, devices: [cpu, cpu]}}\n{extra}")
    return cfg


def test_force_with_render_devices_replaces_the_output_and_leaves_no_temp(tmp_path):
    """--force over an existing output: the job is started over and handed the output before the
    workers start (it was refused with 'pass --force', with and without it). The workers' config
    lives in the job folder and goes with it: nothing is left in $TMPDIR."""
    import tempfile

    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, size="64x48", rate="12", audio=False)
    cfg = _devices_cfg(tmp_path, clip)
    before = set(Path(tempfile.gettempdir()).glob("dreamreel-devices-*"))
    assert main(["render", str(cfg)]) == 0
    first = (tmp_path / "d.mp4").stat().st_mtime_ns
    assert main(["render", str(cfg)]) == 2  # exists, no --force: refused as ever
    assert main(["render", str(cfg), "--force"]) == 0 and (tmp_path / "d.mp4").stat().st_mtime_ns != first
    assert set(Path(tempfile.gettempdir()).glob("dreamreel-devices-*")) == before
    assert not (tmp_path / "d.mp4.work").exists()


def test_render_devices_refuses_a_changed_report_page_before_dreaming(tmp_path, capsys):
    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=1.0, size="64x48", rate="12", audio=False)
    cfg = _devices_cfg(tmp_path, clip)
    assert main(["render", str(cfg)]) == 0
    page = tmp_path / "d.mp4.report.html"
    page.write_text(page.read_text() + "<!-- my notes -->")
    (tmp_path / "d.mp4").unlink()  # the video gone, the annotated page kept
    capsys.readouterr()
    assert main(["render", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "report.html" in err[0]
    assert not (tmp_path / "d.mp4.work").exists()  # nothing was dreamed


def test_dry_run_and_timeline_show_the_segments_render_devices_uses(tmp_path, capsys):
    import json

    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, size="64x48", rate="12", audio=False)
    cfg = tmp_path / "auto.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'a.mp4'}\nrender: {{devices: [cpu, cpu], preroll: 1, "
                   "crossover: 1}\n")
    assert main(["render", str(cfg), "--dry-run"]) == 0
    assert "segments: 2 " in capsys.readouterr().out  # one a CPU device (batch 1) times two devices
    assert main(["render", str(cfg), "--timeline"]) == 0
    assert len(json.loads((tmp_path / "a.mp4.timeline.json").read_text())["segments"]) == 2


def test_a_workers_config_error_is_the_parents_exit_2_in_one_line(tmp_path, monkeypatch):
    """A worker that stops on a config error (exit 2) was reported as exit 3 with 'run again to
    resume' advice; a crash stays a media error that keeps the frames."""
    from dreamreel.config import load_config
    from dreamreel.errors import ConfigError, MediaError
    from dreamreel.farm import devices

    cfg_path = tmp_path / "w.yaml"
    cfg_path.write_text(f"input: {SAMPLES / 'city.mp4'}\noutput: {tmp_path / 'w.mp4'}\n")
    cfg = load_config(cfg_path)
    (tmp_path / "job").mkdir()
    for code, kind in ((2, ConfigError), (3, MediaError)):
        script = f"import sys; print('dreamreel: error: dream.layers: no such layer', file=sys.stderr); sys.exit({code})"
        monkeypatch.setattr(devices, "worker_command", lambda config, mine: [sys.executable, "-c", script])
        with pytest.raises(kind) as err:
            devices.dream_on_devices(cfg, ["cpu", "cpu"], 2, tmp_path / "job")
        assert re.search(r"render.devices: segments [01] on cpu: dream.layers: no such layer", str(err.value))
        assert ("run again" in str(err.value)) == (code == 3)
    assert list((tmp_path / "job").iterdir()) == []  # the workers' config went with them


def test_render_devices_at_cadence_3_keep_one_grid_of_dreamed_frames_and_match_one_process(tmp_path):
    """video.cadence across segments: each worker dreams t % 3 == 0 of the output frame numbers,
    which every segment and worker knows, so two devices dream the frames one process dreams and
    make its frames (within rounding: thread counts differ), and the reports agree frame by frame
    on which were dreamed."""
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, size="96x64", rate="12", audio=False)
    body = (f"input: {clip}\ndream: {{steps: 2, octaves: 1, jitter: 4}}\n"
            "video: {steps_after_first: 1, preset: ultrafast, cadence: 3}\n"
            "render: {segments: 2, batch: 1, preroll: 2, crossover: 2")
    (tmp_path / "one.yaml").write_text(f"output: {tmp_path / 'one'}\n{body}}}\n")
    (tmp_path / "two.yaml").write_text(f"output: {tmp_path / 'two'}\n{body}, devices: [cpu, cpu]}}\n")
    assert main(["render", str(tmp_path / "one.yaml")]) == 0
    assert main(["render", str(tmp_path / "two.yaml")]) == 0
    flags = [json.loads((tmp_path / f"{n}.report.json").read_text())["report"]["frames"]["dreamed"]
             for n in ("one", "two")]
    assert flags[0] == flags[1] and len(flags[0]) == 24
    # Every frame of the grid dreamed; off it, frames 10-11, which blend segment 0's end with
    # segment 1's pre-roll that starts afresh (a dream) at 10, and any frame whose flow is lost
    # over a tenth of it (the test pattern's moving parts, at 96 px).
    assert all(flags[0][t] for t in range(0, 24, 3))
    assert {10, 11} <= {t for t, d in enumerate(flags[0]) if d and t % 3} and sum(flags[0]) < 24
    one = [read_image(p).astype(float) for p in sorted((tmp_path / "one").glob("*.png"))]
    two = [read_image(p).astype(float) for p in sorted((tmp_path / "two").glob("*.png"))]
    assert len(one) == len(two) == 24
    assert max(abs(a - b).mean() for a, b in zip(one, two)) < 2.55
