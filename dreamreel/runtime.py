"""Process-wide CPU settings for a render: threads, the C allocator, and what the CPU offers.

These act on the whole process, so the ``render`` command (and farm workers) apply them once at
start; a program that imports dreamreel as a library decides for itself (``tune_process``).
"""
from __future__ import annotations

import ctypes
import os
import platform
from dataclasses import asdict, dataclass

# glibc's mallopt(3) parameters.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
# Keep up to 1 GiB of freed memory at the top of the heap rather than handing it back.
_TRIM_THRESHOLD = 1 << 30

_retained = False


@dataclass(frozen=True)
class CpuFacts:
    """What the manifest records about how the CPU was used."""

    isa: str  # the kernels torch dispatches to: "AVX512", "AVX2", "DEFAULT" (or "NEON" ...)
    threads: int  # torch intra-op threads
    retain_memory: bool  # freed memory kept in the process (glibc only)


def retain_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory instead of returning it to the kernel; True if done.

    A dream step allocates and frees every activation, and glibc serves blocks over its mmap
    threshold (at most 32 MB, and trims the heap top over 128 KiB) straight from the kernel, so
    each step page-faults its whole working set back in, zero-filled. On a VM a fault is dear:
    measured here (2-core AVX2 EPYC VM, one step of mobilenet_v2 to features.13), 640x360
    ~230 -> ~140 ms, 1920x1080 2.2-2.4 -> 1.0-1.25 s, for about 12 % more peak RSS. It is what
    jemalloc or tcmalloc do, without a preloaded library. No effect off glibc.
    """
    global _retained
    if _retained:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):
        return False
    # Large blocks now come from the heap; a block no heap can hold still falls back to mmap.
    _retained = ok
    return ok


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels use here (ATEN_CPU_CAPABILITY lowers it)."""
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:  # older torch
        return "unknown"


def tune_process(retain_memory: bool = True, threads: int | None = None) -> CpuFacts:
    """Apply the render's process settings: one torch thread per core this process may use (or
    ``threads``), and ``retain_freed_memory`` when asked. Returns what holds afterwards."""
    import torch

    # One intra-op thread per core: oversubscription (torch + OpenCV + ffmpeg) costs more than it gives.
    torch.set_num_threads(threads or max(1, len(os.sched_getaffinity(0))))
    if retain_memory:
        retain_freed_memory()
    return cpu_facts()


def cpu_facts() -> CpuFacts:
    """How this process uses the CPU now."""
    import torch

    return CpuFacts(isa=cpu_capability(), threads=torch.get_num_threads(), retain_memory=_retained)


def cpu_facts_dict() -> dict[str, object]:
    """``cpu_facts`` as a plain dict for the manifest."""
    return asdict(cpu_facts())
