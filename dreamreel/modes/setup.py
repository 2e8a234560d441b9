"""From a validated config to the objects the dream needs: device, parameters, network."""
from __future__ import annotations

import hashlib
import os
import sys
from functools import lru_cache

import torch

from dreamreel.config import DreamConfig, SizeConfig
from dreamreel.dream import DreamParams, Term, guide_features
from dreamreel.dream.engine import resize
from dreamreel.media.images import read_image, to_tensor
from dreamreel.errors import ConfigError
from dreamreel.models.net import DreamNet, load_dream_net
from dreamreel.models.registry import parse_layer_key
from dreamreel.speed.gpu import half_precision


def resolve_device(name: str) -> torch.device:
    """'auto' -> the first CUDA device when present, else the CPU; 'cuda' or 'cuda:N' without that
    GPU is a config error naming the devices there are. No global state is touched: the cuDNN
    flags are set per render by ``gpu.cuda_settings``."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"dream.device: {name} was asked for but no CUDA device is available; use auto or cpu")
    index = int(name.split(":", 1)[1]) if ":" in name else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"dream.device: {name}: this machine has {count} CUDA device{'s' if count != 1 else ''} "
                          f"(cuda:0 to cuda:{count - 1})")
    return torch.device("cuda", index)


def host_threads(device: torch.device) -> dict[str, int]:
    """Threads for the work beside the dream, by where the dream runs: {"opencv": threads of
    OpenCV's pool (the flow), "writers": checkpoint and report threads}.

    With the dream on the CPU it holds every core, and OpenCV on 2 threads made the frame slower
    (0.198 against 0.175-0.179 s at 640x360, benchmarks/history.md): one each. With the dream on a GPU
    the cores are the host pipeline's: DIS flow runs on all of them (232 -> 119 ms a 1080p pair
    on 2 cores) and half of them encode checkpoints and measure the report."""
    cores = max(1, len(os.sched_getaffinity(0)))
    if device.type == "cpu":
        return {"opencv": 1, "writers": 1}
    return {"opencv": cores, "writers": max(1, min(8, cores // 2))}


def resolve_batch(batch: int | str, device: torch.device) -> int:
    """'auto' -> streams per batch: 1 on the CPU, 4 on CUDA.

    On 2 CPU cores more streams gain little (bench_throughput: 1.05-1.14x for two streams at
    320 px, four no better), and one stream keeps resumed renders bit-identical; a GPU is idle
    without a batch."""
    if batch != "auto":
        return int(batch)
    return 4 if device.type == "cuda" else 1


# Whole-frame dreaming needs about 1.6 KB per input pixel (mobilenet_v2 to features.13, forward
# and backward: 3.3 GB peak at 1920x1080 with the model). Below 12 GiB tiles stay smaller.
WHOLE_TILE, SMALL_TILE, TILE_MEMORY = 1920, 1024, 12 * 2**30


def resolve_tile(tile: int | str, device: torch.device) -> int:
    """'auto' -> the tile side in pixels: 1920 (frames up to 1080p dream whole) where the CPU's
    RAM or the GPU's memory is at least 12 GiB, else 1024.

    Tiling is for memory only: a tiled 640x360 frame (the old fixed 512) cost 1.8x the steps of
    the whole frame (258 against 140 ms here), and the whole frame is the unapproximated dream."""
    if tile != "auto":
        return int(tile)
    return WHOLE_TILE if _memory_bytes(device) >= TILE_MEMORY else SMALL_TILE


@lru_cache(maxsize=None)
def _memory_bytes(device: torch.device) -> int:
    """RAM, or the GPU's memory: asked once, not for every frame's parameters."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def tile_batch(tile: int) -> int:
    """Tiles dreamed side by side: about 2 megapixels at once (4 of 512, 1 of 1920)."""
    return max(1, min(4, 2_100_000 // (tile * tile)))


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> the fastest precision that keeps the look, by measurement:
    bf16 autocast on a CPU with native bf16 (AVX512-BF16 or AMX): the sample clip at 640x360
    ran 0.47 s per frame against 0.56 s in fp32, the still config 15 % faster (a single 512x288
    step alone is a tie, see benchmarks/history.md); fp32 on other CPUs, where bf16 is emulated; bf16
    on a CUDA GPU whose tensor cores have it (Ampere on), else fp16."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        warn_once("dream.precision: bf16 has no hardware support on this CPU and runs about 30x slower than "
                  "fp32 here (auto picks fp32 on this CPU)")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return half_precision(device)
    return "bf16" if cpu_has_native_bf16() else "fp32"


@lru_cache(maxsize=None)
def warn_once(message: str) -> None:
    """One ``dreamreel: warning: ...`` line on stderr, the first time only."""
    print(f"dreamreel: warning: {message}", file=sys.stderr, flush=True)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the processor computes bf16 in hardware and torch may use it: the flags list
    AVX512-BF16 or AMX, and neither ATen's kernels nor oneDNN's are capped below AVX-512
    (``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``: then bf16 is emulated, 30x slower)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    if " avx512_bf16" not in flags and " amx_bf16" not in flags:
        return False
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if onednn and not (onednn.startswith("AVX512") or onednn.startswith("AVX10") or onednn in ("ALL", "DEFAULT")
                       or onednn.startswith("AMX")):
        return False
    return torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512")


def terms_of(dream: DreamConfig, t: int = 0, env: dict[str, float] | None = None) -> tuple[Term, ...]:
    """The objective terms of ``dream.layers`` ({"layer[:channel]": weight schedule}) at frame t."""
    out = []
    for key, weight in dream.layers.items():
        layer, channel = parse_layer_key(key)
        out.append(Term(layer, channel, weight.at(t, env)))
    return tuple(out)


def dream_params(dream: DreamConfig, device: torch.device, t: int = 0, env: dict[str, float] | None = None,
                 terms: tuple[Term, ...] | None = None, steps: int | None = None) -> DreamParams:
    """The engine's parameters for ``dream`` at frame ``t`` (schedules evaluated with ``env``);
    ``steps`` overrides the per-octave step count."""
    tile = resolve_tile(dream.tile, device)
    return DreamParams(
        terms=terms if terms is not None else terms_of(dream, t, env),
        octaves=int(dream.octaves.at(t, env)),
        octave_scale=dream.octave_scale.at(t, env),
        steps=int(dream.steps.at(t, env)) if steps is None else steps,
        step_size=dream.step_size.at(t, env),
        jitter=int(dream.jitter.at(t, env)),
        tile=tile,
        tile_overlap=dream.tile_overlap,
        tile_batch=tile_batch(tile),
        grad_norm=dream.grad_norm,
        laplacian_levels=dream.laplacian_levels,
        smooth=dream.smooth.at(t, env),
        precision=resolve_precision(dream.precision, device),
    )


def load_net(dream: DreamConfig, device: torch.device, layers: tuple[str, ...] | None = None) -> tuple[DreamNet, str]:
    """The network cut after the deepest layer the config uses (or of ``layers``, when given:
    the atlas dreams its own layer); returns (net, weights source)."""
    names = list(layers) if layers is not None else [parse_layer_key(k)[0] for k in dream.layers]
    # channels_last auto, where nothing measured it (a still, the API): the layout that won on
    # every CPU measured so far (bench_dream).
    net, source = load_dream_net(dream.model, names, dream.weights, device, channels_last=dream.channels_last is not False)
    if dream.compile:
        # Optional: pays a compile on the first frame of each size; needs a C++ compiler on the CPU.
        net.compile()
    return net, source


def load_guide(dream: DreamConfig, net: DreamNet, device: torch.device, side: int = 320) -> dict[str, torch.Tensor] | None:
    """Guide features of ``dream.guide`` (its long side resized to ``side`` pixels) for the
    layers the objective scores by energy; None when there is no guide."""
    if dream.guide is None:
        return None
    g = to_tensor(read_image(dream.guide), device)
    h, w = g.shape[-2:]
    s = side / max(h, w)
    g = resize(g, (max(32, round(h * s)), max(32, round(w * s))))
    return guide_features(net, g, [t.layer for t in terms_of(dream) if t.channel is None])


def frame_generator(seed: int, index: int) -> torch.Generator:
    """The random stream of frame ``index``: depends on (seed, index) only, so a resumed render
    draws exactly what an uninterrupted one would."""
    digest = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & ((1 << 63) - 1))


def fit_size(h: int, w: int, size: SizeConfig, even: bool = False, max_pixels: int | None = None) -> tuple[int, int]:
    """Output (h, w) for an (h, w) input under ``size``; aspect kept when one side is given.

    ``even`` rounds both to even numbers, as H.264 in yuv420p needs. ConfigError when the
    result has more than ``max_pixels`` pixels (a render that size would not fit in memory).
    """
    if size.width and size.height:
        oh, ow = size.height, size.width
    elif size.width:
        ow, oh = size.width, max(1, round(h * size.width / w))
    elif size.height:
        oh, ow = size.height, max(1, round(w * size.height / h))
    else:
        oh, ow = h, w
    if even:
        oh, ow = max(2, oh - oh % 2), max(2, ow - ow % 2)
    if max_pixels is not None and oh * ow > max_pixels:
        raise ConfigError(f"size: the render would be {ow}x{oh} ({oh * ow / 1e6:.0f} MP), over limits.max_pixels "
                          f"({max_pixels / 1e6:g} MP); set a smaller size.width or raise the limit")
    return oh, ow
