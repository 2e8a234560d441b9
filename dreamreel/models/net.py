"""The network a dream climbs: a pretrained CNN cut after the deepest layer asked for."""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import torch
from torch import nn
from torch.fx import GraphModule
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models.feature_extraction import create_feature_extractor

from dreamreel.models.registry import ModelSpec, get_spec
from dreamreel.models.tracing import network_call, tracing
from dreamreel.models.weights import load_weights, locate_weights


class DreamNet(nn.Module):
    """Maps RGB in [0,1], [B,3,H,W], to the activations of ``layers``: {name: [B,C,h,w]}.

    The graph is pruned after the deepest requested layer, weights are frozen and in eval mode,
    so a backward pass computes input gradients only.
    """

    def __init__(self, spec: ModelSpec, model: nn.Module, layers: list[str]) -> None:
        super().__init__()
        self.spec = spec
        self.layers = list(dict.fromkeys(layers))
        model.eval()
        fold_sequential_batchnorm(model)
        tracer = {"leaf_modules": list(spec.leaf_modules)} if spec.leaf_modules else None
        with tracing():  # no network may run in another thread meanwhile (see models/tracing.py)
            self.body = create_feature_extractor(
                model, return_nodes={name: name for name in self.layers}, tracer_kwargs=tracer
            )
        self.body.eval()
        # Frozen BatchNorm is an affine map: fold it into the convolution before it, so forward
        # and backward skip those memory-bound passes (bench_dream, channels_last fp32 at
        # 512x288: 40.1 -> 23.5 ms per step on 2 cores).
        fold_batchnorm(self.body)
        out_of_place_activations(self.body)
        for p in self.body.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        self.compiled: Callable | None = None
        self._one_off = threading.local()

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # Taken before nn.Module.__call__, which a trace in another thread may have swapped.
        with network_call():
            return super().__call__(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean) / self.std
        if self.compiled is None or getattr(self._one_off, "on", False):
            return self.body(x)
        # A render's steady shapes are few (its octaves, times the batch sizes as chains retire),
        # each compiled once; above torch's default limit of 8 the rest would run uncompiled.
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            return self.compiled(x)

    def compile(self, backend: str = "inductor") -> None:
        """Compile the body for each of a render's steady input shapes (``dream.compile``).
        Shapes met once (a reveal's crops, at a new size every octave of every frame) run
        uncompiled inside ``one_off``: compiling each cost more than it saved, and used up the
        recompile limit so later shapes ran uncompiled anyway."""
        # Kept out of the module tree (it wraps the body, whose parameters are already there).
        self.__dict__["compiled"] = torch.compile(self.body, dynamic=False, backend=backend)

    @contextlib.contextmanager
    def one_off(self) -> Iterator[None]:
        """Calls in this block (this thread) run the uncompiled body."""
        before = getattr(self._one_off, "on", False)
        self._one_off.on = True
        try:
            yield
        finally:
            self._one_off.on = before


RECOMPILE_LIMIT = 64


def one_off_shapes(net: nn.Module) -> contextlib.AbstractContextManager:
    """``net.one_off()`` for a DreamNet, nothing for another module."""
    return net.one_off() if isinstance(net, DreamNet) else contextlib.nullcontext()


def fold_sequential_batchnorm(model: nn.Module) -> int:
    """Fold each eval-mode BatchNorm2d that follows a Conv2d inside an nn.Sequential into it, in
    place (the BatchNorm becomes an Identity). Catches blocks the tracer keeps whole, such as
    torchvision's Conv2dNormActivation; returns how many were folded."""
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and not (conv.training or bn.training):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
                folded += 1
    return folded


def fold_batchnorm(gm: GraphModule) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d (its only user) into that
    convolution, in place on the traced graph; returns how many were folded."""
    modules = dict(gm.named_modules())
    folded = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules.get(node.target), torch.nn.BatchNorm2d):
            continue
        prev = node.args[0] if node.args else None
        if not isinstance(prev, torch.fx.Node) or prev.op != "call_module" or len(prev.users) != 1:
            continue
        conv, bn = modules.get(prev.target), modules[node.target]
        if not isinstance(conv, torch.nn.Conv2d) or conv.training or bn.training:
            continue
        fused = fuse_conv_bn_eval(conv, bn)
        parent, _, name = prev.target.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, name, fused)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
        folded += 1
    # The folded BatchNorms stay registered (unused): torchvision's module keeps a second graph
    # for train mode that still names them.
    gm.graph.lint()
    gm.recompile()
    return folded


def out_of_place_activations(gm: GraphModule) -> int:
    """Make every in-place activation of the traced graph (modules with ``inplace``, functional
    calls with ``inplace=True``) write a new tensor instead; returns how many were changed.

    In place saves memory in a classifier's forward pass, but under autograd an in-place ReLU6 on
    a convolution's output is a clamp into a new tensor and a copy back, and its backward reads the
    clamped result: out of place drops the copy (bench_dream, mobilenet_v2 at 640x360, 2 cores:
    58.9 -> 54.7 ms a step fp32, 66.8 -> 63.1 bf16) for the convolution outputs kept until the
    backward pass."""
    changed = 0
    for m in gm.modules():
        if getattr(m, "inplace", False) is True:
            m.inplace = False
            changed += 1
    for node in gm.graph.nodes:
        if node.op in ("call_function", "call_method") and node.kwargs.get("inplace") is True:
            node.kwargs = {**node.kwargs, "inplace": False}
            changed += 1
    if changed:
        gm.recompile()
    return changed


def build_model(name: str, weights: str | None) -> tuple[nn.Module, ModelSpec, str]:
    """The full classifier with its weights loaded; returns (model, spec, weights source)."""
    spec = get_spec(name)
    path = locate_weights(spec, weights)
    model = spec.build()
    if path is not None:
        load_weights(model, spec, path)
    return model.eval(), spec, str(path) if path is not None else "random"


def load_dream_net(
    name: str,
    layers: list[str],
    weights: str | None,
    device: torch.device,
    channels_last: bool = False,
) -> tuple[DreamNet, str]:
    """A DreamNet on ``device`` for ``layers`` (names without channel suffix) and its weights source."""
    model, spec, source = build_model(name, weights)
    if weights == "random":
        # Random weights are for tests and benchmarks: seed them so runs repeat.
        torch.manual_seed(0)
        model = spec.build().eval()
    net = DreamNet(spec, model, layers).to(device).eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net, source


@torch.no_grad()
def layer_shapes(name: str, size: tuple[int, int] = (224, 224),
                 layers: list[str] | None = None) -> list[tuple[str, tuple[int, ...]]]:
    """(layer, output shape without the batch) for the blocks of model ``name`` (or for
    ``layers``) on an input of ``size`` (h, w); a layer the forward pass never reaches is left out.

    Runs on the meta device: shapes need neither weights nor arithmetic.
    """
    spec = get_spec(name)
    with torch.device("meta"):
        model = spec.build().eval()
    names = spec.blocks(model) if layers is None else list(dict.fromkeys(layers))
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(_module: nn.Module, _inputs: object, out: object) -> None:
            if isinstance(out, torch.Tensor):
                shapes.setdefault(name, tuple(out.shape[1:]))

        return hook

    hooks = [model.get_submodule(n).register_forward_hook(record(n)) for n in names]
    try:
        with network_call():
            model(torch.zeros(1, 3, *size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return [(n, shapes[n]) for n in names if n in shapes]
