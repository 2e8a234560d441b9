"""``dreamreel self-test``: a one-minute check of this machine that a user pastes into a bug report.

It finds the device, dreams a still, renders a short clip twice (once straight through, once
stopped by SIGTERM in another process and resumed) and compares them bit for bit, counts the
host waits inside ascent steps with per-sample settings, measures the precision and layout
choice, and times renders at 640x360 and 1080p. Every input is made here (nothing from the
repository's samples, nothing downloaded); one line a check, and on a failure one line saying
what, exit 1.
"""
from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator, TextIO

import numpy as np
import torch

EXIT_FAILED = 1
RESUME_FRAMES = 24  # the stop-and-resume clip: long enough to stop a fast GPU part way


class CheckFailed(Exception):
    """A check's one-line reason."""


@contextlib.contextmanager
def counted_uploads() -> Iterator[list[str]]:
    """Collect the calls that copy host data to a device and make the host wait: on the CPU
    (where nothing waits) the calls that would on a GPU: ``torch.tensor``/``torch.as_tensor``
    given a device, ``Tensor.to`` of a CPU tensor to a device without ``non_blocking``; on a GPU
    also every synchronising call CUDA's sync debug mode reports. Yields the growing list."""
    calls: list[str] = []
    real = {name: getattr(torch, name) for name in ("tensor", "as_tensor")}
    real_to = torch.Tensor.to

    def made(name: str) -> Callable:
        def call(*a, **k):
            if k.get("device") is not None:
                calls.append(f"torch.{name}(device=...)")
            return real[name](*a, **k)
        return call

    def to(t, *a, **k):
        target = k.get("device", a[0] if a and isinstance(a[0], (torch.device, str)) else None)
        if target is not None and t.device.type == "cpu" and not k.get("non_blocking", False) \
                and (torch.device(target).type != "cpu" or not torch.cuda.is_available()):
            # On a machine without a GPU a copy "to the device" is one to the CPU: counted, as the
            # same call would wait on a GPU.
            calls.append("Tensor.to(device)")
        return real_to(t, *a, **k)

    cuda = torch.cuda.is_available()
    mode = torch.cuda.get_sync_debug_mode() if cuda else 0
    torch.tensor, torch.as_tensor, torch.Tensor.to = made("tensor"), made("as_tensor"), to  # type: ignore[assignment]
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            if cuda:
                torch.cuda.set_sync_debug_mode("warn")
            yield calls
        calls.extend(f"sync: {w.message}" for w in seen if "synchroniz" in str(w.message).lower())
    finally:
        torch.tensor, torch.as_tensor, torch.Tensor.to = real["tensor"], real["as_tensor"], real_to  # type: ignore
        if cuda:
            torch.cuda.set_sync_debug_mode(mode)


