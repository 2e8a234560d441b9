"""``render.devices``: one worker process per device of this machine, each dreaming segments of
the job as a farm task does (``render CONFIG --segment N``, shown its one device through
CUDA_VISIBLE_DEVICES so its ``dream.device: auto`` finds it and the job's settings stay the
same for every worker), then this process assembles the output. Every GPU gets work; on the
CPU, ``[cpu, cpu]`` splits the cores between two chains (two renders of one torch thread each
ran 40 frames in 0.80-0.86x the time of one two-thread render, docs/how-it-works/speed.md)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch
import yaml

from pipeline.config import Config
from pipeline.errors import ConfigError, MediaError


def resolve_devices(spec: list[str] | str) -> list[str]:
    """The device names of ``render.devices``: ``all`` is every CUDA GPU (a one-line error without
    one); a list is taken as given (each checked when its worker starts)."""
    if spec != "all":
        return list(spec)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        raise ConfigError("render.devices: all means every CUDA GPU, and this machine has none; "
                          "list devices instead (e.g. [cpu, cpu])")
    return [f"cuda:{i}" for i in range(n)]


def core_sets(devices: list[str], cores: list[int]) -> list[set[int] | None]:
    """Per device, the cores its worker may use: the CPU workers share this process's cores in
    equal slices (at least one each); a GPU worker keeps them all (None)."""
    cpu = [i for i, d in enumerate(devices) if d == "cpu"]
    out: list[set[int] | None] = [None] * len(devices)
    for k, i in enumerate(cpu):
        out[i] = set(cores[k::len(cpu)]) or {cores[k % len(cores)]}
    return out


def worker_command(config: Path, segment: int) -> list[str]:
    """The farm-task command a worker runs for ``segment``."""
    return [sys.executable, "-m", "pipeline", str(config), "--segment", str(segment)]


def worker_env(device: str) -> dict[str, str]:
    """The environment of ``device``'s worker: CUDA_VISIBLE_DEVICES shows it that GPU alone (none
    for a CPU worker), so ``dream.device: auto`` resolves to it."""
    visible = "" if device == "cpu" else (device.split(":", 1)[1] if ":" in device else "0")
    return dict(os.environ, CUDA_VISIBLE_DEVICES=visible)


def plan(cfg: Config) -> tuple[Config, list[str], int]:
    """(cfg with its segment count settled, the devices, the segment count): at least one segment
    a device, and with ``segments: auto`` as many as each device batches. ConfigError for a
    setting the workers cannot honour."""
    from pipeline.rendering.setup import resolve_batch

    if cfg.dream.device != "auto":
        raise ConfigError(f"render.devices: each worker takes its device from render.devices, so dream.device must "
                          f"be auto (it is {cfg.dream.device})")
    devices = resolve_devices(cfg.render.devices)
    if cfg.render.segments == "auto":
        per = resolve_batch(cfg.render.batch, torch.device("cpu" if devices[0] == "cpu" else "cuda"))
        segments = per * len(devices)
    else:
        segments = max(int(cfg.render.segments), len(devices))
    cfg = cfg.model_copy(update={"render": cfg.render.model_copy(update={"segments": segments})})
    return cfg, devices, segments


def dream_on_devices(cfg: Config, devices: list[str], segments: int) -> dict[str, Any]:
    """Dream every segment of ``cfg``'s job (``segments`` of them) on ``devices``, one worker
    process each, segments handed out as workers come free. Returns the manifest's facts;
    MediaError with the failing worker's last line when one fails (what was dreamed is kept)."""
    queue = list(range(segments))
    lock = threading.Lock()
    done = [0] * len(devices)
    failure: list[str] = []
    procs: list[subprocess.Popen] = []
    cores = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="dreamreel-devices-") as tmp:
        config = Path(tmp) / "job.yaml"
        data = cfg.model_dump(mode="json")
        data["render"].update(devices=None, segments=segments)
        config.write_text(yaml.safe_dump(data, sort_keys=False))

        def work(k: int, device: str, allowed: set[int] | None) -> None:
            while True:
                with lock:
                    if not queue or failure:
                        return
                    segment = queue.pop(0)
                proc = subprocess.Popen(worker_command(config, segment), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env=worker_env(device),
                                        preexec_fn=(lambda: os.sched_setaffinity(0, allowed)) if allowed else None)
                with lock:
                    procs.append(proc)
                _, err = proc.communicate()
                with lock:
                    if proc.returncode != 0:
                        lines = [ln for ln in err.splitlines() if ln.strip()]
                        failure.append(f"segment {segment} on {device}: {lines[-1] if lines else f'exit {proc.returncode}'}")
                        return
                    done[k] += 1

        threads = [threading.Thread(target=work, args=(k, d, a), name=f"device-{k}", daemon=True)
                   for k, (d, a) in enumerate(zip(devices, core_sets(devices, cores)))]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            with lock:
                queue.clear()
                for p in procs:
                    if p.poll() is None:
                        p.terminate()  # Ctrl-C or a failure: each task keeps what it finished
    if failure:
        raise MediaError(f"render.devices: {failure[0]} (finished frames are kept; run again to resume)")
    return {"devices": devices, "segments_per_device": done}
