"""Progress bars: tqdm on a terminal, silent otherwise (CI logs, pipes)."""
from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int, unit: str, desc: str, initial: int = 0) -> tqdm:
    """A tqdm bar over ``total`` units starting at ``initial``; disabled when stderr is no terminal."""
    return tqdm(total=total, initial=initial, unit=unit, desc=desc, dynamic_ncols=True,
                disable=not sys.stderr.isatty(), leave=False)
