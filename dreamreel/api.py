"""dreamreel from Python: render a config, or dream one picture with a network kept loaded.

The same validation and the same typed errors as the ``dreamreel render`` command: a bad setting raises
ConfigError with the message the CLI would print; a bad file raises MediaError.

    import dreamreel
    manifest = dreamreel.render("configs/clip.yaml", output="renders/take2.mp4", dream={"steps": 6})
    dreamer = dreamreel.Dreamer(layers={"features.13": 1.0})
    out = dreamer.dream_image(rgb, steps=8)        # HxWx3 uint8 in, HxWx3 uint8 out
"""
from __future__ import annotations

import json
import threading
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from dreamreel.config import Config, DreamConfig, LimitsConfig, load_config
from dreamreel.errors import ConfigError

# The most pixels a picture handed to dream_image may have: the config's default limit.
MAX_PIXELS = LimitsConfig().max_pixels


def render(config: str | Path | dict | Config, *, force: bool = False, overrides: list[str] | tuple[str, ...] = (),
           preview: int | None = None, preview_at: str | None = None, **settings: Any) -> dict:
    """Render ``config`` (a YAML path, a dict or a Config) and return its manifest as a dict.

    ``settings`` are top-level config keys merged over it (``output="x.mp4"``,
    ``dream={"steps": 3}`` keeps the other dream settings); ``overrides`` are dotted strings as
    on the command line (``"dream.steps=3"``). ``force`` and ``preview`` are the CLI's
    ``--force``, ``--preview N`` and ``--preview-at MOMENTS`` (a preview returns its facts: it
    writes no manifest).
    Raises ConfigError, MediaError or OutputExistsError (all DreamreelError); KeyboardInterrupt
    stops cleanly and the same call resumes.
    """
    from dreamreel.jobs.outputs import manifest_path
    from dreamreel.modes.run import run_render

    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"render(overrides=...): a list of 'dotted.key=value' strings, got {overrides!r:.80}")
    if preview is not None and (not _is_int(preview) or preview < 1):
        raise ConfigError(f"render(preview=...): every how many frames to preview, a whole number from 1; "
                          f"got {preview!r:.40}")
    if preview_at is not None and (not isinstance(preview_at, str) or preview is not None):
        raise ConfigError(f"render(preview_at=...): moments as one string ('12.5, f120, beat:64'), without "
                          f"preview=; got {preview_at!r:.40}")
    cfg = load_config(config, overrides, settings, name="render")
    facts = run_render(cfg, force=force, preview=preview, preview_at=preview_at)
    if preview is not None or preview_at is not None:
        return facts
    return json.loads(manifest_path(cfg.output).read_text())


def timeline(config: str | Path | dict | Config, *, overrides: list[str] | tuple[str, ...] = (),
             force: bool = False, **settings: Any) -> dict:
    """``dreamreel timeline CONFIG``: write OUTPUT.timeline.json/.html/.png (and the beats and
    onsets as label tracks) without dreaming; returns the timeline's data (the JSON, as a dict)."""
    from dreamreel.jobs.outputs import sidecar
    from dreamreel.inspect.timeline import render_timeline

    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"timeline(overrides=...): a list of 'dotted.key=value' strings, got {overrides!r:.80}")
    cfg = load_config(config, overrides, settings, name="timeline")
    render_timeline(cfg, force=force)
    return json.loads(sidecar(cfg.output, ".timeline.json").read_text())


