"""dreamreel: DeepDream for stills, video and infinite zoom loops.

The Python surface (see docs/guides/python.md); importing the package is cheap, and torch is
loaded only when something needs it:

- ``render(config, *, force=False, overrides=(), preview=None, **settings) -> dict``
- ``Dreamer(**dream_settings).dream_image(rgb, mask=None, frame=0, **changes) -> rgb``
- ``dream_image(rgb, mask=None, frame=0, **dream_settings) -> rgb``
- ``load_config(source, overrides=(), settings=None) -> Config``
- the errors: ``DreamreelError``, ``ConfigError``, ``MediaError``, ``OutputExistsError``
"""
from __future__ import annotations

from typing import Any

from dreamreel.errors import ConfigError, DreamreelError, MediaError, OutputExistsError

__version__ = "0.1.0"
__all__ = ["render", "timeline", "Dreamer", "dream_image", "load_config", "Config", "DreamreelError", "ConfigError",
           "MediaError", "OutputExistsError", "__version__"]

_LAZY = {"render": "dreamreel.api", "timeline": "dreamreel.api", "Dreamer": "dreamreel.api", "dream_image": "dreamreel.api",
         "load_config": "dreamreel.config", "Config": "dreamreel.config"}


def __getattr__(name: str) -> Any:
    # Lazy: `dreamreel render --help` and config errors should not wait for torch to import.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dreamreel' has no attribute {name!r}")
