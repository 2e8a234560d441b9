"""Gradient ascent on the image over octaves: the DeepDream loop itself."""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from dreamreel.dream.gradient import gaussian_blur, normalize_laplacian, normalize_mean_abs
from dreamreel.dream.objective import Term, objective
from dreamreel.dream.tiles import tiled
from dreamreel.dream.upload import device_values

MIN_OCTAVE_SIDE = 32  # pixels; smaller octaves carry no structure worth dreaming


@dataclass(frozen=True)
class DreamParams:
    """The numbers one dream needs. Distances in pixels, step_size in [0,1] RGB units."""

    terms: tuple[Term, ...]
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    step_size: float | tuple[float, ...] | torch.Tensor = 0.015  # a tuple: one per sample of the batch
    jitter: int = 32
    tile: int = 512
    tile_overlap: int = 64
    tile_batch: int = 4
    grad_norm: str = "mean"  # "mean" | "laplacian"
    laplacian_levels: int = 4
    smooth: float = 0.5
    precision: str = "fp32"  # "fp32" | "bf16" | "fp16"


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def image_gradient(
    img: torch.Tensor,
    net: torch.nn.Module,
    terms: tuple[Term, ...],
    guide: dict[str, torch.Tensor] | None = None,
    precision: str = "fp32",
) -> tuple[torch.Tensor, torch.Tensor]:
    """d objective / d img for img [B,3,H,W] in [0,1]; returns (gradient [B,3,H,W] fp32, objective [B])."""
    x = img.detach().requires_grad_(True)
    with _autocast(img.device, precision):
        acts = net(x)
    value = objective(acts, terms, guide)
    # fp16 gradients underflow; a constant scale is harmless because the step normalises them.
    scale = 1024.0 if precision == "fp16" else 1.0
    (grad,) = torch.autograd.grad(value.sum() * scale, x)
    return grad.float(), value.detach()


Generators = torch.Generator | list[torch.Generator]


def _offsets(generator: Generators, n: int, span: int) -> list[tuple[int, int]]:
    """One (dy, dx) roll per sample: from its own generator when given a list, so a frame's
    jitter does not depend on which other frames share its batch."""
    gens = generator if isinstance(generator, list) else [generator]
    if span <= 0:
        return [(0, 0)] * n
    if len(gens) == 1:
        oy, ox = torch.randint(-span, span + 1, (2,), generator=gens[0]).tolist()
        return [(oy, ox)] * n
    assert len(gens) == n, "one generator per sample"
    return [tuple(torch.randint(-span, span + 1, (2,), generator=g).tolist()) for g in gens]


def _roll(img: torch.Tensor, offsets: list[tuple[int, int]], sign: int = 1) -> torch.Tensor:
    if all(o == offsets[0] for o in offsets):
        oy, ox = offsets[0]
        return torch.roll(img, shifts=(sign * oy, sign * ox), dims=(2, 3)) if (oy or ox) else img
    return torch.stack([torch.roll(img[i], shifts=(sign * oy, sign * ox), dims=(1, 2))
                        for i, (oy, ox) in enumerate(offsets)])


