"""CUDA paths: run only where a GPU is present (skipped on the CPU-only CI)."""
from __future__ import annotations

import pytest
import torch

from dreamreel.dream import DreamParams, Term, dream
from dreamreel.models.net import load_dream_net
from dreamreel.modes.setup import resolve_batch, resolve_device, resolve_precision

cuda = pytest.mark.cuda  # skipped without a GPU; the only tests that may use one (conftest.py)


@cuda
def test_auto_picks_cuda_with_mixed_precision_and_batches():
    dev = resolve_device("auto")
    assert dev.type == "cuda"
    assert resolve_precision("auto", dev) in ("bf16", "fp16")
    assert resolve_batch("auto", dev) == 4


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_dream_on_the_gpu_matches_the_cpu_look(small_photo, precision):
    params = DreamParams(terms=(Term("features.13"),), octaves=2, steps=4, step_size=0.02, jitter=4,
                         precision=precision)
    out = {}
    for name in ("cpu", "cuda"):
        dev = torch.device(name)
        net, _ = load_dream_net("mobilenet_v2", ["features.13"], None, dev, channels_last=True)
        y = dream(small_photo.to(dev), net, params if name == "cuda" else
                  DreamParams(**{**params.__dict__, "precision": "fp32"}), torch.Generator().manual_seed(0))
        assert y.device.type == name
        out[name] = y.cpu()
    s_cpu = (out["cpu"] - small_photo).abs().mean()
    s_gpu = (out["cuda"] - small_photo).abs().mean()
    assert 0.8 < s_gpu / s_cpu < 1.25


@cuda
def test_compile_flag_runs(small_photo):
    from dreamreel.config import DreamConfig
    from dreamreel.modes.setup import dream_params, load_net

    cfg = DreamConfig(compile=True, steps=1, octaves=1)
    dev = torch.device("cuda")
    net, _ = load_net(cfg, dev)
    y = dream(small_photo.to(dev), net, dream_params(cfg, dev), torch.Generator().manual_seed(0))
    assert torch.isfinite(y).all()


def test_cuda_request_without_a_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from dreamreel.errors import ConfigError

    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")


# --- the CUDA choices, checked on any machine with CUDA's availability patched --------------------

@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved


def test_every_gpu_can_be_named_and_a_missing_one_is_one_line(two_gpus):
    from dreamreel.errors import ConfigError

    assert resolve_device("auto") == torch.device("cuda", 0) and resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1) and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"dream.device: cuda:2: this machine has 2 CUDA devices \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_device_names_are_checked_when_the_config_loads():
    from dreamreel.config import DreamConfig

    assert DreamConfig(device="cuda:3").device == "cuda:3"
    for bad in ("gpu", "cuda:", "cuda:x", "cuda:0:1", "CUDA"):
        with pytest.raises(ValueError, match="must be auto, cpu, cuda or cuda:N"):
            DreamConfig(device=bad)


