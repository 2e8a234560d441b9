"""auto precision and memory layout: timed on the machine, kept in a cache keyed by what decides
them, obeyed when written out, and recorded in the manifest and --dry-run."""
from __future__ import annotations

import json
import math

import pytest
import torch

from dreamreel.cli import main
from dreamreel.speed import choices
from tests.conftest import SAMPLES, zoom_stopped_after


class Clock:
    """A virtual perf_counter: the fake steps advance it by exactly their time, so the trial's
    arithmetic is tested without the host's sleep overshoot (a loaded CI box slept a 4 ms step
    long enough to push a 3x-slower candidate past DROP)."""

    def __init__(self):
        self.now = 0.0
        self.share = 1.0  # of the cores the trial's threads get: 1 alone, less beside other work

    def perf_counter(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.now * self.share * torch.get_num_threads()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DREAMREEL_CHOICES", raising=False)  # the suite's rule: these tests measure
    return tmp_path / "cache" / "choices.json"


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(choices, "time", fake)
    return fake


class Net(torch.nn.Module):
    def forward(self, x):
        return x


def steps_taking(ms: dict[tuple[str, bool], float], calls: list):
    """A fake gradient step that takes ms[(precision, layout)] milliseconds of the virtual clock."""
    net = Net()

    def step(x, precision):
        last = net.layout
        calls.append((precision, last))
        choices.time.now += ms[(precision, last)] / 1000

    def to(memory_format):
        net.layout = memory_format == torch.channels_last
        return net

    net.to = to
    return net, step


def test_the_fastest_candidate_wins_and_a_far_slower_one_is_timed_once(cache, clock):
    calls: list = []
    ms = {("fp32", True): 4.0, ("fp32", False): 12.0, ("bf16", True): 60.0, ("bf16", False): 70.0}
    net, step = steps_taking(ms, calls)
    got = choices.time_candidates(net, step, list(ms), (1, 3, 8, 8), torch.device("cpu"))
    assert min(got, key=got.get) == ("fp32", True)
    # A warm-up and a step each; the close ones (within 3x of the best) 3 interleaved steps more.
    assert calls.count(("bf16", True)) == 2 and calls.count(("fp32", True)) == 5 and calls.count(("fp32", False)) == 5
    assert calls[-6:] == [("fp32", True), ("fp32", False)] * 3
    assert got[("fp32", False)] == pytest.approx(0.012)


def test_bf16_must_beat_fp32_by_more_than_timing_noise():
    assert choices.pick({("fp32", True): 0.0100, ("bf16", True): 0.0097, ("fp32", False): 0.02}) == ("fp32", True)
    assert choices.pick({("fp32", True): 0.0100, ("bf16", True): 0.0080}) == ("bf16", True)
    assert choices.pick({("fp32", True): math.inf, ("bf16", True): 0.0080}) == ("bf16", True)


def test_choose_measures_once_then_reads_the_cache_and_obeys_settings(cache, clock, monkeypatch):
    calls: list = []
    ms = {("fp32", True): 15.0, ("fp32", False): 3.0, ("bf16", True): 30.0, ("bf16", False): 30.0}
    trial = lambda: steps_taking(ms, calls)  # noqa: E731
    args = (torch.device("cpu"), "mobilenet_v2", ["features.13"], (360, 640))
    first = choices.choose("auto", "auto", *args, 10_000, ("bf16", True), trial)
    assert (first.precision, first.channels_last, first.how) == ("fp32", False, "measured")
    assert set(first.ms) == {"fp32+channels_last", "fp32", "bf16+channels_last", "bf16"}
    n = len(calls)
    again = choices.choose("auto", "auto", *args, 10_000, ("bf16", True), trial)
    assert (again.precision, again.channels_last, again.how) == ("fp32", False, "cache") and len(calls) == n
    # A size in another bucket, or the ISA capped in the environment, is another combination.
    assert choices.choose("auto", "auto", *args[:3], (720, 1280), 10_000, ("bf16", True), trial).how == "measured"
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert choices.choose("auto", "auto", *args, 10_000, ("bf16", True), trial).how == "measured"
    # Written out: obeyed, no trial. Too short to repay a trial: the rule.
    n = len(calls)
    assert choices.choose("bf16", True, *args, 10_000, ("bf16", True), trial).facts() == \
        {"precision": "bf16", "channels_last": True, "how": "set"}
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    short = choices.choose("auto", "auto", *args, 10, ("bf16", True), trial)
    assert (short.precision, short.how) == ("bf16", "rule") and len(calls) == n
    assert json.loads(cache.read_text())  # the file holds the measured choices


def test_a_trial_beside_other_work_is_used_but_not_cached(cache, clock):
    """Issue 38: a trial measured on a busy machine was cached and reused by every later render."""
    calls: list = []
    ms = {("fp32", True): 15.0, ("fp32", False): 3.0, ("bf16", True): 30.0, ("bf16", False): 30.0}
    args = (torch.device("cpu"), "mobilenet_v2", ["features.13"], (360, 640))
    clock.share = 0.5
    busy = choices.choose("auto", "auto", *args, 10_000, ("bf16", True), lambda: steps_taking(ms, calls))
    assert busy.precision == "fp32" and busy.how == "measured under load (cpu share 0.50), not cached"
    assert not cache.exists() or choices.read_cache() == {}
    clock.share = 1.0
    alone = choices.choose("auto", "auto", *args, 10_000, ("bf16", True), lambda: steps_taking(ms, calls))
    assert alone.how == "measured" and choices.read_cache()


def test_a_render_too_short_to_measure_takes_what_this_machine_measured_at_the_nearest_size(cache, clock, monkeypatch):
    calls: list = []
    # fp32 wins by far here, and the flag rule would say bf16: the short render must not guess.
    ms = {("fp32", True): 3.0, ("fp32", False): 9.0, ("bf16", True): 8.0, ("bf16", False): 8.0}
    trial = lambda: steps_taking(ms, calls)  # noqa: E731
    cpu = torch.device("cpu")
    assert choices.choose("auto", "auto", cpu, "mobilenet_v2", ["features.13"], (270, 480), 10_000,
                          ("bf16", True), trial).how == "measured"
    # Another record: the same model, a size farther off, another pick.
    choices.store(choices.machine_identity(cpu), "mobilenet_v2", ["features.13"], 1080, 1920,
                  choices.Choice("bf16", False, "measured"))
    n = len(calls)
    short = choices.choose("auto", "auto", cpu, "mobilenet_v2", ["inception_4c"], (360, 640), 10, ("bf16", True), trial)
    assert short.facts()["how"] == "nearby" and (short.precision, short.channels_last) == ("fp32", True)
    assert short.facts()["timed_at"] == [480, 270]  # its step_ms are that size's, not this one's
    big = choices.choose("auto", "auto", cpu, "mobilenet_v2", ["features.13"], (800, 1400), 10, ("bf16", True), trial)
    assert (big.precision, big.channels_last, big.how) == ("bf16", False, "nearby") and len(calls) == n
    # Not a pick the settings exclude (fp32 nearest, bf16 set: the farther bf16 record), not
    # another model's, not another machine's (an ISA cap in the environment): then the rule.
    only_bf16 = choices.choose("bf16", "auto", cpu, "mobilenet_v2", ["features.13"], (360, 640), 10,
                               ("bf16", True), trial)
    assert (only_bf16.precision, only_bf16.channels_last, only_bf16.how) == ("bf16", False, "nearby")
    assert choices.choose("auto", "auto", cpu, "googlenet", ["inception_4c"], (360, 640), 10, ("bf16", True),
                          trial).how == "rule"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert choices.choose("auto", "auto", cpu, "mobilenet_v2", ["features.13"], (360, 640), 10, ("fp32", True),
                          trial).how == "rule"
    assert len(calls) == n


def test_a_zoom_render_records_its_measured_choice_and_the_next_reads_it(tmp_path, cache, capsys):
    cfg = tmp_path / "z.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                   "size: {width: 48}\nzoom: {frames: 52, fps: 12, preset: ultrafast}\n"
                   "dream: {steps: 2, octaves: 1, jitter: 2}\n")
    assert main(["render", str(cfg), "--dry-run"]) == 0
    assert "precision: auto, timed at the first frame among fp32+channels_last" in capsys.readouterr().out
    assert main(["render", str(cfg)]) == 0
    got = json.loads((tmp_path / "z.mp4.manifest.json").read_text())["choices"]
    assert got["how"] == "measured" and len(got["step_ms"]) >= 2
    assert all(math.isfinite(v) and v > 0 for v in got["step_ms"].values())
    assert main(["render", str(cfg), "--force"]) == 0
    again = json.loads((tmp_path / "z.mp4.manifest.json").read_text())["choices"]
    assert again["how"] == "cache" and (again["precision"], again["channels_last"]) == (got["precision"], got["channels_last"])
    assert main(["render", str(cfg), "--dry-run"]) == 0
    assert "(measured earlier, " in capsys.readouterr().out
    assert main(["render", str(cfg), "--force", "dream.precision=fp32", "dream.channels_last=false"]) == 0
    assert json.loads((tmp_path / "z.mp4.manifest.json").read_text())["choices"]["how"] == "set"


