"""What a dream climbs: a weighted mix of layer energies, channel energies and guide matches."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Term:
    """One part of the objective: mean squared activation of ``layer`` (or of one ``channel``).

    ``channel`` and ``weight`` may be tuples with one entry per sample of the batch (a feature
    atlas dreams many channels at once; frames whose scheduled weights differ dream together).
    """

    layer: str
    channel: int | tuple[int, ...] | None = None
    weight: float | tuple[float, ...] = 1.0

    def pick(self, rows: list[int]) -> "Term":
        """This term for a batch made of samples ``rows`` of the full batch (tiles of several
        frames go through the network together): per-sample entries are taken at those rows."""
        channel = tuple(self.channel[i] for i in rows) if isinstance(self.channel, tuple) else self.channel
        weight = tuple(self.weight[i] for i in rows) if isinstance(self.weight, tuple) else self.weight
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
        if isinstance(term.channel, tuple):
            idx = torch.tensor(term.channel, device=a.device)
            value = a[torch.arange(a.shape[0], device=a.device), idx].pow(2).mean(dim=(1, 2))
        elif term.channel is not None:
            value = a[:, term.channel].pow(2).mean(dim=(1, 2))
        elif guide is not None and term.layer in guide:
            value = guide_match(a, guide[term.layer])
        else:
            value = a.pow(2).mean(dim=(1, 2, 3))
        weight = torch.tensor(term.weight, device=a.device) if isinstance(term.weight, tuple) else term.weight
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
