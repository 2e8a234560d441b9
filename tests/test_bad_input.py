"""Bad input through the real `render` command: one line naming the problem, the documented exit
code, no traceback, and nothing left where the output should be."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, SAMPLES, ffmpeg, make_clip
from tests.warm import WARM

RENDER = [shutil.which("dreamreel"), "render"] if shutil.which("dreamreel") else [sys.executable, "-m", "dreamreel", "render"]
TINY_DREAM = "dream: {steps: 1, octaves: 1, jitter: 2}\n"
TINY_VIDEO = "video: {steps_after_first: 1, preset: ultrafast}\n"


# Root reads and writes through any file mode; without these two capabilities it cannot, so
# permission errors can be tested as root (CI) and as a user alike.
NO_DAC = (["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
          if os.geteuid() == 0 and shutil.which("setpriv") else [])
needs_permissions = pytest.mark.skipif(os.geteuid() == 0 and not NO_DAC, reason="root without setpriv ignores file modes")


def render(*args: str, permissions: bool = False) -> subprocess.CompletedProcess:
    """The real command from the repository root: a fork of the warm child (tests/warm.py), or,
    to drop root's file-mode override with setpriv, a new process."""
    if permissions and NO_DAC:
        return subprocess.run([*NO_DAC, *RENDER, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    return WARM.run(["render", *map(str, args)], ROOT, seconds=300)


def one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dreamreel: error: ") and "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def nothing_at(out: Path) -> None:
    assert not out.exists()
    leftovers = [p.name for p in out.parent.glob(f".{out.name}*")] if out.parent.exists() else []
    assert not leftovers, leftovers


def cfg(tmp_path: Path, body: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


def still(tmp_path: Path, inp: Path | str, out: str = "o.png", extra: str = "") -> tuple[Path, Path]:
    o = tmp_path / out
    return cfg(tmp_path, f"input: {inp}\noutput: {o}\nsize: {{width: 48}}\n{TINY_DREAM}{extra}"), o


def video(tmp_path: Path, inp: Path, out: str = "o.mp4", extra: str = "") -> tuple[Path, Path]:
    o = tmp_path / out
    return cfg(tmp_path, f"input: {inp}\noutput: {o}\nmode: video\n{TINY_DREAM}{TINY_VIDEO}{extra}"), o


# --- files -------------------------------------------------------------------------------------

def test_missing_input(tmp_path):
    c, o = still(tmp_path, tmp_path / "nope.png")
    one_line_error(render(c), 3, "nope.png: input file not found")
    nothing_at(o)


@needs_permissions
def test_unreadable_input(tmp_path):
    img = tmp_path / "secret.png"
    shutil.copy(SAMPLES / "astronaut.png", img)
    img.chmod(0)
    c, o = still(tmp_path, img)
    one_line_error(render(c, permissions=True), 3, "secret.png: cannot read: Permission denied")
    nothing_at(o)


def test_folder_as_input(tmp_path):
    (tmp_path / "dir.png").mkdir()
    c, o = still(tmp_path, tmp_path / "dir.png")
    one_line_error(render(c), 3, "is a folder")


def test_text_file_named_mp4(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all\n")
    c, o = video(tmp_path, bad)
    one_line_error(render(c), 3, "notes.mp4: not a readable video")
    nothing_at(o)
    assert not (tmp_path / "o.mp4.work").exists()


def test_truncated_mp4(tmp_path):
    data = (SAMPLES / "city.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    c, o = video(tmp_path, cut, extra="size: {width: 64}\n")
    one_line_error(render(c), 3, "cut.mp4", "truncated")
    nothing_at(o)


def test_garbled_stream(tmp_path):
    data = bytearray((SAMPLES / "city.mp4").read_bytes())
    rng = np.random.default_rng(1)
    for p in rng.integers(len(data) // 4, 3 * len(data) // 4, 300):
        data[p] = int(rng.integers(256))
    bad = tmp_path / "garbled.mp4"
    bad.write_bytes(bytes(data))
    c, o = video(tmp_path, bad, extra="size: {width: 64}\n")
    one_line_error(render(c), 3, "garbled.mp4: the video stream is damaged or truncated near frame", "video.damaged: conceal")
    nothing_at(o)


def test_video_with_zero_frames(tmp_path):
    empty = tmp_path / "empty.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-frames:v", "0",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(empty))
    c, o = video(tmp_path, empty)
    one_line_error(render(c), 3, "empty.mp4")
    nothing_at(o)


def test_audio_only_file_as_input(tmp_path):
    c, o = video(tmp_path, SAMPLES / "beat.wav")
    one_line_error(render(c), 3, "beat.wav: has audio but no video stream")
    c2 = cfg(tmp_path, f"input: {SAMPLES / 'beat.wav'}\noutput: {tmp_path / 'x.png'}\n", "auto.yaml")
    one_line_error(render(c2), 2, "input: cannot tell from '.wav'")


# --- odd inputs that must work -------------------------------------------------------------------

def test_video_with_one_frame_renders(tmp_path):
    one = tmp_path / "one.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-frames:v", "1",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(one))
    c, o = video(tmp_path, one)
    proc = render(c)
    assert proc.returncode == 0, proc.stderr
    from dreamreel.media.probe import probe

    assert probe(o).frames == 1


def test_tiny_odd_sized_video_and_image(tmp_path):
    clip = make_clip(tmp_path / "tiny.mp4", seconds=0.3, size="17x9", audio=False)
    c, o = video(tmp_path, clip)
    assert render(c).returncode == 0
    from dreamreel.media.probe import probe

    assert (probe(o).width, probe(o).height) == (16, 8)
    img = tmp_path / "tiny.png"
    cv2.imwrite(str(img), (np.random.default_rng(0).random((9, 17, 3)) * 255).astype(np.uint8))
    c2 = cfg(tmp_path, f"input: {img}\noutput: {tmp_path / 't.png'}\n{TINY_DREAM}", "t.yaml")
    assert render(c2).returncode == 0
    assert cv2.imread(str(tmp_path / "t.png")).shape == (9, 17, 3)


@pytest.mark.parametrize("kind", ["gray", "rgba", "16bit"])
def test_grayscale_rgba_and_16_bit_png(tmp_path, kind):
    base = cv2.resize(cv2.imread(str(SAMPLES / "astronaut.png")), (64, 64))
    img = {"gray": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
           "rgba": cv2.cvtColor(base, cv2.COLOR_BGR2BGRA),
           "16bit": base.astype(np.uint16) * 257}[kind]
    path = tmp_path / f"{kind}.png"
    cv2.imwrite(str(path), img)
    c, o = still(tmp_path, path)
    proc = render(c)
    assert proc.returncode == 0, proc.stderr
    out = cv2.imread(str(o), cv2.IMREAD_UNCHANGED)
    assert out.shape == (48, 48, 3) and out.dtype == np.uint8


def test_huge_image_renders_in_tiles_within_4_gb(tmp_path):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(SAMPLES / "astronaut.png")), (3840, 2160)))
    c = cfg(tmp_path, f"input: {big}\noutput: {tmp_path / 'big_out.png'}\n"
                      "dream: {steps: 1, octaves: 1, jitter: 8, tile: 512}\n")
    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", probe, *RENDER, str(c)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stdout.strip().splitlines()[-1])
    assert peak_kib < 4 * 1024 * 1024
    assert cv2.imread(str(tmp_path / "big_out.png")).shape == (2160, 3840, 3)


# --- config ------------------------------------------------------------------------------------

CONFIG_CASES = [
    ("output: [unclosed\n", "YAML does not parse: expected ',' or ']'"),
    ("output: o.png\ndream:\n  stepz: 3\n", ":3: dream.stepz: unknown key; did you mean 'steps'?"),
    ("output: o.png\ndream:\n  tile: large\n", ":3: dream.tile: must be auto or a whole number of pixels from 64 to 8192"),
    ("output: o.png\ndream:\n  steps: -3\n", ":3: dream.steps: -3 must be at least 0"),
    ("output: o.png\ndream:\n  octave_scale: 1.0\n", ":3: dream.octave_scale: 1 must be greater than 1"),
    ("mode: zoom\noutput: o.mp4\nzoom:\n  frames: 0\n", ":4: zoom.frames: input should be greater than or equal to 1"),
    ("output: o.png\ndream:\n  model: alexnet\n", ":3: dream.model: unknown model 'alexnet'; valid choices: mobilenet_v2"),
    ("output: o.png\ndream:\n  layers: {features.99: 1}\n", ":3: dream.layers: unknown layer 'features.99'"),
    ("output: o.png\ndream:\n  step_size: \"0:(0.01), 10:(0.02 +)\"\n", ":3: dream.step_size: invalid expression"),
    ("output: o.png\ndream:\n  step_size: \"__import__('os')\"\n", "unknown function '__import__'"),
    ("output: o.png\ndream:\n  step_size: \"__import__('os').system('true')\"\n", "attribute access is not allowed"),
    ("output: o.png\ndream:\n  step_size: \"(0.01).real\"\n", "attribute access is not allowed"),
    ("output: o.png\ndream:\n  step_size: \"(lambda: 0.01)()\"\n", "not allowed"),
]


@pytest.mark.parametrize("body,needle", CONFIG_CASES)
def test_config_mistakes(tmp_path, body, needle):
    c = cfg(tmp_path, body)
    one_line_error(render(c), 2, f"{c}" if needle.startswith(":") else "", needle)
    nothing_at(tmp_path / "o.png")


def test_malformed_schedule_names_the_column(tmp_path):
    c = cfg(tmp_path, "output: o.png\ndream:\n  step_size: \"0:(0.01), 10:(0.02 +)\"\n")
    line = one_line_error(render(c), 2)
    assert "at column 2" in line or "at column 1" in line  # column within the keyframe string


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    c, o = still(tmp_path, SAMPLES / "astronaut.png", "file/out.png")
    one_line_error(render(c), 3, "not writable")


@needs_permissions
def test_output_folder_without_permission(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    c, o = still(tmp_path, SAMPLES / "astronaut.png", "ro/out.png")
    ro.chmod(0o555)
    try:
        one_line_error(render(c, permissions=True), 3, "not writable")
        nothing_at(o)
    finally:
        ro.chmod(0o755)


def test_existing_output_without_force(tmp_path):
    c, o = still(tmp_path, SAMPLES / "astronaut.png")
    o.write_bytes(b"precious")
    one_line_error(render(c), 2, "output exists; pass --force")
    assert o.read_bytes() == b"precious"


# --- audio that lies ---------------------------------------------------------------------------

def _wav(path: Path, samples: np.ndarray, rate: int = 22050) -> Path:
    from scipy.io import wavfile

    wavfile.write(path, rate, samples)
    return path


def _sine(seconds: float = 4.0, rate: int = 22050) -> np.ndarray:
    return np.sin(np.arange(int(seconds * rate)) / 10.0).astype(np.float32)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_audio_with_samples_that_are_not_numbers_is_refused_before_any_frame(tmp_path, bad):
    """Ten NaN (or Inf) samples in a float WAV: every envelope was 0 and no beats, and the mux
    failed with ffmpeg's "Invalid argument" after every frame was dreamed, on every rerun."""
    x = _sine()
    x[30000:30010] = bad
    wav = _wav(tmp_path / "nan.wav", x)
    c, out = video(tmp_path, SAMPLES / "city.mp4", extra=f"audio: {{file: {wav}}}\nframes: {{count: 4}}\n")
    one_line_error(render(c), 3, "nan.wav: 10 audio samples are not numbers", "at 1.36 s")
    nothing_at(out)
    assert not (tmp_path / "o.mp4.work").exists()
    c, out = video(tmp_path, SAMPLES / "city.mp4", "m.mp4", extra=f"frames: {{count: 4}}\n")
    c.write_text(c.read_text().replace("video: {", f"video: {{audio: {wav}, "))
    one_line_error(render(c), 3, "nan.wav: 10 audio samples are not numbers")  # mux only: checked too
    nothing_at(out)


def test_a_wav_header_claiming_1_hz_is_refused_before_decoding(tmp_path):
    """350 KB whose header says 1 Hz: 49 hours, 15.6 GB decoded (a MemoryError traceback under a
    cap, the machine's memory without). One line, at once."""
    import struct

    wav = _wav(tmp_path / "ok.wav", (_sine(8.0) * 20000).astype(np.int16))
    data = bytearray(wav.read_bytes())
    data[24:28], data[28:32] = struct.pack("<I", 1), struct.pack("<I", 2)
    (tmp_path / "onehz.wav").write_bytes(bytes(data))
    c, out = video(tmp_path, SAMPLES / "city.mp4", extra=f"audio: {{file: {tmp_path / 'onehz.wav'}}}\n")
    one_line_error(WARM.run(["render", str(c)], ROOT, seconds=120, memory=6 << 30), 3,
                   "onehz.wav: its header says 49.0 hours of audio in 353 KB")
    nothing_at(out)


def test_a_video_without_sound_as_the_audio_file_says_so(tmp_path):
    silent = make_clip(tmp_path / "silent.mp4", seconds=1.0, audio=False)
    c, out = video(tmp_path, SAMPLES / "city.mp4", extra=f"audio: {{file: {silent}}}\n")
    one_line_error(render(c), 3, "silent.mp4: has no audio stream")
    nothing_at(out)


@pytest.mark.parametrize("override,needle", [
    ("audio_markers=samples/beat.wav", "audio_markers: beat and bar times drive video and zoom renders"),
    ("render.devices=[cpu,cpu]", "render.devices: spreads a video's segments"),
])
def test_settings_a_mode_cannot_use_are_refused_not_ignored(override, needle):
    config = "configs/still.yaml" if override.startswith("audio_markers") else "configs/zoom.yaml"
    one_line_error(render(config, override, "--dry-run"), 2, f"override '{override}'", needle)


def test_a_bpm_outside_the_tempo_range_names_the_override_not_a_file_line():
    proc = render("configs/clip.yaml", "audio.file=samples/beat.wav", "audio.bpm=200", "audio.tempo_range=[60,100]",
                  "--dry-run")
    one_line_error(proc, 2, "override 'audio.bpm=200': audio.bpm: 200 is outside audio.tempo_range [60, 100]")


def test_a_folder_or_a_pipe_is_called_what_it_is(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    for key, path, needle in (("audio.file", tmp_path, "is a folder, not an audio file"),
                              ("audio.file", fifo, "is not a regular file (a pipe or device?)"),
                              ("audio_markers", tmp_path, "is a folder, not a marker file"),
                              ("audio_markers", fifo, "is not a regular file (a pipe or device?)")):
        extra = "audio: {file: samples/beat.wav}\n" if key == "audio_markers" else ""
        c, out = video(tmp_path, SAMPLES / "city.mp4", extra=f"{extra}frames: {{count: 2}}\n")
        proc = render(c, f"{key}={path}")
        one_line_error(proc, 3 if key == "audio.file" else 2, f"{key}: {path}: {needle}")
        nothing_at(out)


def test_a_cut_off_wav_says_the_seconds_it_lost_on_the_timeline_and_in_the_render(tmp_path):
    """A WAV cut to half its length was taken without a word (its header still says 8 s)."""
    import json

    wav = _wav(tmp_path / "whole.wav", (_sine(8.0) * 20000).astype(np.int16))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav.read_bytes()[: 44 + 4 * 22050 * 2])  # the header and the first 4 s
    zoom = cfg(tmp_path, f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                         f"audio: {{file: {cut}}}\nsize: {{width: 48}}\nzoom: {{frames: 8, fps: 4, zoom: '1 + 0.05*beat'}}\n"
                         f"{TINY_DREAM}")
    proc = render(zoom, "--timeline")
    assert proc.returncode == 0, proc.stderr
    note = "audio: cut.wav decoded to 4.00 s of the 8.00 s its header says: 4.00 s lost"
    assert note in proc.stderr
    assert any(n.startswith(note) for n in json.loads((tmp_path / "z.mp4.timeline.json").read_text())["notes"])
    proc = render(zoom)
    assert proc.returncode == 0 and note in proc.stderr, proc.stderr
    assert any(n.startswith(note) for n in json.loads((tmp_path / "z.mp4.report.json").read_text())["notes"])


def test_a_damaged_ogg_says_how_much_it_lost(tmp_path):
    """Zeroed pages in the middle of an Ogg Vorbis file lost 3.2 of its 7.1 s without a word."""
    from dreamreel.media.audio import read_audio

    ogg = tmp_path / "t.ogg"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=7.1", "-c:a", "libvorbis", str(ogg))
    data = bytearray(ogg.read_bytes())
    data[len(data) // 3: len(data) // 3 + 2000] = bytes(2000)
    ogg.write_bytes(bytes(data))
    notes: list[str] = []
    samples = read_audio(ogg, notes=notes)
    lost = 7.1 - samples.size / 22050
    assert lost > 0.5 and len(notes) == 1 and f"{lost:.2f} s lost" in notes[0] and "t.ogg" in notes[0]


def test_render_devices_workers_die_with_their_parent(tmp_path):
    """kill -9 of a render.devices render: its workers stop too (they went on dreaming as
    orphans), and the next run cleans up and finishes."""
    import signal
    import time

    from tests.conftest import make_clip

    clip = make_clip(tmp_path / "c.mp4", seconds=8.0, size="96x64", rate="12", audio=False)
    # Slow enough that the workers, left alone, would dream for far longer than the 5 s allowed.
    c = cfg(tmp_path, f"input: {clip}\noutput: {tmp_path / 'o.mp4'}\ndream: {{steps: 8, octaves: 2}}\n"
                      "video: {steps_after_first: 8, preset: ultrafast}\n"
                      "render: {segments: 2, preroll: 1, crossover: 1, devices: [cpu, cpu]}\n")
    parent = subprocess.Popen([*RENDER, str(c)], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def workers() -> list[int]:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if proc.name.isdigit() and str(tmp_path).encode() in cmd and b"--segment" in cmd:
                found.append(int(proc.name))
        return found

    deadline = time.monotonic() + 120
    while not workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers(), "no worker started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workers()
    proc = render(c, "frames.count=24", "--force")  # a shorter job over what the killed one left
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "o.mp4.work").exists() and not list(tmp_path.glob(".o.mp4*"))
