"""``auto`` speed choices measured on the machine, not guessed from CPU flags.

The first time a machine meets a combination (CPU model and flags, the ISA caps in the
environment, device, torch version, threads, model, layers, frame size bucket), a video or zoom
render times a few gradient steps of each candidate precision (fp32, bf16/fp16) and memory
layout (channels_last or not) at its own frame size, and keeps the winner in a small JSON cache
($DREAMREEL_CACHE, default ~/.cache/dreamreel/choices.json). Later renders read it and pay
nothing. A setting the user wrote out is obeyed without trials; a render too short to repay a
trial takes what this machine measured at the nearest size, and only where nothing was measured
for its model yet, the old rule. Every choice, and how it was made, goes into the manifest.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dreamreel.jsonio import dumps, load
from dreamreel.media.atomic import atomic_write_bytes

ROUNDS = 3  # interleaved timed steps per close candidate, after its warm-up and first step
TIE = 0.05  # bf16 must be this much faster than fp32 to be chosen
# A render is worth a trial when its steps would take this many times the trial's (so the trial
# costs at most a fifth of the render, and the cache makes it a one-off).
REPAY = 5
# A candidate whose first timed step is this many times the best so far is not timed again
# (bf16 emulated on an AVX2-only CPU runs 30x slower than fp32).
DROP = 3.0
# A cache of a few hundred machines x models x sizes is well under 1 MB; a 3 GB file is not one.
CACHE_BYTES = 4 << 20
MAX_TRIAL_SECONDS = 8.0


# A CPU trial whose threads got less than this share of the cores they asked for (process CPU
# time over wall time times threads) ran beside other work. Measured on the 2-core VM: 1.00
# alone, 0.5 beside one other 2-thread render.
LOADED_SHARE = 0.7


def cache_file() -> Path | None:
    """Where measured choices are kept: $DREAMREEL_CACHE/choices.json, else
    $XDG_CACHE_HOME/dreamreel/choices.json, else ~/.cache/dreamreel/choices.json; None (no cache:
    every render measures, or follows the rule) when none of them is an absolute path, as with
    HOME="" (which once put the cache at /.cache, or in whatever folder the render ran from)."""
    for var, under in (("DREAMREEL_CACHE", ()), ("XDG_CACHE_HOME", ("dreamreel",)), ("HOME", (".cache", "dreamreel"))):
        root = os.environ.get(var, "")
        if root and os.path.isabs(root):
            return Path(root, *under) / "choices.json"
    return None


def machine_identity(device: torch.device) -> dict[str, str]:
    """What decides which choice is fastest besides the model and the size."""
    cpu, flags = "", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == "model name" and not cpu:
                    cpu = value.strip()
                elif name.strip() == "flags":
                    flags = value.strip()
                    break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    out = {"cpu": cpu, "flags": hashlib.sha256(flags.encode()).hexdigest()[:12], "gpu": gpu,
           "isa_caps": f"{os.environ.get('ATEN_CPU_CAPABILITY', '')}/{os.environ.get('ONEDNN_MAX_CPU_ISA', '')}",
           "torch": torch.__version__, "threads": str(torch.get_num_threads()), "device": device.type}
    if device.type == "cuda":
        # A new driver, CUDA or cuDNN brings other kernels: what was fastest may not be.
        out.update(gpu_versions())
    return out


def gpu_versions() -> dict[str, str]:
    """The CUDA runtime, cuDNN and driver versions torch runs with ("" where it does not say)."""
    from dreamreel.speed.gpu import driver_version

    return {"cuda": str(torch.version.cuda or ""), "cudnn": str(torch.backends.cudnn.version() or ""),
            "driver": driver_version()}


def size_bucket(h: int, w: int) -> int:
    """Frame sizes within a factor of sqrt(2) in pixels share a bucket (and a measured choice)."""
    return round(2 * math.log2(max(1, h * w)))


@dataclass
class Choice:
    """The precision and memory layout a render runs with, and how they were chosen:
    ``set`` (written in the config), ``rule`` (too short to measure, nothing measured here),
    ``measured`` (timed now; ``measured under load ...`` when other work had the cores, then not
    cached), ``cache`` (timed by an earlier render) or ``nearby`` (too short to
    measure: what an earlier render timed on this machine at the nearest size)."""

    precision: str
    channels_last: bool
    how: str
    ms: dict[str, float] = field(default_factory=dict)  # milliseconds a step, per candidate timed
    at: tuple[int, int] | None = None  # (w, h) the step_ms were timed at, for a ``nearby`` choice

    def facts(self) -> dict[str, Any]:
        return {"precision": self.precision, "channels_last": self.channels_last, "how": self.how,
                **({"step_ms": self.ms} if self.ms else {}), **({"timed_at": list(self.at)} if self.at else {})}


def candidates(precision: str, channels_last: bool | str, device: torch.device) -> list[tuple[str, bool]]:
    """(precision, channels_last) pairs worth timing for these settings on ``device``."""
    if device.type == "cuda":
        from dreamreel.speed.gpu import half_precision

        half = half_precision(device)
        precisions = ["fp32", half] if precision == "auto" else [precision]
    else:
        precisions = ["fp32", "bf16"] if precision == "auto" else [precision]
    layouts = [True, False] if channels_last == "auto" else [bool(channels_last)]
    return [(p, c) for p in precisions for c in layouts]


def _key(identity: dict[str, str], model: str, layers: list[str], h: int, w: int) -> str:
    text = json.dumps({**identity, "model": model, "layers": sorted(layers), "bucket": size_bucket(h, w)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_cache() -> dict[str, Any]:
    """The cache of measured choices, or {} when there is none or it cannot be read as one (see
    jsonio.load: bounded, regular files only, strict JSON): a cache only saves time, so any
    failure to read it is no cache."""
    path = cache_file()
    data = None if path is None else load(path, CACHE_BYTES)
    return data if isinstance(data, dict) else {}


def _recorded(rec: Any, options: list[tuple[str, bool]], how: str) -> Choice | None:
    """A cache record as a Choice made ``how``, when it is a record and its pick one of ``options``."""
    if not isinstance(rec, dict):
        return None
    pick = (rec.get("precision"), rec.get("channels_last"))
    if pick not in options:
        return None
    ms = rec.get("ms") if isinstance(rec.get("ms"), dict) else {}
    # Step times go into the manifest: only finite, positive numbers (a record edited to 1e999 or
    # -1 is not trusted for them; the pick itself is checked above).
    ms = {k: float(v) for k, v in ms.items() if isinstance(k, str) and isinstance(v, (int, float))
          and not isinstance(v, bool) and math.isfinite(v) and 0 < v < 1e9}
    return Choice(pick[0], pick[1], how, ms)


def lookup(identity: dict[str, str], model: str, layers: list[str], h: int, w: int,
           options: list[tuple[str, bool]]) -> Choice | None:
    """The cached choice for this combination, when it is one of ``options``."""
    return _recorded(read_cache().get(_key(identity, model, layers, h, w)), options, "cache")


def nearest(identity: dict[str, str], model: str, h: int, w: int,
            options: list[tuple[str, bool]]) -> Choice | None:
    """The choice timed on this machine (same ``identity``) for ``model`` at the size bucket
    nearest to h x w, whatever its layers, when it is one of ``options``; None when there is none.

    For a render too short to repay a trial: the flag rule was 12 % slow on an AMD EPYC that
    lists AVX512-BF16 (bf16 there is slower than fp32), while the nearest size's measurement
    picked the fastest candidate at 640x360 too."""
    bucket = size_bucket(h, w)
    best: tuple[int, Choice] | None = None
    for rec in read_cache().values():
        choice = _recorded(rec, options, "nearby")
        if choice is None or rec.get("model") != model or any(rec.get(k) != v for k, v in identity.items()):
            continue
        try:
            size = (int(rec["size"][0]), int(rec["size"][1]))  # (w, h)
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        distance = abs(size_bucket(size[1], size[0]) - bucket)
        if best is None or distance < best[0]:
            best = (distance, dataclasses.replace(choice, at=size))
    return None if best is None else best[1]


def store(identity: dict[str, str], model: str, layers: list[str], h: int, w: int, choice: Choice) -> None:
    path = cache_file()
    if path is None:
        return  # nowhere sane to keep it: the choice holds for this render
    data = read_cache()
    data[_key(identity, model, layers, h, w)] = {"precision": choice.precision, "channels_last": choice.channels_last,
                                                 "ms": choice.ms, "size": [w, h], "model": model, **identity}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, dumps(data, indent=1, sort_keys=True).encode())
    except OSError:
        pass  # a read-only home: the choice holds for this render, the next one measures again


def time_candidates(net: torch.nn.Module, step: Any, options: list[tuple[str, bool]],
                    shape: tuple[int, int, int, int], device: torch.device) -> dict[tuple[str, bool], float]:
    """Seconds a step for each candidate (inf: not timed). ``step(x, precision)`` runs one
    gradient step on ``x``; the net is converted to each layout in turn, and left in the last.

    Each candidate gets a warm-up step (new kernels) and one timed step; one far behind the best
    (DROP) stops there. The rest are then timed in ROUNDS interleaved rounds, so a drift of the
    machine's speed during the trial (a neighbour on the VM, a clock change) hits them alike; the
    median of a candidate's steps is its time."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(shape, generator=gen).to(device)
    times: dict[tuple[str, bool], list[float]] = {}
    t_start = time.perf_counter()

    def timed(option: tuple[str, bool]) -> float:
        net.to(memory_format=torch.channels_last if option[1] else torch.contiguous_format)
        t0 = time.perf_counter()
        step(x, option[0])
        _sync(device)
        return time.perf_counter() - t0

    for option in options:
        if time.perf_counter() - t_start > MAX_TRIAL_SECONDS:
            break  # out of trial time: the rest are not candidates
        try:
            timed(option)  # warm-up: a new layout or precision builds its kernels first
            times[option] = [timed(option)]
        except torch.cuda.OutOfMemoryError:
            # This candidate does not fit the device at the render's batch and size (fp32 takes
            # twice bf16's activations): not a candidate, and the memory goes back for the rest.
            if device.type == "cuda":
                torch.cuda.empty_cache()
    best = min((v[0] for v in times.values()), default=math.inf)
    close = [o for o in times if times[o][0] <= DROP * best]
    for _ in range(ROUNDS):
        if time.perf_counter() - t_start > MAX_TRIAL_SECONDS:
            break
        for option in close:
            times[option].append(timed(option))
    return {o: (statistics.median(times[o]) if o in times else math.inf) for o in options}