def _host_waits_per_step(device: torch.device) -> str:
    """Blocking copies or syncs inside ascent steps of a batch of 2 whose step sizes, layer weights
    and channels differ (the batch a scheduled render makes)."""
    from dreamreel.dream import DreamParams, Term, dream
    from dreamreel.models.net import load_dream_net

    net, _ = load_dream_net("mobilenet_v2", ["features.6"], "random", device)
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0)).to(device)
    params = DreamParams(terms=(Term("features.6", None, (1.0, 0.5)), Term("features.6", (3, 5), (0.2, 0.1))),
                         octaves=1, steps=1, step_size=(0.01, 0.02), jitter=4)
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    dream(x, net, params, gens)  # warm-up: kernels and caches, outside the count
    steps = 6
    params = DreamParams(terms=params.terms, octaves=2, steps=steps // 2, step_size=params.step_size, jitter=4)
    with counted_uploads() as calls:
        dream(x, net, params, gens)
    _sync(device)  # outside the count: CUDA's debug mode reports an explicit synchronize too
    per_step = len(calls) / steps
    if calls:
        raise CheckFailed(f"{len(calls)} host waits in {steps} steps ({per_step:.1f} a step), first: {calls[0]}")
    return f"ok: 0 blocking copies or syncs in {steps} steps of a batch with per-sample settings"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe_device(device: torch.device) -> str:
    """One line naming the device and what decides its speed."""
    from dreamreel.speed.choices import machine_identity
    from dreamreel.modes.setup import cpu_has_native_bf16

    versions = f"torch {torch.__version__}, Python {platform.python_version()}"
    if device.type == "cuda":
        from dreamreel.speed.gpu import driver_version, half_precision

        p = torch.cuda.get_device_properties(device)
        return (f"{device}: {p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability {p.major}.{p.minor}, "
                f"half precision {half_precision(device)}, driver {driver_version() or 'unknown'}, "
                f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, {versions}")
    cores = len(os.sched_getaffinity(0))
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"cpu: {machine_identity(device)['cpu']}, {cores} core{'s' if cores != 1 else ''}, "
            f"{torch.get_num_threads()} torch threads, {torch.backends.cpu.get_cpu_capability()} kernels, "
            f"native bf16 {'yes' if cpu_has_native_bf16() else 'no'}, {ram:.1f} GiB, {versions}")


def _test_picture(h: int, w: int) -> np.ndarray:
    """A picture with edges, gradients and texture to dream on, RGB uint8 [h,w,3]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 0.5 + 0.5 * np.sin(x / 7.0) * np.cos(y / 11.0)
    g = np.clip((x + y) / (h + w), 0, 1)
    b = ((x // 16 + y // 16) % 2).astype(np.float32) * 0.6 + 0.2
    return (np.stack([r, g, b], -1) * 255).astype(np.uint8)


def _still(tmp: Path, device: str) -> str:
    from dreamreel.api import render
    from dreamreel.media.images import read_image, write_image

    src = tmp / "picture.png"
    write_image(src, _test_picture(96, 128))
    t0 = time.perf_counter()
    facts = render({"mode": "still", "input": str(src), "output": str(tmp / "still.png"),
                    "dream": {"device": device, "octaves": 2, "steps": 4}}, force=True)
    out = read_image(tmp / "still.png")
    change = float(np.abs(out.astype(np.float32) - read_image(src).astype(np.float32)).mean())
    if out.shape != (96, 128, 3) or change < 1.0:
        raise CheckFailed(f"the still came out {out.shape[1]}x{out.shape[0]} with a mean change of {change:.2f} "
                          "levels (not dreamed)")
    return (f"ok: 128x96 dreamed in {time.perf_counter() - t0:.1f} s with {Path(facts.get('weights', '?')).name} "
            f"({facts.get('precision')}), mean change {change:.1f} levels")


def _clip(path: Path, size: tuple[int, int], frames: int, rate: int = 24) -> Path:
    from dreamreel.media.ffmpeg import ffmpeg_exe

    w, h = size
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={w}x{h}:rate={rate}", "-frames:v", str(frames), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _resume(tmp: Path, device: str) -> str:
    """The clip rendered straight through, and rendered by another process stopped with SIGTERM
    part way and resumed here: the frames must be the same bits."""
    import yaml

    from dreamreel.api import render
    from dreamreel.media.images import read_image
    from dreamreel.jobs.folder import Job

    clip = _clip(tmp / "resume.mp4", (128, 72), RESUME_FRAMES)
    body = {"input": str(clip), "size": {"width": 128}, "dream": {"device": device, "octaves": 2, "steps": 3,
            "precision": "fp32", "channels_last": True}, "video": {"steps_after_first": 2},
            "render": {"batch": 1, "segments": 1}}
    straight, stopped = tmp / "straight", tmp / "stopped"
    render({**body, "output": str(straight)}, force=True)
    cfg = tmp / "stopped.yaml"
    cfg.write_text(yaml.safe_dump({**body, "output": str(stopped)}))
    env = {**os.environ, "DREAMREEL_PROGRESS_EVERY": "0"}
    child = subprocess.Popen([sys.executable, "-m", "dreamreel", "render", str(cfg)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    job = Job(stopped, {})
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        if job.root.is_dir() and job.frames_done() >= 4:
            child.send_signal(signal.SIGTERM)
            break
        time.sleep(0.005)
    _, err = child.communicate(timeout=120)
    if child.returncode == 0:
        how = "finished before it could be stopped, so the resume was not exercised"
    elif child.returncode == 143:
        how = f"stopped by SIGTERM after {job.frames_done()} frames and resumed"
    else:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        raise CheckFailed(f"the render to stop failed with exit {child.returncode}: {lines[-1] if lines else ''}")
    if child.returncode == 143:
        render({**body, "output": str(stopped)})
    a, b = sorted(straight.glob("*.png")), sorted(stopped.glob("*.png"))
    if len(a) != RESUME_FRAMES or len(b) != RESUME_FRAMES:
        raise CheckFailed(f"{len(a)} and {len(b)} frames written, not {RESUME_FRAMES}")
    for k, (x, y) in enumerate(zip(a, b)):
        if not np.array_equal(read_image(x), read_image(y)):
            raise CheckFailed(f"frame {k} of the resumed render differs from the uninterrupted one")
    return f"ok: {RESUME_FRAMES} frames {how}: identical bit for bit"


def _choice(device: torch.device) -> str:
    """The precision and layout this device runs fastest at 640x360, measured now (not cached)."""
    from dreamreel.config import DreamConfig
    from dreamreel.dream.engine import image_gradient
    from dreamreel.speed.choices import candidates, label, pick, time_candidates
    from dreamreel.modes.setup import load_net, terms_of

    d = DreamConfig(device=str(device))
    net, _ = load_net(d, device)
    terms = terms_of(d)
    options = candidates("auto", "auto", device)
    times = time_candidates(net, lambda x, p: image_gradient(x, net, terms, None, p), options, (1, 3, 360, 640),
                            device)
    best = pick(times)
    timed = ", ".join(f"{label(o)} {t * 1000:.0f} ms" for o, t in times.items() if np.isfinite(t))
    return f"{label(best)} at 640x360 (a gradient step: {timed})"


def _speed(tmp: Path, device: torch.device, size: tuple[int, int], frames: int) -> str:
    """A default video render of ``frames`` frames at ``size`` (w, h): the first (fresh) frame's
    dream seconds, the frames a second of the frame loop after it (carried frames: flow, dream,
    merge, checkpoint), and the share of the loop the device spent dreaming."""
    import json

    from dreamreel.api import render

    clip = _clip(tmp / f"speed_{size[0]}.mp4", size, frames)
    out = tmp / f"speed_{size[0]}.out.mp4"
    facts = render({"input": str(clip), "output": str(out), "dream": {"device": str(device)},
                    "video": {"preset": "ultrafast"}}, force=True)
    report = json.loads(Path(f"{out}.report.json").read_text())
    seconds = [s for s in report["report"]["frames"].get("seconds", []) if s is not None]
    loop, dreaming = facts.get("loop_seconds"), facts.get("dream_seconds")
    busy = f"{dreaming / loop:.0%}" if loop and dreaming is not None else "-"
    if len(seconds) != frames or not loop or loop <= seconds[0]:
        raise CheckFailed(f"the {size[0]}x{size[1]} render reported {len(seconds)} frame times of {frames}")
    rate = (frames - 1) / (loop - seconds[0])
    return (f"{size[0]}x{size[1]}: {rate:.2f} frames/s after the first ({frames - 1} carried frames), first frame "
            f"{seconds[0]:.1f} s, device dreaming {busy} of the frame loop")


def self_test(device_name: str = "auto", out: TextIO = sys.stdout) -> int:
    """Run every check, printing one line each; returns the exit code (0, or 1 on a failure)."""
    from dreamreel.errors import DreamreelError
    from dreamreel.modes.setup import resolve_device

    t0 = time.perf_counter()
    from dreamreel import __version__

    print(f"dreamreel {__version__} self-test", file=out, flush=True)
    try:
        device = resolve_device(device_name)
    except DreamreelError as exc:
        print(f"dreamreel: self-test failed: device: {exc}", file=out, flush=True)
        return EXIT_FAILED
    cpu = device.type == "cpu"
    checks: list[tuple[str, Callable[[Path], str]]] = [
        ("device", lambda tmp: describe_device(device)),
        ("still", lambda tmp: _still(tmp, str(device))),
        ("resume", lambda tmp: _resume(tmp, str(device))),
        ("host waits", lambda tmp: _host_waits_per_step(device)),
        ("choice", lambda tmp: _choice(device)),
        ("speed", lambda tmp: _speed(tmp, device, (640, 360), 8 if cpu else 48)),
        ("speed", lambda tmp: _speed(tmp, device, (1920, 1080), 3 if cpu else 24)),
    ]
    quiet = os.environ.get("DREAMREEL_PROGRESS_EVERY")
    os.environ["DREAMREEL_PROGRESS_EVERY"] = "0"  # the renders' progress lines are not the report
    try:
        return _run_checks(checks, out, t0)
    finally:
        if quiet is None:
            os.environ.pop("DREAMREEL_PROGRESS_EVERY", None)
        else:
            os.environ["DREAMREEL_PROGRESS_EVERY"] = quiet


def _run_checks(checks: list[tuple[str, Callable[[Path], str]]], out: TextIO, t0: float) -> int:
    with tempfile.TemporaryDirectory(prefix="dreamreel-self-test-") as folder:
        for name, check in checks:
            try:
                line = check(Path(folder))
            except CheckFailed as exc:
                print(f"dreamreel: self-test failed: {name}: {exc}", file=out, flush=True)
                return EXIT_FAILED
            except Exception as exc:  # noqa: BLE001 - any surprise is a failed check, told in one line
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                print(f"dreamreel: self-test failed: {name}: {type(exc).__name__}: {first}", file=out, flush=True)
                return EXIT_FAILED
            print(f"{name:<11} {line}", file=out, flush=True)
    print(f"self-test passed in {time.perf_counter() - t0:.0f} s; paste these lines into a bug report", file=out,
          flush=True)
    return 0
