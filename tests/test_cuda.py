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
    assert dev.type == "cuda" and torch.backends.cudnn.benchmark
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
