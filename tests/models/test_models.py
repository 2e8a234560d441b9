"""Model registry, weight locating and the cut network."""
from __future__ import annotations

import pytest
import torch

from dreamreel.errors import ModelError
from dreamreel.models.net import build_model, layer_shapes, load_dream_net
from dreamreel.models.registry import get_spec, layer_names, model_names, parse_layer_key
from dreamreel.models.weights import locate_weights, package_weight_path


def test_parse_layer_key():
    assert parse_layer_key("features.13") == ("features.13", None)
    assert parse_layer_key("features.13:42") == ("features.13", 42)
    with pytest.raises(ValueError):
        parse_layer_key("features.13:-1")


def test_every_model_lists_its_blocks_with_shapes():
    for name in model_names():
        shapes = layer_shapes(name, (299, 299) if name == "inception_v3" else (224, 224))
        assert len(shapes) >= 5
        assert all(n in layer_names(name) for n, _ in shapes)
    assert dict(layer_shapes("mobilenet_v2"))["features.13"] == (96, 14, 14)


def test_default_weights_come_from_the_shipping_package():
    spec = get_spec("mobilenet_v2")
    path = locate_weights(spec, None)
    assert path is not None and path.name == "mobilenet_v2-b0353104.pth"
    assert package_weight_path(spec) is not None


def test_missing_weights_say_which_file_goes_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelError) as info:
        locate_weights(get_spec("vgg16"), None)
    msg = str(info.value)
    assert "vgg16-397923af.pth" in msg and str(tmp_path) in msg


def test_explicit_weights_path_must_exist(tmp_path):
    with pytest.raises(ModelError, match="file not found"):
        locate_weights(get_spec("mobilenet_v2"), str(tmp_path / "none.pth"))


def test_weights_of_another_model_are_refused(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ModelError, match="does not fit mobilenet_v2"):
        build_model("mobilenet_v2", str(bad))


def test_cut_network_stops_at_the_deepest_layer_and_is_frozen():
    net, src = load_dream_net("mobilenet_v2", ["features.6"], None, torch.device("cpu"))
    assert src.endswith("mobilenet_v2-b0353104.pth")
    assert not any(p.requires_grad for p in net.parameters())
    names = {n for n, _ in net.body.named_modules()}
    assert not any(n.startswith("features.7") or n.startswith("classifier") for n in names)
    out = net(torch.rand(1, 3, 64, 64))
    assert list(out) == ["features.6"] and out["features.6"].shape == (1, 32, 8, 8)


def _top5(model: torch.nn.Module, x: torch.Tensor, mean, std) -> set[int]:
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        return set(model((x - m) / s).topk(5).indices[0].tolist())


def test_efficientnet_lite2_port_agrees_with_mobilenet_on_the_photo(small_photo):
    # Two independently trained ImageNet models, one of them our own port: on a real photo
    # their top-5 classes must overlap if the port and its input scaling are right.
    from dreamreel.dream.engine import resize

    x = resize(small_photo, (224, 224))
    mob, mspec, _ = build_model("mobilenet_v2", None)
    eff, espec, src = build_model("efficientnet_lite2", None)
    assert src.endswith("efficientnet-lite2-9656183e.pth")
    assert _top5(mob, x, mspec.mean, mspec.std) & _top5(eff, x, espec.mean, espec.std)


@pytest.mark.parametrize("name, layer", [("mobilenet_v2", "features.13"), ("googlenet", "inception4c")])
def test_activations_run_out_of_place_and_the_gradient_is_the_classifiers(name, layer, monkeypatch):
    import dreamreel.models.net as net_module

    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))

    def grad(net):
        leaf = x.clone().requires_grad_(True)
        net(leaf)[layer].pow(2).mean().backward()
        return leaf.grad

    net, _ = load_dream_net(name, [layer], "random", torch.device("cpu"))
    assert not any(getattr(m, "inplace", False) for m in net.modules())
    assert not any(n.kwargs.get("inplace") for n in net.body.graph.nodes)
    monkeypatch.setattr(net_module, "out_of_place_activations", lambda gm: 0)
    inplace, _ = load_dream_net(name, [layer], "random", torch.device("cpu"))
    assert any(getattr(m, "inplace", False) for m in inplace.modules()) or \
        any(n.kwargs.get("inplace") for n in inplace.body.graph.nodes)
    assert torch.equal(grad(net), grad(inplace))


def test_dream_compile_compiles_each_steady_shape_once_and_never_a_one_off_crop():
    """The octaves of a render are compiled once each and reused; a reveal's crops (a new size
    every time) run uncompiled, so they neither pay a compile nor use up the recompile limit.
    Shown with dynamo's eager backend (no C++ compiler needed): graphs compiled are counted."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from dreamreel.models.net import load_dream_net, one_off_shapes

    net, _ = load_dream_net("mobilenet_v2", ["features.6"], "random", torch.device("cpu"))
    plain = {k: v.clone() for k, v in net(torch.ones(1, 3, 32, 48)).items()}
    torch._dynamo.reset()
    counters.clear()
    net.compile(backend="eager")
    octaves = [(32, 48), (44, 66), (64, 96)]
    for _ in range(3):  # three frames
        for h, w in octaves:
            net(torch.rand(1, 3, h, w))
        with one_off_shapes(net):
            for side in (33, 37, 41, 45, 49, 53, 57, 61, 65, 69):
                net(torch.rand(1, 3, side, side + 4))
    assert counters["stats"]["unique_graphs"] == len(octaves)
    again = net(torch.ones(1, 3, 32, 48))
    assert all(torch.allclose(again[k], plain[k], atol=1e-5) for k in plain)