def test_a_resumed_job_keeps_the_choice_of_its_first_run_whatever_the_cache_says_since(tmp_path, cache, monkeypatch):
    cfg = tmp_path / "z.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                   "size: {width: 48}\nzoom: {frames: 52, fps: 12, preset: ultrafast}\n"
                   "dream: {steps: 2, octaves: 1, jitter: 2}\n")
    with zoom_stopped_after(monkeypatch, 5):
        assert main(["render", str(cfg)]) == 130
    pinned = json.loads((tmp_path / "z.mp4.work" / "choices.json").read_text())
    assert pinned["how"] == "measured"
    # Meanwhile another render measured the opposite for this machine and size.
    data = json.loads(cache.read_text())
    for rec in data.values():
        rec["precision"] = "bf16" if pinned["precision"] == "fp32" else "fp32"
    cache.write_text(json.dumps(data))
    assert main(["render", str(cfg)]) == 0
    got = json.loads((tmp_path / "z.mp4.manifest.json").read_text())["choices"]
    assert got["how"] == "job" and (got["precision"], got["channels_last"]) == (pinned["precision"], pinned["channels_last"])


def test_a_still_uses_a_choice_measured_for_its_size_and_the_rule_respects_isa_caps(tmp_path, cache, monkeypatch):
    from dreamreel.modes.setup import cpu_has_native_bf16

    zoom = tmp_path / "z.yaml"
    zoom.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                    "size: {width: 48}\nzoom: {frames: 52, fps: 12, preset: ultrafast}\n"
                    "dream: {steps: 2, octaves: 1, jitter: 2}\n")
    assert main(["render", str(zoom)]) == 0
    measured = json.loads((tmp_path / "z.mp4.manifest.json").read_text())["choices"]
    still = tmp_path / "s.yaml"
    still.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 's.png'}\nsize: {{width: 48}}\n"
                     "dream: {steps: 2, octaves: 1, jitter: 2}\n")
    assert main(["render", str(still)]) == 0
    got = json.loads((tmp_path / "s.png.manifest.json").read_text())["choices"]
    assert got["how"] == "cache" and got["precision"] == measured["precision"]
    # The flag rule ignored an ISA cap in the environment and picked emulated bf16 (30x slower).
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    cpu_has_native_bf16.cache_clear()
    try:
        assert cpu_has_native_bf16() is False
    finally:
        cpu_has_native_bf16.cache_clear()


