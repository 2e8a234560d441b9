"""Shared by the benchmark scripts: machine description, timing, and appending to BENCHMARKS.md."""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"  # generated from benchmarks/results/ (scripts/benchmarks_page.py)
HISTORY = ROOT / "benchmarks" / "history.md"


def _whole_from(least: int) -> Callable[[str], int]:
    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{text!r}: must be {least} or more")
        return value
    return read


# argparse types: whole numbers of at least 1 and 0 (``--frames 0`` once ended in a traceback).
positive_int, whole = _whole_from(1), _whole_from(0)


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number above 0")
    return value


def existing_file(text: str) -> Path:
    """An argparse type: a file that is there."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: file not found")
    return path


def listed(item: Callable[[str], object]) -> Callable[[str], list]:
    """An argparse type: comma-separated values, each read by ``item``, at least one."""
    def read(text: str) -> list:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError("give at least one value")
        return [item(p) for p in parts]
    return read


def size(text: str) -> tuple[int, int]:
    """An argparse type: WIDTHxHEIGHT, both at least 1, as (width, height)."""
    w, sep, h = text.partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: a size is WIDTHxHEIGHT, e.g. 640x360")
    return positive_int(w), positive_int(h)


def picked(names: list[str], words: list[str], what: str, ap: argparse.ArgumentParser) -> list[str]:
    """The ``names`` containing any of ``words``; an argparse error naming the choices when none does."""
    chosen = [n for n in names if any(w in n for w in words)]
    if not chosen:
        ap.error(f"{what} {','.join(words)}: matches none of {', '.join(names)}")
    return chosen


def machine() -> str:
    """CPU model, cores, memory, and the torch build, in one line."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    isa = torch.backends.cpu.get_cpu_capability()
    forced = " (forced by ATEN_CPU_CAPABILITY)" if os.environ.get("ATEN_CPU_CAPABILITY") else ""
    return (f"{model}, {len(os.sched_getaffinity(0))} cores, {mem:.0f} GiB, {gpu}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; CPU kernels {isa}{forced}")


# Forcing the AVX2 kernels on an AVX-512 machine shows what an AVX2-only user gets: ATen's
# dispatch and oneDNN's JIT each have their own switch.
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def add_isa_argument(ap: argparse.ArgumentParser) -> None:
    """``--isa native|avx2|both``: the instruction set(s) to measure with."""
    ap.add_argument("--isa", choices=["native", "avx2", "both"], default="native",
                    help="native kernels, the AVX2 kernels forced, or both runs one after the other")


def run_per_isa(isa: str) -> bool:
    """Carry out ``--isa``: for ``avx2`` or ``both``, run this script again in a child with the
    kernels set (the environment must be set before torch loads), and return True when the
    caller has nothing left to do; False when this process itself is the run to make."""
    if isa == "native" or os.environ.get("DREAMREEL_BENCH_ISA"):
        return False
    argv, rest = [], iter(sys.argv[1:])
    for a in rest:  # every argument but the --isa choice, which the child gets set
        if a == "--isa":
            next(rest, None)
        elif not a.startswith("--isa="):
            argv.append(a)
    for which in (["native", "avx2"] if isa == "both" else ["avx2"]):
        env = {**os.environ, "DREAMREEL_BENCH_ISA": which, **(AVX2_ENV if which == "avx2" else {})}
        subprocess.run([sys.executable, sys.argv[0], *argv, "--isa", which], env=env, check=True)
    return True


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def timeit(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    """Median seconds of ``fn`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def matmul_gflops(n: int = 2048, repeat: int = 5) -> float:
    """fp32 matmul GFLOP/s of this machine, the yardstick for the dream step."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    sec = timeit(lambda: a @ b, repeat)
    return 2 * n**3 / sec / 1e9


def append(title: str, body: str) -> None:
    """Save a benchmark's result: a dated section (machine and command included) appended to the
    history, the newest result of this benchmark in benchmarks/results/, and BENCHMARKS.md made
    again from the results (scripts/benchmarks_page.py)."""
    from scripts.benchmarks_page import save_result

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = HISTORY.read_text()
    text += f"\n## {title} ({stamp})\n\n- machine: {machine()}\n- command: `{command()}`\n\n{body.rstrip()}\n"
    HISTORY.write_text(text)
    save_result(title, stamp, machine(), command(), body)


def report(title: str, lines: list[str], save: bool) -> None:
    """Print a benchmark's lines and, when ``save``, append them to BENCHMARKS.md under ``title``."""
    body = "\n".join(lines)
    print(body)
    if save:
        append(title, body)
