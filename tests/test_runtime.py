"""Process-wide CPU settings: freed memory kept in the process, the tile side chosen by memory."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from dreamreel.config import load_config
from dreamreel.dream.engine import octave_sizes
from dreamreel.modes.setup import dream_params, resolve_tile, tile_batch
from tests.conftest import ROOT

# Allocate and free a 64 MB tensor 16 times; print the page faults of the last eight. (The first few
# reuses miss by the alignment slack of posix_memalign until freed neighbours coalesce.)
FAULTS = """
import resource, sys, torch
sys.path.insert(0, sys.argv[1])
from dreamreel.runtime import retain_freed_memory
if sys.argv[2] == "retain":
    assert retain_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(16):
    if i == 8:
        start = faults()
    torch.empty(16 * 2**20).fill_(1.0)
print(faults() - start)
"""


def child_faults(mode: str) -> int:
    proc = subprocess.run([sys.executable, "-c", FAULTS, str(ROOT), mode], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_retained_memory_is_not_faulted_back_in_on_every_allocation():
    # 8 x 64 MB is 131072 pages of 4 KiB: without retaining, each allocation is mapped afresh.
    assert child_faults("system") > 100_000
    assert child_faults("retain") < 5_000


def test_auto_tile_dreams_a_video_frame_whole_and_a_4k_frame_in_tiles():
    cpu = torch.device("cpu")
    side = resolve_tile("auto", cpu)
    assert side in (1024, 1920)
    params = dream_params(load_config({"output": "o.png"}).dream, cpu)
    assert params.tile == side and params.tile_batch == tile_batch(side)
    h, w = octave_sizes(360, 640, 1, 1.4)[-1]
    assert max(h, w) <= params.tile  # 640x360 goes through whole: no tile seams, no overlap paid
    assert max(2160, 3840) > params.tile  # 4K is tiled, a tile or two at a time
    assert tile_batch(1920) == 1 and tile_batch(512) == 4
    assert resolve_tile(512, cpu) == 512
