"""CUDA paths: run only where a GPU is present (skipped on the CPU-only CI)."""
from __future__ import annotations

import pytest
import torch

from pipeline.dream import DreamParams, Term, dream
from pipeline.models.net import load_dream_net
from pipeline.rendering.setup import resolve_batch, resolve_device, resolve_precision

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


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
    from pipeline.config import DreamConfig
    from pipeline.rendering.setup import dream_params, load_net

    cfg = DreamConfig(compile=True, steps=1, octaves=1)
    dev = torch.device("cuda")
    net, _ = load_net(cfg, dev)
    y = dream(small_photo.to(dev), net, dream_params(cfg, dev), torch.Generator().manual_seed(0))
    assert torch.isfinite(y).all()


def test_cuda_request_without_a_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    from pipeline.errors import ConfigError

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
    from pipeline.errors import ConfigError

    assert resolve_device("auto") == torch.device("cuda", 0) and resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1) and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"dream.device: cuda:2: this machine has 2 CUDA devices \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_device_names_are_checked_when_the_config_loads():
    from pipeline.config import DreamConfig

    assert DreamConfig(device="cuda:3").device == "cuda:3"
    for bad in ("gpu", "cuda:", "cuda:x", "cuda:0:1", "CUDA"):
        with pytest.raises(ValueError, match="must be auto, cpu, cuda or cuda:N"):
            DreamConfig(device=bad)


def test_a_batch_1_render_takes_deterministic_kernels_and_a_batched_one_the_benchmark(two_gpus, monkeypatch):
    """A batch-1 render promises a bit-identical resume: cuDNN's benchmark (kernels picked by
    timing, per process) is off and its deterministic kernels on. A batched render promises no
    such thing and lets the benchmark pick."""
    from pipeline.rendering.setup import configure_cuda, cuda_flags

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    assert cuda_flags(1) == {"benchmark": False, "deterministic": True}
    assert cuda_flags(4) == {"benchmark": True, "deterministic": False}
    configure_cuda(torch.device("cuda", 1), 1)
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    import os

    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    configure_cuda(torch.device("cuda", 0), 4)
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    before = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    configure_cuda(torch.device("cpu"), 1)  # the CPU: nothing changes
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == before