# --- a cache that is not one: never trusted, never fatal, never a hang ------------------------------

OPTIONS = [("fp32", True), ("fp32", False), ("bf16", True), ("bf16", False)]
IDENTITY = {"cpu": "test"}


def _read_in_child(env_cache: str, home: str | None = None) -> str:
    """read_cache() and cache_file() in a child under a time limit: a FIFO once hung the render."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = dict(os.environ, DREAMREEL_CACHE=env_cache)
    env.pop("XDG_CACHE_HOME", None)
    if home is not None:
        env["HOME"] = home
    code = "from dreamreel.speed import choices\nprint(len(choices.read_cache()), choices.cache_file())\n"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_a_fifo_deep_nesting_or_a_huge_file_in_the_cache_place_is_no_cache(tmp_path):
    import os

    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "choices.json")
    assert _read_in_child(str(fifo)).startswith("0 ")
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "choices.json").write_text("[" * 100_000 + "]" * 100_000)
    assert _read_in_child(str(nested)).startswith("0 ")
    huge = tmp_path / "huge"
    huge.mkdir()
    with open(huge / "choices.json", "wb") as f:  # sparse: 3 GB that take no disk
        f.truncate(3 << 30)
    assert _read_in_child(str(huge)).startswith("0 ")


def test_with_no_usable_home_there_is_no_cache_rather_than_one_at_the_root(tmp_path):
    assert _read_in_child("", home="") == "0 None"
    assert _read_in_child("", home="relative/dir") == "0 None"


def test_cache_records_with_nan_or_wrong_types_never_reach_the_manifest(cache, tmp_path):
    key = choices._key(IDENTITY, "m", ["l"], 64, 64)
    cache.parent.mkdir(parents=True)
    cache.write_text('{"%s": {"precision": "fp32", "channels_last": true, "ms": {"fp32": NaN}}}' % key)
    assert choices.lookup(IDENTITY, "m", ["l"], 64, 64, OPTIONS) is None  # not strict JSON: no cache
    cache.write_text(json.dumps({key: {"precision": "fp32", "channels_last": True,
                                       "ms": {"fp32+cl": 12.5, "bf16": -1, "x": "7", "y": True}}}))
    got = choices.lookup(IDENTITY, "m", ["l"], 64, 64, OPTIONS)
    assert got is not None and got.ms == {"fp32+cl": 12.5}
    cache.write_text(json.dumps({key: {"precision": "fp32", "channels_last": "yes"}}))
    assert choices.lookup(IDENTITY, "m", ["l"], 64, 64, OPTIONS) is None
    choices.store(IDENTITY, "m", ["l"], 64, 64, choices.Choice("fp32", True, "measured", {"a": float("nan")}))
    json.loads(cache.read_text(), parse_constant=lambda c: pytest.fail(f"{c} written"))


def test_the_trial_times_the_renders_batch_and_keys_the_cache_by_it(cache, clock, monkeypatch):
    shapes: list = []
    ms = {("fp32", True): 4.0, ("fp32", False): 12.0, ("bf16", True): 60.0, ("bf16", False): 70.0}
    net, step = steps_taking(ms, [])

    def recording(x, precision):
        shapes.append(tuple(x.shape))
        step(x, precision)

    trial = lambda: (net, recording)  # noqa: E731
    args = (torch.device("cpu"), "mobilenet_v2", ["features.13"], (8, 8))
    got = choices.choose("auto", "auto", *args, 100_000, ("bf16", True), trial, batch=4)
    assert got.how == "measured" and shapes and all(s[0] == 4 for s in shapes)
    # Batch 1 is another key: measured again, at batch 1.
    shapes.clear()
    assert choices.choose("auto", "auto", *args, 100_000, ("bf16", True), trial).how == "measured"
    assert shapes and all(s[0] == 1 for s in shapes)
    assert choices.choose("auto", "auto", *args, 100_000, ("bf16", True), trial, batch=4).how == "cache"


def test_a_gpus_identity_holds_its_cuda_cudnn_and_driver_versions(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU 80GB")
    ident = choices.machine_identity(torch.device("cuda", 0))
    assert ident["gpu"] == "Fake GPU 80GB" and {"cuda", "cudnn", "driver"} <= set(ident)
    assert "cuda" not in choices.machine_identity(torch.device("cpu"))  # CPU keys as before


def test_a_candidate_out_of_memory_is_dropped_and_none_fitting_is_the_rule(cache, clock):
    """fp32 at 1080p x 4 may not fit where bf16 does: the trial goes on without it. When nothing
    fits, the rule, and nothing is cached."""
    ms = {("fp32", True): 4.0, ("fp32", False): 12.0, ("bf16", True): 6.0, ("bf16", False): 70.0}
    net, step = steps_taking(ms, [])

    def oom_for(bad):
        def run(x, precision):
            if precision in bad:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 13.00 GiB")
            step(x, precision)
        return lambda: (net, run)

    args = (torch.device("cpu"), "mobilenet_v2", ["features.13"], (8, 8), 100_000, ("fp32", True))
    got = choices.choose("auto", "auto", *args, oom_for({"fp32"}))
    assert got.how == "measured" and got.precision == "bf16" and set(got.ms) == {"bf16+channels_last", "bf16"}
    cache.unlink()
    none = choices.choose("auto", "auto", *args, oom_for({"fp32", "bf16"}))
    assert none.how == "rule" and (none.precision, none.channels_last) == ("fp32", True) and not cache.exists()


def test_the_trial_steps_go_through_the_tiles(tmp_path, monkeypatch):
    """The trial of a render whose frames exceed the tile side times tiled steps, as the render
    dreams them: no pass of the whole untiled batch."""
    from dreamreel.config import load_config
    from dreamreel.modes.context import picture_context

    cfg_path = tmp_path / "s.yaml"
    cfg_path.write_text(f"mode: still\noutput: {tmp_path}/o.png\ndream: {{tile: 64, tile_overlap: 16, steps: 1}}\n")
    ctx = picture_context(load_config(cfg_path))
    seen = []
    real_forward = ctx.net()[0].forward
    monkeypatch.setattr(ctx.net()[0], "forward", lambda x: (seen.append(tuple(x.shape[-2:])), real_forward(x))[1])
    captured = {}

    def choose(*a, **k):
        captured["trial"] = a[8]
        return choices.Choice("fp32", True, "rule")

    monkeypatch.setattr(choices, "choose", choose)
    ctx.tune((96, 160), 10_000, batch=2)
    net, step = captured["trial"]()
    step(torch.rand(2, 3, 96, 160), "fp32")
    assert seen and all(h <= 64 and w <= 64 for h, w in seen)
