"""``render.devices``: one long-lived worker process per device of this machine, each dreaming
its share of the job's segments side by side as a farm task does (``dreamreel render CONFIG --segment
I,J``, shown its one device through CUDA_VISIBLE_DEVICES so its ``dream.device: auto`` finds it
and the job's settings stay the same for every worker), then this process assembles the output.
Every device is checked, and the segments counted from the job's own plan, before any worker
starts. Every GPU gets work; on the
CPU, ``[cpu, cpu]`` splits the cores between two chains (two renders of one torch thread each
ran 40 frames in 0.80-0.86x the time of one two-thread render, docs/how-it-works/speed.md)."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import torch
import yaml

from dreamreel.config import Config
from dreamreel.errors import ConfigError, MediaError


def resolve_devices(spec: list[str] | str) -> list[str]:
    """The device names of ``render.devices``, every one checked here, before anything is dreamed:
    ``all`` is every CUDA GPU; ``cuda`` is ``cuda:0``; a GPU this process cannot see (an index
    past the machine's, or no CUDA at all) is a one-line ConfigError naming what there is. A
    worker left on a missing GPU once dreamed on the CPU with exit 0."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if spec == "all":
        if n == 0:
            raise ConfigError("render.devices: all means every CUDA GPU, and this machine has none; "
                              "list devices instead (e.g. [cpu, cpu])")
        return [f"cuda:{i}" for i in range(n)]
    out = []
    for name in spec:
        if name == "cpu":
            out.append(name)
            continue
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= n:
            there = "no CUDA device" if n == 0 else f"{n} CUDA device{'s' if n != 1 else ''} (cuda:0 to cuda:{n - 1})"
            raise ConfigError(f"render.devices: {name}: this process sees {there}")
        out.append(f"cuda:{index}")
    return out


def core_sets(devices: list[str], cores: list[int]) -> list[set[int]]:
    """Per device, the cores its worker may use: this process's cores in equal slices (at least
    one each). A GPU worker's cores run its host work (decoding, flow, encoding); when every
    worker took every core, four GPU workers on 8 cores ran 4 x 8 threads."""
    return [set(cores[k::len(devices)]) or {cores[k % len(cores)]} for k in range(len(devices))]


def worker_command(config: Path, segments: list[int]) -> list[str]:
    """The farm-task command a worker runs for ``segments`` (dreamed side by side)."""
    return [sys.executable, "-m", "dreamreel", "render", str(config), "--segment", ",".join(map(str, segments))]


WORKER_DEVICE = "DREAMREEL_WORKER_DEVICE"


def worker_env(device: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of ``device``'s worker. CUDA_VISIBLE_DEVICES shows it that one GPU (none
    for a CPU worker), so ``dream.device: auto`` resolves to it; the name is this process's
    entry for the GPU, since ``cuda:N`` counts the GPUs this process sees: under
    CUDA_VISIBLE_DEVICES=2,3 (SLURM, Kubernetes) cuda:1 is physical GPU 3, or a UUID.
    DREAMREEL_WORKER_DEVICE tells the worker which kind it must find (``check_worker_device``)."""
    env = dict(os.environ if environ is None else environ)
    if device == "cpu":
        visible = ""
    else:
        index = int(device.split(":", 1)[1])
        listed = env.get("CUDA_VISIBLE_DEVICES")
        entries = [e.strip() for e in listed.split(",")] if listed is not None else None
        visible = entries[index] if entries is not None and index < len(entries) else str(index)
    env["CUDA_VISIBLE_DEVICES"] = visible
    env[WORKER_DEVICE] = "cpu" if device == "cpu" else "cuda"
    return env


def check_worker_device(cfg: Config) -> None:
    """In a ``render.devices`` worker: ConfigError unless ``dream.device`` finds the kind of device
    the parent gave it (a GPU that CUDA cannot open here would otherwise leave the worker
    dreaming on the CPU, silently)."""
    want = os.environ.get(WORKER_DEVICE)
    if want is None:
        return
    from dreamreel.modes.setup import resolve_device

    got = resolve_device(cfg.dream.device).type
    if got != want:
        raise ConfigError(f"render.devices: this worker was given a {want} device "
                          f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}) but finds {got}")


def shares(segments: int, workers: int) -> list[list[int]]:
    """Segments 0 .. ``segments``-1 dealt to ``workers`` in turn: worker k dreams k, k+n, ... side
    by side in one process (one start, one model load, one batch), not one process a segment."""
    return [list(range(k, segments, workers)) for k in range(workers)]


def plan(cfg: Config) -> tuple[Config, list[str]]:
    """(cfg with its segment count settled, the devices, each checked): at least one segment a
    device, and with ``segments: auto`` as many as each device batches (a clip too short to split
    plans fewer: the workers are handed the job's stored plan's). ConfigError for a setting the
    workers cannot honour."""
    if cfg.dream.device != "auto":
        raise ConfigError(f"render.devices: each worker takes its device from render.devices, so dream.device must "
                          f"be auto (it is {cfg.dream.device})")
    devices = resolve_devices(cfg.render.devices)
    segments = segment_setting(cfg, devices)
    cfg = cfg.model_copy(update={"render": cfg.render.model_copy(update={"segments": segments})})
    return cfg, devices


def segment_setting(cfg: Config, devices: list[str]) -> int:
    """``render.segments`` for a render on ``devices``: with ``auto`` one a device times what each
    device batches, else as set but at least one a device."""
    from dreamreel.modes.setup import resolve_batch

    if cfg.render.segments == "auto":
        return resolve_batch(cfg.render.batch, torch.device("cpu" if devices[0] == "cpu" else "cuda")) * len(devices)
    return max(int(cfg.render.segments), len(devices))


def _die_with_parent() -> None:
    """In a worker, before it runs: SIGTERM when the parent dies (Linux), so a ``kill -9`` of the
    render leaves no worker dreaming on as an orphan."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def dream_on_devices(cfg: Config, devices: list[str], segments: int, job_root: Path) -> dict[str, Any]:
    """Dream every segment of ``cfg``'s job (``segments`` of them, as planned; its folder
    ``job_root``, opened) on ``devices``: one long-lived worker process each, taking its share of
    the segments and batching them. Returns the manifest's facts. A worker's config error is a
    ConfigError (exit 2) with its line; another failure a MediaError with the failing worker's
    last line (what was dreamed, by it and the others, is kept)."""
    lock = threading.Lock()
    done = [0] * len(devices)
    failure: list[tuple[int, str]] = []
    procs: list[subprocess.Popen] = []
    cores = sorted(os.sched_getaffinity(0))
    # The workers' config lives in the job folder under a temp file's name: removed after, and by
    # the next run's clean-up if this process is killed (a $TMPDIR folder stayed behind).
    config = Path(job_root) / f".devices.{secrets.token_hex(4)}.part.yaml"
    data = cfg.model_dump(mode="json")
    data["render"].update(devices=None, segments=cfg.render.segments)
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    try:

        def work(k: int, device: str, allowed: set[int], mine: list[int]) -> None:
            def start() -> None:
                _die_with_parent()
                os.sched_setaffinity(0, allowed)

            proc = subprocess.Popen(worker_command(config, mine), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    env=worker_env(device), preexec_fn=start)
            with lock:
                procs.append(proc)
            _, err = proc.communicate()
            with lock:
                if proc.returncode != 0:
                    lines = [ln for ln in err.splitlines() if ln.strip()]
                    last = lines[-1] if lines else f"exit {proc.returncode}"
                    failure.append((proc.returncode, f"segments {','.join(map(str, mine))} on {device}: "
                                    f"{last.removeprefix('dreamreel: error: ')}"))
                    return
                done[k] = len(mine)

        dealt = shares(segments, len(devices))
        threads = [threading.Thread(target=work, args=(k, d, a, m), name=f"device-{k}", daemon=True)
                   for k, (d, a, m) in enumerate(zip(devices, core_sets(devices, cores), dealt)) if m]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            with lock:
                for p in procs:
                    if p.poll() is None:
                        p.terminate()  # Ctrl-C: each worker keeps what it finished
    finally:
        config.unlink(missing_ok=True)
    if failure:
        code, line = failure[0]
        if code == 2:
            raise ConfigError(f"render.devices: {line}")
        raise MediaError(f"render.devices: {line} (finished frames are kept; run again to resume)")
    return {"devices": devices, "segments_per_device": done}
