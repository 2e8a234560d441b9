"""One render's shared state, built once from the validated Config before any job folder exists."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from dreamreel.config import Config
from dreamreel.dream import DreamParams, Term
from dreamreel.media.encode import audio_plan
from dreamreel.media.probe import MediaInfo
from dreamreel.models.net import DreamNet
from dreamreel.modes.setup import dream_params, load_guide, load_net, resolve_device
from dreamreel.modes.variables import Timeline, build_timeline, check_schedules

AudioPlan = tuple[Path, float, bool]  # (file, start seconds, copy the codec?)


@dataclass
class RenderContext:
    """Device, timeline (schedules' variables and audio envelopes), the audio to mux, and the
    network and guide (loaded on first use, once). Every frame of a render, and its preview,
    takes its settings from ``params(t)``."""

    cfg: Config
    device: torch.device
    timeline: Timeline
    audio: AudioPlan | None = None
    layers: tuple[str, ...] | None = None  # the network's layers when not the objective's (atlas)
    loaded: tuple[DreamNet, str] | None = None
    _guide: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    _guide_done: bool = field(default=False, repr=False)

    def env(self, t: int) -> dict[str, float]:
        """The variables a schedule reads at frame ``t`` (0 = the render's first frame)."""
        return self.timeline.env(t)

    def params(self, t: int, steps: int | None = None, terms: tuple[Term, ...] | None = None) -> DreamParams:
        """The dream's parameters at frame ``t``; ``steps`` overrides the steps per octave."""
        return dream_params(self.cfg.dream, self.device, t, self.env(t), terms=terms, steps=steps)

    def seed(self, t: int) -> int:
        """``dream.seed`` at frame ``t`` (a schedule: keyed seeds change the randomness from there)."""
        return int(self.cfg.dream.seed.at(t, self.env(t)))

    def net(self) -> tuple[DreamNet, str]:
        """(network on the device, weights source), loaded once."""
        if self.loaded is None:
            self.loaded = load_net(self.cfg.dream, self.device, layers=self.layers)
        return self.loaded

    def tune(self, size: tuple[int, int], steps: int, pinned: dict | None = None, batch: int = 1) -> dict:
        """Settle ``auto`` precision and memory layout for frames of ``size`` (h, w) and about
        ``steps`` gradient steps of work: from the cache, by a trial of a few steps, or by the
        rule (see choices.py). The config then states them, so farm tasks and Ray workers run the
        same. ``batch``: frames the render dreams at once (the trial times that many). Returns the
        manifest's ``choices``."""
        from dreamreel.speed.choices import Choice, choose, layer_names, rule

        d = self.cfg.dream

        def trial():
            from dreamreel.dream.engine import image_gradient
            from dreamreel.dream.tiles import tiled

            net = self.net()[0]
            p = self.params(0)

            def step(x: torch.Tensor, precision: str) -> torch.Tensor:
                # Tiled as the render's own steps are: the whole batch untiled in fp32 asked 13 GB
                # of a GPU at 1080p x 4 before the first frame.
                return tiled(lambda b, rows: image_gradient(b, net, p.terms, None, precision)[0], x, p.tile,
                             p.tile_overlap, p.tile_batch)

            return net, step

        if pinned is not None:
            choice = Choice(pinned["precision"], pinned["channels_last"], "job", pinned.get("step_ms", {}))
        else:
            choice = choose(d.precision, d.channels_last, self.device, d.model, layer_names(d), size, steps,
                            rule(d, self.device), trial, batch)
        if self.loaded is not None:
            self.loaded[0].to(memory_format=torch.channels_last if choice.channels_last else torch.contiguous_format)
        dream = d.model_copy(update={"precision": choice.precision, "channels_last": choice.channels_last})
        self.cfg = self.cfg.model_copy(update={"dream": dream})
        return choice.facts()

    def release(self) -> None:
        """Let go of the network and guide (and, on a GPU, the memory they held), for a render
        whose dreaming happens elsewhere (Ray workers) after this process's trial."""
        self.loaded, self._guide, self._guide_done = None, None, False
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def guide(self) -> dict[str, torch.Tensor] | None:
        """The guide image's features (or None), computed once."""
        if not self._guide_done:
            self._guide, self._guide_done = load_guide(self.cfg.dream, self.net()[0], self.device), True
        return self._guide


def mux_audio(cfg: Config, source: MediaInfo | None, offset: float) -> AudioPlan | None:
    """The one decision of what audio goes into an animated output: for video ``audio`` (when
    ``video.audio`` is ``source``) or ``video.audio``, cut from ``offset`` seconds; for zoom
    ``audio``. A missing or undecodable file is a MediaError now, before anything is dreamed."""
    if cfg.mode == "video":
        assert source is not None
        if cfg.audio.file is not None and cfg.video.audio == "source":
            # The top-level track runs along the source (its envelopes are read from ``offset``):
            # muxed from 0 s it was out of sync with both the picture and the effects.
            return audio_plan(str(cfg.audio.file), cfg.input, source.has_audio, source.audio_codec, offset,
                              file_start=offset, key="audio.file")
        return audio_plan(cfg.video.audio, cfg.input, source.has_audio, source.audio_codec, offset)
    if cfg.mode == "zoom" and cfg.audio.file is not None:
        return audio_plan(str(cfg.audio.file), None, False, None, 0.0, key="audio.file")
    return None


def build_context(cfg: Config, frames: int, fps: float, offset: float = 0.0,
                  source: MediaInfo | None = None) -> RenderContext:
    """The context of a render of ``frames`` frames at ``fps``, frame 0 at ``offset`` seconds of
    ``source`` (a video's own audio drives schedules when ``audio`` is not set). Schedules are
    evaluated at every frame and audio files read here, so a bad one fails before any job."""
    device = resolve_device(cfg.dream.device)
    return RenderContext(cfg, device, timeline_of(cfg, frames, fps, offset, source), mux_audio(cfg, source, offset))


def picture_context(cfg: Config, layers: tuple[str, ...] | None = None) -> RenderContext:
    """The context of a still or an atlas: one picture is one frame (t = 0, T = 1, s = 0, fps = 1;
    the config refused dream schedules that read audio). ``layers``: the network's layers, when
    not the objective's (an atlas dreams its own)."""
    return RenderContext(cfg, resolve_device(cfg.dream.device), check_schedules(cfg, Timeline(1, 1.0)),
                         layers=layers)


def timeline_of(cfg: Config, frames: int, fps: float, offset: float = 0.0,
                source: MediaInfo | None = None) -> Timeline:
    """The render's timeline: ``audio`` drives the envelopes, else the source video's own track."""
    fallback = source.path if source is not None and source.has_audio else None
    return build_timeline(cfg, frames, fps, offset=offset, fallback_audio=fallback)