def pick(times: dict[tuple[str, bool], float]) -> tuple[str, bool]:
    """The fastest candidate, except that a lower precision must beat the best fp32 one by more
    than TIE: within it the two are a tie at timing noise, and fp32 keeps the look exact."""
    best = min(times, key=lambda o: times[o])
    exact = [o for o in times if o[0] == "fp32" and math.isfinite(times[o])]
    if best[0] != "fp32" and exact:
        fp32 = min(exact, key=lambda o: times[o])
        if times[fp32] <= times[best] * (1 + TIE):
            return fp32
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rule(dream: Any, device: torch.device) -> tuple[str, bool]:
    """The unmeasured (precision, channels_last) of ``dream`` settings on ``device``: what a
    render takes when it cannot repay a trial and nothing was measured."""
    from dreamreel.modes.setup import resolve_precision

    return resolve_precision(dream.precision, device), dream.channels_last is not False


def layer_names(dream: Any) -> list[str]:
    """The layers of ``dream.layers`` without their channel suffixes (part of a choice's key)."""
    from dreamreel.models.registry import parse_layer_key

    return [parse_layer_key(k)[0] for k in dream.layers]


def label(option: tuple[str, bool]) -> str:
    return f"{option[0]}{'+channels_last' if option[1] else ''}"