def ascent_step(
    img: torch.Tensor,
    net: torch.nn.Module,
    params: DreamParams,
    generator: Generators,
    guide: dict[str, torch.Tensor] | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One normalised gradient step on img [B,3,H,W] in [0,1]; returns (new img, objective [B] or None).

    The image is rolled by a random offset (jitter) first, which also moves the tile grid, so
    neither the network's stride pattern nor tile seams stay in one place. ``generator`` is one
    generator for the batch or a list with one per sample. ``mask`` [B or 1,1,H,W] in [0,1]
    weighs the step per pixel: where it is 0 the image does not change at all.
    """
    h, w = img.shape[-2:]
    span = params.jitter if (h <= params.tile and w <= params.tile) else max(params.jitter, params.tile // 2)
    offsets = _offsets(generator, img.shape[0], span)
    rolled = _roll(img, offsets)
    values: list[torch.Tensor] = []

    params = on_device(params, img.device)  # a no-op inside ``dream``, which did it once
    per_sample = any(t.per_sample for t in params.terms)

    def grad_of(batch: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        terms = tuple(t.pick(rows) for t in params.terms) if per_sample and rows is not None else params.terms
        g, v = image_gradient(batch, net, terms, guide, params.precision)
        values.append(v)
        return g

    g = tiled(grad_of, rolled, params.tile, params.tile_overlap, params.tile_batch)
    g = _roll(g, offsets, sign=-1)
    g = gaussian_blur(g, params.smooth)
    if params.grad_norm == "laplacian":
        g = normalize_laplacian(g, params.laplacian_levels)
    else:
        g = normalize_mean_abs(g)
    if mask is not None:
        g = g * mask
    step = params.step_size
    if isinstance(step, torch.Tensor):
        step = step.to(img.dtype).view(-1, 1, 1, 1)
    out = (img + step * g).clamp_(0.0, 1.0)
    if mask is not None:
        # Clamping cannot move a masked-out pixel: it is already in [0,1] and its step is 0.
        out = torch.where(mask > 0, out, img)
    value = values[0] if len(values) == 1 else None
    return out, value


def on_device(params: DreamParams, device: torch.device) -> DreamParams:
    """``params`` with its per-sample tuples (step sizes, term weights and channels) as tensors on
    ``device``, made once for a whole dream: a tuple turned into a tensor at every step was a
    blocking copy to the GPU, twice a step. Params without tuples come back as they are."""
    tuples = isinstance(params.step_size, tuple) or any(
        isinstance(t.channel, tuple) or isinstance(t.weight, tuple) for t in params.terms)
    if not tuples:
        return params
    step = params.step_size
    if isinstance(step, tuple):
        step = device_values(step, device, torch.float32)
    return dataclasses.replace(params, step_size=step, terms=tuple(t.on_device(device) for t in params.terms))


def batch_key(params: DreamParams) -> DreamParams:
    """``params`` with the step size and the terms' weights set aside: frames whose keys agree
    dream in one batch, each with its own step size and weights (``batched``), so settings
    scheduled over time or the music do not split a batch into frames of one."""
    return dataclasses.replace(params, step_size=0.0,
                               terms=tuple(Term(t.layer, t.channel, 0.0) for t in params.terms))


def batched(each: list[DreamParams]) -> DreamParams:
    """One DreamParams for a batch whose samples have ``each`` (all of one ``batch_key``): step
    sizes and term weights become per-sample tuples where they differ."""
    first = each[0]
    steps = tuple(float(p.step_size) for p in each)
    terms = []
    for i, t in enumerate(first.terms):
        weights = tuple(float(p.terms[i].weight) for p in each)
        terms.append(Term(t.layer, t.channel, weights if len(set(weights)) > 1 else weights[0]))
    return dataclasses.replace(first, step_size=steps if len(set(steps)) > 1 else steps[0], terms=tuple(terms))


def total_steps(h: int, w: int, params: DreamParams) -> int:
    """How many ascent steps ``dream`` takes on an (h, w) image."""
    return params.steps * len(octave_sizes(h, w, params.octaves, params.octave_scale))


def octave_sizes(h: int, w: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """(h, w) of each octave, smallest first, ending at the full size; tiny octaves are dropped."""
    sizes = []
    for i in range(octaves - 1, -1, -1):
        sh, sw = round(h / scale**i), round(w / scale**i)
        if i == 0 or min(sh, sw) >= MIN_OCTAVE_SIDE:
            sizes.append((sh, sw))
    return sizes


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of [B,C,H,W] to ``size`` (h, w), antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def dream(
    x: torch.Tensor,
    net: torch.nn.Module,
    params: DreamParams,
    generator: Generators,
    guide: dict[str, torch.Tensor] | None = None,
    trace: list[torch.Tensor] | None = None,
    on_step: Callable[[], None] | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Dream x [B,3,H,W] in [0,1] over octaves; returns the dreamed image, same shape, in [0,1].

    Each octave dreams a downscaled copy of x plus the detail dreamed so far, then hands the
    detail (dream minus its base) up to the next, larger octave. ``generator``: one for the
    batch, or a list with one per sample (per-frame randomness in a batch of frames). ``trace`` collects the
    objective [B] of each untiled step (for tests and diagnostics); ``on_step`` is called after
    every step (progress bars). ``mask`` [B or 1,1,H,W] in [0,1] weighs every step of every
    octave (resized to it): 1 dreams, 0 keeps x exactly, grey in between.
    """
    if params.steps == 0:
        return x.clone()
    params = on_device(params, x.device)
    h, w = x.shape[-2:]
    detail: torch.Tensor | None = None
    img = x
    for size in octave_sizes(h, w, params.octaves, params.octave_scale):
        base = resize(x, size)
        detail = torch.zeros_like(base) if detail is None else resize(detail, size)
        m = None if mask is None else resize(mask, size)
        if m is not None:
            detail = detail * m  # upsampling spreads detail across the mask's edge: take it back
        img = (base + detail).clamp(0.0, 1.0)
        for _ in range(params.steps):
            img, value = ascent_step(img, net, params, generator, guide, m)
            if trace is not None and value is not None:
                trace.append(value)
            if on_step is not None:
                on_step()
        detail = img - base
    return img
