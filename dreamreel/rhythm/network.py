"""The beat and downbeat network: a temporal convolutional network over the log-frequency
spectrogram, after Böck and Davies (ISMIR 2020) and Beat This! (Foscarin et al., ISMIR 2024),
written small for a 2-core CPU.

Input: ``log_bands`` frames (100 a second, rhythm/spectrum.py) and their positive difference (the
onsets), normalised per band. A frame-wise projection mixes the bands into ``channels`` features,
so a kick, a snare and a hi-hat can each be told apart; then dilated convolutions over time
(kernel 5, dilations 1, 2, ... 2**(layers-1)) see about 20 s around each frame: enough for a
groove's pattern and a few bars. Two outputs per frame: the logit that a beat starts there, and
that a downbeat does. Pure tensor code: no files.
"""
from __future__ import annotations

import torch
from torch import nn


class Block(nn.Module):
    """A residual block: a dilated convolution, ELU, dropout and a 1x1 mix, added to its input;
    the block's output also goes to the heads (a skip)."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.mix(self.drop(nn.functional.elu(self.conv(x))))
        return x + h, h


class BeatNet(nn.Module):
    """``forward(bands)``: bands float [B, T, bands] (log1p magnitudes) -> logits float [B, 2, T]
    (row 0 beat, row 1 downbeat). ``receptive`` frames each side of a frame reach its output."""

    def __init__(self, bands: int, channels: int = 48, layers: int = 9, kernel: int = 5, dropout: float = 0.1):
        super().__init__()
        self.hparams = {"bands": bands, "channels": channels, "layers": layers, "kernel": kernel, "dropout": dropout}
        self.register_buffer("mean", torch.zeros(2 * bands))
        self.register_buffer("std", torch.ones(2 * bands))
        self.inp = nn.Conv1d(2 * bands, channels, 3, padding=1)
        self.blocks = nn.ModuleList(Block(channels, kernel, 2 ** i, dropout) for i in range(layers))
        self.head = nn.Conv1d(channels, 2, 1)
        self.receptive = 1 + sum(2 ** i * (kernel - 1) // 2 for i in range(layers))

    def inputs(self, bands: torch.Tensor) -> torch.Tensor:
        """float [B, 2*bands, T]: the bands and their positive difference, normalised. Before the
        first frame is silence, so a kick on a file's first sample is an onset like any other."""
        diff = torch.relu(bands - torch.cat([torch.zeros_like(bands[:, :1]), bands[:, :-1]], dim=1))
        x = torch.cat([bands, diff], dim=2)
        return ((x - self.mean) / self.std).transpose(1, 2)

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        x = nn.functional.elu(self.inp(self.inputs(bands)))
        skip = torch.zeros_like(x)
        for block in self.blocks:
            x, h = block(x)
            skip = skip + h
        return self.head(nn.functional.elu(skip))