def choose(precision: str, channels_last: bool | str, device: torch.device, model: str, layers: list[str],
           size: tuple[int, int], steps: int, rule: tuple[str, bool], trial: Any, batch: int = 1) -> Choice:
    """The (precision, layout) a render of ``steps`` gradient steps of a frame at ``size`` (h, w),
    ``batch`` frames at a time, runs with. ``rule`` is the unmeasured default; ``trial()`` returns
    (net, step) to time candidates with, called only when a trial is run. The trial times steps
    of the render's own batch (a GPU's fastest precision at batch 1 need not be at batch 4), and
    a batch other than 1 is part of the cache's key."""
    options = candidates(precision, channels_last, device)
    if len(options) == 1:
        return Choice(*options[0], "set")
    if os.environ.get("DREAMREEL_CHOICES") == "rule":
        # Renders that must match bit for bit across runs and machines (the test suite) take
        # the rule: a measured choice can differ between two runs where timings are close.
        return Choice(*rule, "rule")
    h, w = size
    identity = machine_identity(device)
    if batch != 1:
        identity["batch"] = str(batch)
    found = lookup(identity, model, layers, h, w, options)
    if found is not None:
        return found
    if steps < REPAY * len(options) * (2 + ROUNDS) * batch:
        # The trial would cost more than it could save: what was measured nearby, else the rule.
        return nearest(identity, model, h, w, options) or Choice(*rule, "rule")
    net, step = trial()
    wall, cpu = time.perf_counter(), time.process_time()
    times = time_candidates(net, step, options, (batch, 3, h, w), device)
    share = (time.process_time() - cpu) / max(1e-9, (time.perf_counter() - wall) * torch.get_num_threads())
    if not any(math.isfinite(t) for t in times.values()):
        return Choice(*rule, "rule")  # nothing could be timed (out of memory): the render will say why
    best = pick(times)
    timed = {label(o): round(t * 1000, 2) for o, t in times.items() if math.isfinite(t)}
    if device.type == "cpu" and share < LOADED_SHARE:
        # Other work had the cores: the times say as much about it as about the candidates, so
        # this render uses the pick but the cache does not keep it (the next render measures again).
        return Choice(best[0], best[1], f"measured under load (cpu share {share:.2f}), not cached", timed)
    choice = Choice(best[0], best[1], "measured", timed)
    store(identity, model, layers, h, w, choice)
    return choice
