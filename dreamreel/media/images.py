"""Reading and writing still images, with the conversion to and from tensors at this edge."""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from dreamreel.errors import MediaError
from dreamreel.media.atomic import atomic_write_bytes, require_readable
from dreamreel.media.probe import DEFAULT_MAX_PIXELS, check_pixels


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) an image file declares in its header, read without decoding the pixels;
    None when the format is not one Pillow knows.

    Goes through Pillow's format registry directly rather than ``Image.open``, whose own bomb
    check would refuse before telling the size (and is tuned by a process-wide setting we
    must not change under a host application)."""
    from PIL import Image

    Image.init()
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            if accept is not None and not accept(prefix):
                continue
            fp.seek(0)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    im = factory(fp, str(path))
                return im.size
            except Exception:  # not this format (or a damaged header): try the next one
                continue
    return None


def read_image(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read any common image as RGB uint8 [H,W,3]: grayscale, RGBA (over black) and 16-bit included.

    MediaError when the header declares more than ``max_pixels`` (checked before decoding, so a
    small file that would unpack to gigabytes is refused at once)."""
    path = require_readable(path, "an image")
    size = image_size(path)
    if size is not None:
        check_pixels(path, size[0], size[1], max_pixels)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise MediaError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:  # OpenCV's own limits (a header it refuses): not an image we can read
        img = None
    if img is None:
        raise MediaError(f"{path}: not a readable image (empty, truncated or not an image format)")
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32) * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = cv2.cvtColor((img[:, :, :3] * alpha).round().astype(np.uint8), cv2.COLOR_BGR2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(img)


# A checkpoint PNG: zlib level 1 with run-length matching only. On dreamed 640x360 frames it
# took 14 ms against 25 at level 3, and came out 1.5 % smaller: a dream's fine texture leaves
# deflate's long-range matches little to find. It is written for every frame beside the dream,
# a carried frame (video.cadence) too, whose other host work is a few tens of ms. One filter
# (the average of left and up) rather than libpng choosing per row among all five: 9.6 ms
# against 15.6 a dreamed 640x360 frame, the same size (562 KB both; none 685, sub/up 600).
# (OpenCV before 4.10 has no filter setting: it chooses per row there.)
CHECKPOINT_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
                  *([cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG] if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])]


def encode_image(rgb: np.ndarray, suffix: str, checkpoint: bool = False) -> bytes:
    """Encode RGB uint8 [H,W,3] as PNG or JPEG (quality 95) bytes; ``checkpoint``: a PNG encoded
    for speed (CHECKPOINT_PNG), still lossless."""
    ext = suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else \
        CHECKPOINT_PNG if checkpoint else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext if ext != ".jpeg" else ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise MediaError(f"cannot encode an image as {ext}")
    return buf.tobytes()


def write_image(path: Path, rgb: np.ndarray) -> None:
    """Write RGB uint8 [H,W,3] to ``path`` (format from its suffix), atomically."""
    atomic_write_bytes(Path(path), encode_image(rgb, Path(path).suffix))


def to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """RGB uint8 [H,W,3] -> float32 [1,3,H,W] in [0,1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def float_to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """RGB float32 [H,W,3] in [0,1] -> [1,3,H,W] on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).to(device).permute(2, 0, 1).unsqueeze(0)


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """[1,3,H,W] or [3,H,W] in [0,1] -> uint8 [3,H,W] on x's device: the 8 bits a frame is
    written with, rounded once here for every writer."""
    if x.dim() == 4:
        x = x[0]
    return x.detach().clamp(0, 1).mul(255).round_().to(torch.uint8)


def to_rgb8(x: torch.Tensor) -> np.ndarray:
    """[1,3,H,W] or [3,H,W] in [0,1] -> RGB uint8 [H,W,3] on the host."""
    return quantize8(x).permute(1, 2, 0).cpu().numpy()
