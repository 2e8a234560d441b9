"""The benchmark and figure scripts refuse an odd argument the way argparse does: a usage line, the
argument named, exit 2. Every one but one ended in a traceback (``--cores 0``, ``--width 0``,
``--clips zzzz``, ``--frames 0``, a missing ``--clip``), or printed an empty table with exit 0."""
from __future__ import annotations

import importlib
import sys

import pytest

from tests.conftest import ROOT

CASES = [
    ("scripts.bench_loop", ["--frames", "0"], "--frames"),
    ("scripts.bench_loop", ["--clip", "/no/such.mp4"], "file not found"),
    ("scripts.bench_loop", ["--width", "abc"], "not a whole number"),
    ("scripts.bench_pipeline", ["--cores", "0"], "must be 1 or more"),
    ("scripts.bench_pipeline", ["--cores", "999"], "this machine gives the process"),
    ("scripts.bench_pipeline", ["--sizes", "640"], "WIDTHxHEIGHT"),
    ("scripts.bench_coherence", ["--clips", "zzzz"], "matches none of"),
    ("scripts.bench_coherence", ["--width", "0"], "--width"),
    ("scripts.bench_seams", ["--prerolls", "4,-1"], "must be 0 or more"),
    ("scripts.bench_seams", ["--clips", "zzzz"], "matches none of"),
    ("scripts.bench_dream", ["--steps", "0"], "--steps"),
    ("scripts.bench_compile", ["--rounds", "-2"], "--rounds"),
    ("scripts.bench_choices", ["--frames", "0"], "--frames"),
    ("scripts.bench_scaleout", ["--frames", "0"], "--frames"),
    ("scripts.bench_views", ["--runs", "0"], "--runs"),
    ("scripts.bench_gpu", ["--device", "gpu"], "cpu, cuda or cuda:N"),
    ("scripts.bench_gpu", ["--frames", "0"], "--frames"),
    ("scripts.bench_beats", ["--seconds", "nan"], "above 0"),
    ("scripts.bench_beats", ["--only", "nosuch"], "nosuch"),
    ("docs.make_figures", ["--check", "--only", "nosuch.png"], "not a figure"),
]


@pytest.mark.parametrize("module,args,needle", CASES, ids=[f"{m.split('.')[-1]} {' '.join(a)}" for m, a, _ in CASES])
def test_an_odd_argument_is_argparses_exit_2(module, args, needle, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setattr(sys, "argv", [module, *args])
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and needle in err and "Traceback" not in err, err
