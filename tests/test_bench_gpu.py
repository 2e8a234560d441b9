"""scripts/bench_gpu.py cannot rot: its --cpu-smoke run (the same code on the CPU, tiny sizes)
prints every kind of row it prints on a GPU."""
from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_the_gpu_benchmark_runs_on_the_cpu_and_prints_its_rows():
    proc = subprocess.run([sys.executable, "scripts/bench_gpu.py", "--cpu-smoke"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = re.findall(r"^\| 64x36 \| (\d) \| (fp32|bf16) \| ([\d.]+) \| ([\d.]+) \| - \|$", proc.stdout, re.M)
    assert {(b, p) for b, p, _, _ in steps} == {("1", "fp32"), ("2", "fp32"), ("1", "bf16"), ("2", "bf16")}
    assert all(float(ms) > 0 for _, _, ms, _ in steps)
    render = re.search(r"^\| 64x36 \| 4 \| ([\d.]+) \| (\d+)% \|", proc.stdout, re.M)
    assert render and float(render.group(1)) > 0 and 0 < int(render.group(2)) <= 100
    assert "Whole run:" in proc.stdout