class Dreamer:
    """Dreams single pictures with one network kept loaded across calls (a node in a host
    application should not reload weights per frame).

    ``settings`` are ``dream:`` keys (model, layers, steps, octaves, step_size, jitter, seed,
    device, precision, guide, mask_feather, ...), validated as the config validates them; each
    ``dream_image`` call may change any of them. Networks are cached per (model, layers, weights,
    device), so switching back and forth costs nothing after the first time.
    """

    def __init__(self, **settings: Any) -> None:
        self._base = dict(settings)
        self._nets: dict[tuple, Any] = {}
        self._guides: dict[tuple, Any] = {}
        self._masks: dict[tuple, np.ndarray] = {}
        self._settings: dict[str, DreamConfig] = {}
        # Several threads may share one Dreamer: the caches are filled under this lock (and
        # networks load under load_net's own), the dreams themselves run side by side.
        self._lock = threading.RLock()
        self.settings(**settings)  # fail now on a bad setting, not at the first picture

    def settings(self, **changes: Any) -> DreamConfig:
        """The validated dream settings with ``changes`` applied (ConfigError naming the key)."""
        merged = {**self._base, **changes}
        key = json.dumps(merged, default=str)  # keys in the order given: a schedule may mix 0 and "0:02"
        with self._lock:
            if key not in self._settings:
                cfg = load_config({"output": "dream_image.png", "dream": merged}, name="dream_image")
                for dotted, sched in cfg.schedules().items():
                    if sched.marks:  # a picture has frame numbers, not a clock or a beat map
                        raise ConfigError(f"dream_image: {dotted}: key {sched.marks[0][0].text!r}: a picture is keyed "
                                          "by frame number (keys by time, beat or bar need a render's rate and beats)")
                if len(self._settings) > 64:  # a host sweeping a setting: keep the cache small
                    self._settings.clear()
                self._settings[key] = cfg.dream
            return self._settings[key]

    def dream_image(self, rgb: np.ndarray, mask: np.ndarray | None = None, frame: int = 0,
                    **changes: Any) -> np.ndarray:
        """Dream ``rgb`` (H x W x 3 uint8) and return the same shape and type.

        ``mask`` (H x W, or H x W x 1/3: uint8 0-255, uint16 0-65535, bool, other integers 0-255,
        or float 0-1; white dreams, black keeps the source) weighs every step, so black stays the
        source exactly; without it the settings' ``mask`` file is used, and ``mask_invert``
        applies to either. ``frame`` (a whole number >= 0) picks the random stream (jitter): the
        same frame number and settings give the same picture. ``changes`` override settings for
        this call only. Bad arguments raise ConfigError; a picture over 100 megapixels is refused.
        """
        import torch

        from dreamreel.dream import dream
        from dreamreel.media.images import to_rgb8, to_tensor
        from dreamreel.speed.gpu import cuda_settings
        from dreamreel.modes.setup import dream_params, frame_generator, load_guide, load_net, resolve_device

        rgb = _check_rgb(rgb)
        if not _is_int(frame) or frame < 0:
            raise ConfigError(f"dream_image: frame must be a whole number >= 0, got {frame!r:.40}")
        frame = int(frame)
        d = self.settings(**changes)
        device = resolve_device(d.device)
        key = (d.model, tuple(sorted(d.layers)), d.weights, str(device), d.channels_last, d.compile)
        gkey = (key, str(d.guide))
        with self._lock:
            if key not in self._nets:
                self._nets[key] = load_net(d, device)[0]
            net = self._nets[key]
            if gkey not in self._guides:
                self._guides[gkey] = load_guide(d, net, device)
            guide = self._guides[gkey]
        weights = None
        if mask is not None:
            weights = _check_mask(mask, rgb.shape[:2], d.mask_invert, d.mask_feather)
        elif d.mask is not None:
            # Read once per file and size, not on every call (a host dreams frame after frame).
            mkey = (str(d.mask), rgb.shape[:2], d.mask_invert, d.mask_feather)
            with self._lock:
                if mkey not in self._masks:
                    if len(self._masks) > 16:
                        self._masks.clear()
                    self._masks[mkey] = _file_mask(d.mask, rgb.shape[:2], d.mask_invert, d.mask_feather)
                weights = self._masks[mkey]
        m = None if weights is None else torch.from_numpy(weights).to(device)[None, None]
        # cuDNN's flags for a bit-repeatable picture, and the host application's own back after.
        with cuda_settings(device, 1):
            y = dream(to_tensor(rgb, device), net, dream_params(d, device, frame), frame_generator(int(d.seed.at(frame)), frame),
                      guide, mask=m)
        return to_rgb8(y)


_DEFAULT: Dreamer | None = None


def dream_image(rgb: np.ndarray, mask: np.ndarray | None = None, frame: int = 0, **settings: Any) -> np.ndarray:
    """Dream one H x W x 3 uint8 picture with ``settings`` (``dream:`` keys); returns the same.

    Uses one shared Dreamer, so the network is loaded once per process and reused."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Dreamer()
    return _DEFAULT.dream_image(rgb, mask=mask, frame=frame, **settings)


def _is_int(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool)


def _check_rgb(rgb: Any) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"dream_image: expected an H x W x 3 uint8 array, got {arr.dtype} of shape {arr.shape}")
    if min(arr.shape[:2]) < 8:
        raise ConfigError(f"dream_image: the picture is {arr.shape[1]}x{arr.shape[0]}; each side needs 8 pixels or more")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ConfigError(f"dream_image: the picture is {arr.shape[1]}x{arr.shape[0]}, over the "
                          f"{MAX_PIXELS // 1_000_000} megapixel limit")
    return np.ascontiguousarray(arr)


def _check_mask(mask: Any, size: tuple[int, int], invert: bool, feather: float) -> np.ndarray:
    """A mask array as float32 [0,1] at ``size`` (H, W), inverted and feathered like a config
    mask. Its scale comes from its type: uint8 /255, uint16 /65535, bool 0/1, other integers
    0-255 (refused outside it), floats 0-1 (clipped)."""
    from dreamreel.media.mask import shape_mask

    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[2] in (1, 3):
        arr = arr[..., 0]
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ConfigError(f"dream_image: mask must be H x W with both sides at least 1, got shape {arr.shape}")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ConfigError(f"dream_image: the mask is {arr.shape[1]}x{arr.shape[0]}, over the "
                          f"{MAX_PIXELS // 1_000_000} megapixel limit")
    if arr.dtype == np.bool_:
        gray = arr.astype(np.float32)
    elif arr.dtype == np.uint16:
        gray = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.dtype != np.uint8 and (arr.min() < 0 or arr.max() > 255):
            raise ConfigError(f"dream_image: an {arr.dtype} mask is read as 0-255, but it holds values from "
                              f"{arr.min()} to {arr.max()}; pass uint8, uint16 or floats in 0-1")
        gray = arr.astype(np.float32) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        gray = np.nan_to_num(arr.astype(np.float32), nan=0.0)
    else:
        raise ConfigError(f"dream_image: mask must be numbers, got {arr.dtype}")
    rgb = (np.clip(gray, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None].repeat(3, axis=2)
    return shape_mask(rgb, size, invert, feather)


def _file_mask(path: Path, size: tuple[int, int], invert: bool, feather: float) -> np.ndarray:
    """The settings' ``mask`` file (an image, or a video's first frame) at ``size``; MediaError
    when it is missing or unreadable."""
    from fractions import Fraction

    from dreamreel.media.mask import open_mask

    track = open_mask(path, size, Fraction(1), 0, invert, feather, MAX_PIXELS)
    assert track is not None
    with track:
        return track.at(0)