def test_one_chain_takes_deterministic_kernels_and_the_process_gets_its_flags_back(two_gpus, monkeypatch):
    """One chain promises a bit-identical resume: cuDNN's benchmark (kernels picked by timing, per
    process) off and its deterministic kernels on; several chains let the benchmark pick. TF32
    is off in both (fp32 means fp32). Whatever the process had before comes back after, so a
    host application that renders through the API keeps its own settings."""
    import os

    from dreamreel.speed.gpu import cuda_flags, cuda_settings

    cudnn = torch.backends.cudnn
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    assert cuda_flags(1) == {"benchmark": False, "deterministic": True, "allow_tf32": False}
    assert cuda_flags(4) == {"benchmark": True, "deterministic": False, "allow_tf32": False}
    saved = cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32
    try:
        cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32 = True, False, True  # a host's own
        with cuda_settings(torch.device("cuda", 1), 1):
            assert cudnn.deterministic and not cudnn.benchmark and not cudnn.allow_tf32
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (True, False, True)
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        with cuda_settings(torch.device("cuda", 0), 4):
            assert cudnn.benchmark and not cudnn.deterministic
        with cuda_settings(torch.device("cpu"), 1):  # the CPU: nothing changes
            assert (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (True, False, True)
    finally:
        cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32 = saved


def test_the_flags_follow_the_chains_a_render_runs_not_render_batch(tmp_path, monkeypatch):
    """A clip too short to split dreams one chain, so it is deterministic whatever render.batch
    asks; a still, an atlas, a zoom and the API are one chain too."""
    from contextlib import contextmanager

    import numpy as np

    from dreamreel import api
    from dreamreel.modes import atlas, still, video, zoom
    from tests.conftest import make_clip

    asked: list[int] = []

    @contextmanager
    def record(device, chains):
        asked.append(chains)
        yield

    for mod in (video, zoom, still, atlas):
        monkeypatch.setattr(mod, "cuda_settings", record)
    monkeypatch.setattr("dreamreel.speed.gpu.cuda_settings", record)
    clip = make_clip(tmp_path / "c.mp4", seconds=0.5, size="64x48", audio=False)
    tiny = {"dream": {"steps": 1, "octaves": 1}, "size": {"width": 48}}
    api.render({"input": str(clip), "output": str(tmp_path / "v.mp4"), **tiny, "render": {"batch": 4}})
    api.render({"mode": "zoom", "output": str(tmp_path / "z.mp4"), "zoom": {"frames": 3, "loop": False},
                "dream": {"steps": 1, "octaves": 1}, "size": {"width": 48}})
    api.render({"mode": "still", "output": str(tmp_path / "s.png"), **tiny})
    api.render({"mode": "atlas", "output": str(tmp_path / "a.png"), "dream": {"steps": 1, "octaves": 1},
                "atlas": {"layer": "features.6", "channels": 2, "cell": 32}})
    api.dream_image(np.zeros((32, 32, 3), np.uint8), steps=1, octaves=1)
    assert asked == [1, 1, 1, 1, 1]


def test_the_half_precision_is_the_one_the_cards_tensor_cores_have(monkeypatch):
    """bf16 from Ampere (compute capability 8) on; fp16 on a V100 (7.0) or a T4 (7.5), where
    ``is_bf16_supported`` says yes for an emulation slower than fp32. Asked of the render's
    device, not the current one."""
    from dreamreel.speed import choices, gpu

    caps = {0: (7, 5), 1: (8, 6)}
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d: caps[torch.device(d).index or 0])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert gpu.half_precision(torch.device("cuda", 0)) == "fp16"
    assert gpu.half_precision(torch.device("cuda", 1)) == "bf16"
    assert resolve_precision("auto", torch.device("cuda", 0)) == "fp16"
    assert resolve_precision("auto", torch.device("cuda", 1)) == "bf16"
    assert choices.candidates("auto", True, torch.device("cuda", 0)) == [("fp32", True), ("fp16", True)]


def test_the_driver_version_comes_from_the_kernel_module(tmp_path):
    from dreamreel.speed.gpu import driver_version

    proc = tmp_path / "version"
    proc.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.124.06  Wed Feb 26 2025\n"
                    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")
    assert driver_version(proc) == "570.124.06"
    assert isinstance(driver_version(tmp_path / "none"), str)  # no driver here: "" or libcuda's


def test_reveal_crops_do_not_autotune(monkeypatch):
    """A reveal's crops come in new shapes at every octave: the benchmark would time kernels for
    each. It is off while they dream and back on after."""
    import numpy as np

    from dreamreel.modes import chain

    seen = []
    monkeypatch.setattr(chain, "dream", lambda x, *a, **k: (seen.append(torch.backends.cudnn.benchmark), x)[1])
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True

    class Ctx:
        cfg = type("C", (), {"dream": type("D", (), {"seed": 0})(), "video": type("V", (), {"color_lock": False})()})()

        def net(self):
            return (None, "")

        def guide(self):
            return None

    try:
        item = chain.MotionItem(3, np.zeros((32, 32, 3), np.uint8), None, None, cut=False, score=0.0)
        x = torch.zeros(1, 3, 32, 32)
        chain.dream_revealed(Ctx(), DreamParams(terms=(), steps=2), item, x, x, np.full((8, 8), 255, np.uint8),
                             [(0, 16, 0, 16), (16, 32, 16, 32)], None, 0)
        assert seen == [False, False] and torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = saved


def test_the_stopwatch_times_on_the_renders_own_gpu(monkeypatch):
    """Events recorded on the current stream of the render's device (cuda:1), not GPU 0's."""
    from dreamreel.modes import chain

    streams, recorded = [], []

    class Event:
        def __init__(self, **k):
            pass

        def record(self, stream=None):
            recorded.append(stream)

    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: streams.append(device) or f"s{device}")
    watch = chain.Stopwatch(torch.device("cuda", 1))
    watch.stop()
    assert streams == [torch.device("cuda", 1)] * 2 and recorded == [f"s{torch.device('cuda', 1)}"] * 2


def test_a_test_not_marked_cuda_renders_on_the_cpu_even_where_a_gpu_is():
    """The suite's pin (conftest.py): auto is the CPU here, and children see no GPU."""
    import os

    assert resolve_device("auto") == torch.device("cpu") and os.environ["CUDA_VISIBLE_DEVICES"] == ""


@cuda
def test_a_test_marked_cuda_sees_the_gpu():
    assert resolve_device("auto").type == "cuda"
