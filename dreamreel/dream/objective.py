"""What a dream climbs: a weighted mix of layer energies, channel energies and guide matches."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from dreamreel.dream.upload import device_values


@dataclass(frozen=True)
class Term:
    """One part of the objective: mean squared activation of ``layer`` (or of one ``channel``).

    ``channel`` and ``weight`` may be tuples with one entry per sample of the batch (a feature
    atlas dreams many channels at once; frames whose scheduled weights differ dream together).
    Inside a dream they are device tensors [B] (``on_device``), made once, not at every step.
    """

    layer: str
    channel: int | tuple[int, ...] | torch.Tensor | None = None
    weight: float | tuple[float, ...] | torch.Tensor = 1.0

    @property
    def per_sample(self) -> bool:
        return any(isinstance(v, (tuple, torch.Tensor)) for v in (self.channel, self.weight))

    def on_device(self, device: torch.device) -> "Term":
        """This term with its per-sample tuples as tensors [B] on ``device`` (see upload.py)."""
        channel, weight = self.channel, self.weight
        if isinstance(channel, tuple):
            channel = device_values(channel, device, torch.long)
        if isinstance(weight, tuple):
            weight = device_values(weight, device, torch.float32)
        return Term(self.layer, channel, weight)

    def pick(self, rows: torch.Tensor) -> "Term":
        """This term (``on_device``) for a batch made of samples ``rows`` (a long tensor [n] on
        the device) of the full batch: tiles of several frames go through the network together.
        An index already on the device: a list would be copied there, waiting, at every step."""
        channel = self.channel.index_select(0, rows) if isinstance(self.channel, torch.Tensor) else self.channel
        weight = self.weight.index_select(0, rows) if isinstance(self.weight, torch.Tensor) else self.weight
        return Term(self.layer, channel, weight)


def objective(
    acts: dict[str, torch.Tensor],
    terms: tuple[Term, ...],
    guide: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Per-sample objective, shape [B], to be maximised.

    acts: {layer: [B,C,h,w]}. A layer in ``guide`` ({layer: [C,N]} guide features) is scored by
    how well each position matches its best guide feature (Mordvintsev's guided dream) instead of
    by its energy; channel terms are always energies.
    """
    total: torch.Tensor | None = None
    for term in terms:
        a = acts[term.layer].float()
        if isinstance(term.channel, (tuple, torch.Tensor)):
            idx = term.channel if isinstance(term.channel, torch.Tensor) else device_values(term.channel, a.device,
                                                                                            torch.long)
            value = a[torch.arange(a.shape[0], device=a.device), idx].pow(2).mean(dim=(1, 2))
        elif term.channel is not None:
            value = a[:, term.channel].pow(2).mean(dim=(1, 2))
        elif guide is not None and term.layer in guide:
            value = guide_match(a, guide[term.layer])
        else:
            value = a.pow(2).mean(dim=(1, 2, 3))
        weight = device_values(term.weight, a.device, torch.float32) if isinstance(term.weight, tuple) else term.weight
        value = value * weight
        total = value if total is None else total + value
    assert total is not None, "objective needs at least one term"
    return total


def guide_match(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Mean over positions of the best dot product with a guide feature. a [B,C,h,w], g [C,N] -> [B]."""
    x = a.flatten(2).transpose(1, 2)  # [B, hw, C]
    return (x @ g.to(x.dtype)).amax(dim=2).mean(dim=1)


@torch.no_grad()
def guide_features(net: torch.nn.Module, guide: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """Features of a guide image, [1,3,H,W] in [0,1], as {layer: [C, h*w]}."""
    acts = net(guide)
    return {name: acts[name][0].float().flatten(1) for name in layers}
