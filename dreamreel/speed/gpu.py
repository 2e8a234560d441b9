"""What a render asks of a CUDA GPU: cuDNN's flags for its promise, the half precision the card
computes natively, the driver it runs on. Nothing here runs on the CPU's path."""
from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path
from typing import Iterator

import torch

__all__ = ["cuda_flags", "cuda_settings", "no_autotune", "half_precision", "driver_version"]


def cuda_flags(chains: int) -> dict[str, bool]:
    """cuDNN's settings for a render that dreams ``chains`` frames side by side:
    {benchmark, deterministic, allow_tf32}.

    One chain promises that a resumed render is bit-identical to an uninterrupted one, so it takes
    deterministic kernels and no benchmark (which picks kernels by timing them, and may pick others
    in the resuming process). Several chains make no such promise (which frames share a batch
    depends on where it stopped): there the benchmark picks the fastest kernels once per shape.
    TF32 is off either way: ``precision: fp32`` means fp32 (cuDNN's default runs fp32
    convolutions in TF32 on Ampere and later, a 10-bit mantissa); bf16 and fp16 are the fast
    precisions, chosen by measurement."""
    return {"benchmark": chains != 1, "deterministic": chains == 1, "allow_tf32": False}


@contextlib.contextmanager
def cuda_settings(device: torch.device, chains: int) -> Iterator[None]:
    """``cuda_flags(chains)`` while a render runs on ``device`` (nothing on the CPU), and the
    process's own flags back afterwards, so a host application that renders through our API keeps
    its settings. cuBLAS needs its workspace fixed before its first call for deterministic
    matrix products: set (when unset) and restored too."""
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    flags = cuda_flags(chains)
    saved = (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32)
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if flags["deterministic"] and workspace is None:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32 = (
        flags["benchmark"], flags["deterministic"], flags["allow_tf32"])
    try:
        yield
    finally:
        cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32 = saved
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


@contextlib.contextmanager
def no_autotune() -> Iterator[None]:
    """cuDNN's benchmark off for work of one-off shapes (a reveal's crops come in a new size at
    every octave of every frame): autotuning each would cost more than it could save."""
    cudnn = torch.backends.cudnn
    saved = cudnn.benchmark
    cudnn.benchmark = False
    try:
        yield
    finally:
        cudnn.benchmark = saved


def half_precision(device: torch.device) -> str:
    """The half precision ``device`` computes in its tensor cores: bf16 from compute capability
    8.0 (Ampere) on, else fp16 (V100, T4, Turing). ``torch.cuda.is_bf16_supported()`` says yes on
    older cards too, where bf16 is emulated and slower than fp32, and asks the current device, not
    the render's."""
    major, _ = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


def driver_version(proc: Path = Path("/proc/driver/nvidia/version")) -> str:
    """The NVIDIA driver's version ("" when it cannot be told): torch 2.14 has no call for it.
    From the kernel module's /proc file on Linux, else from libcuda's cuDriverGetVersion (the
    CUDA version the driver supports, as "cuda 12.8")."""
    try:
        for word in proc.read_text(errors="replace").split():
            parts = word.split(".")
            if len(parts) in (2, 3) and all(p.isascii() and p.isdigit() for p in parts):
                return word
    except OSError:
        pass
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value:
            return f"cuda {version.value // 1000}.{version.value % 1000 // 10}"
    return ""
