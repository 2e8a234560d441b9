"""Hostile paths and sizes through the real `render` command (issue "never lose a file, never hang,
never a traceback").

Every child runs under a wall-clock timeout and CPU-time and address-space limits, so a
regression fails here instead of hanging CI or eating the machine. Each test checks the promised
exit code, one error line under 400 characters, no traceback, and that sentinel files around
the output are untouched.
"""
from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, ffmpeg, make_clip
from tests.warm import WARM

RENDER = [shutil.which("dreamreel"), "render"] if shutil.which("dreamreel") else [sys.executable, "-m", "dreamreel", "render"]
TINY = "dream: {steps: 1, octaves: 1, jitter: 2}\n"
TINY_ZOOM = "mode: zoom\nsize: {width: 32, height: 32}\nzoom: {frames: 3, preset: ultrafast}\n" + TINY


def run(cwd: Path, *args: object, seconds: int = 120, memory_gib: float = 4) -> subprocess.CompletedProcess:
    """The real command in ``cwd``, limited to ``seconds`` of wall and CPU time and ``memory_gib``
    of address space (torch needs about 3 GiB of it just to load). A fork of one warm child
    (tests/warm.py), so each case does not pay for importing torch again."""
    return WARM.run(["render", *map(str, args)], cwd, seconds, int(memory_gib * (1 << 30)))


def one_line(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """Assert exit ``code`` and one ``dreamreel: error:`` line (under 400 characters) holding ``needles``."""
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("dreamreel: error: ") and len(lines[0]) < 400, lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def sentinels(folder: Path, *names: str) -> dict[Path, str]:
    """Files with known content in ``folder``; returns {path: sha256} to compare afterwards."""
    out = {}
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or ("keep.txt", "earlier.mp4", "photo.png"):
        p = folder / name
        p.write_bytes(f"precious {name}\n".encode())
        out[p] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def intact(marks: dict[Path, str]) -> None:
    for p, digest in marks.items():
        assert p.is_file(), f"{p} was removed"
        assert hashlib.sha256(p.read_bytes()).hexdigest() == digest, f"{p} was changed"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- 1. folder outputs and --force ---------------------------------------------------------------

@pytest.mark.parametrize("output", ['""', ".", "./", "..", "renders/.", "/"])
def test_an_output_that_names_no_file_is_a_config_error_even_with_force(tmp_path, output):
    marks = sentinels(tmp_path)
    cfg = write(tmp_path / "c.yaml", f"output: {output}\n{TINY_ZOOM}")
    marks[cfg] = hashlib.sha256(cfg.read_bytes()).hexdigest()
    one_line(run(tmp_path, cfg, "--force"), 2, "output", "names no file or folder of its own")
    intact(marks)


def test_force_into_a_folder_of_other_files_deletes_nothing(tmp_path):
    marks = sentinels(tmp_path / "renders")
    cfg = write(tmp_path / "c.yaml", f"output: renders/\n{TINY_ZOOM}")
    one_line(run(tmp_path, cfg, "--force"), 2, "renders", "did not write", "earlier.mp4 and 2 more")
    intact(marks)
    assert not (tmp_path / "renders.work").exists()


def test_a_frames_folder_is_rewritten_only_where_dreamreel_wrote(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"output: frames\n{TINY_ZOOM}")
    assert run(tmp_path, cfg).returncode == 0
    assert sorted(p.name for p in (tmp_path / "frames").glob("*.png")) == ["000000.png", "000001.png", "000002.png"]
    # Fewer frames with --force: the extra old frame goes, the folder stays ours.
    proc = run(tmp_path, cfg, "--force", "zoom.frames=2")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "frames").glob("*.png")) == ["000000.png", "000001.png"]
    # Someone puts a file of their own in it: it is never touched, even with --force.
    marks = sentinels(tmp_path / "frames", "notes.txt")
    one_line(run(tmp_path, cfg, "--force"), 2, "notes.txt", "did not write")
    intact(marks)


# --- 2. resuming never replaces a file the job did not write -----------------------------------

def test_a_job_folder_does_not_license_overwriting_the_output(tmp_path):
    out = tmp_path / "o.mp4"
    marks = sentinels(tmp_path, "o.mp4")
    (tmp_path / "o.mp4.work" / "frames").mkdir(parents=True)  # a job folder from some earlier run
    cfg = write(tmp_path / "c.yaml", f"output: {out}\n{TINY_ZOOM}")
    one_line(run(tmp_path, cfg), 2, "output exists; pass --force")
    intact(marks)


@pytest.mark.parametrize("force", [False, True])
def test_a_users_folder_named_like_the_job_folder_is_never_used_or_deleted(tmp_path, force):
    """``take.mp4.work/`` holding someone's notes is not adopted as the job folder of ``take.mp4``
    (it used to be, and was deleted when the render finished), with or without --force."""
    (tmp_path / "take.mp4.work" / "frames").mkdir(parents=True)
    marks = sentinels(tmp_path / "take.mp4.work", "notes.txt", "frames/000000.png")
    cfg = write(tmp_path / "c.yaml", f"output: take.mp4\n{TINY_ZOOM}")
    args = [cfg, "--force"] if force else [cfg]
    one_line(run(tmp_path, *args), 2, "take.mp4.work", "not a dreamreel job folder", "move it away")
    intact(marks)
    assert sorted(p.name for p in (tmp_path / "take.mp4.work").rglob("*")) == ["000000.png", "frames", "notes.txt"]
    assert not (tmp_path / "take.mp4").exists()


def test_an_empty_folder_at_the_job_folders_place_is_taken_and_cleaned_up(tmp_path):
    (tmp_path / "take.mp4.work").mkdir()
    cfg = write(tmp_path / "c.yaml", f"output: take.mp4\n{TINY_ZOOM}")
    proc = run(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "take.mp4").is_file() and not (tmp_path / "take.mp4.work").exists()


def test_killed_after_the_output_was_placed_the_rerun_finishes(tmp_path, monkeypatch):
    """The job recorded the file it put in place, so the next run may finish and clean up
    without --force (and without touching anything else)."""
    from dreamreel.cli import main
    from dreamreel.jobs import folder as jobs

    cfg = write(tmp_path / "c.yaml", f"output: {tmp_path / 'o.mp4'}\n{TINY_ZOOM}")
    calls = []

    def die(self):  # the moment between placing the output and removing the job folder
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs.Job, "remove", die)
    assert main(["render", str(cfg)]) == 130
    assert (tmp_path / "o.mp4").is_file() and (tmp_path / "o.mp4.work").is_dir()
    monkeypatch.undo()
    assert main(["render", str(cfg)]) == 0
    assert not (tmp_path / "o.mp4.work").exists() and calls == [1]


# --- 3. the stale-temp sweep takes only this output's own temp files ---------------------------

@pytest.mark.parametrize("name", ["city", "c[it]y*"])
def test_the_sweep_leaves_other_outputs_temp_files_alone(tmp_path, name):
    out = tmp_path / "out"
    # Temp files of other renders whose names share a prefix (or match as a glob pattern).
    marks = sentinels(out, ".city.v2.mp4.1a2b3c4d.part.mp4", ".city.mp4.0badc0de.part.mp4", ".cat.1a2b3c4d.part",
                      ".city.v2.1a2b3c4d.part")
    own = out / f".{name}.part"  # what a killed render of this very output leaves: swept
    own.mkdir()
    cfg = write(tmp_path / "c.yaml", f"output: 'out/{name}'\n{TINY_ZOOM}")
    proc = run(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    intact(marks)
    assert not own.exists()


# --- 4. a failed zoom render leaves nothing, or says what it kept --------------------------------

def test_a_zoom_schedule_that_fails_later_is_refused_before_any_job_exists(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"output: o.mp4\n{TINY_ZOOM}")
    one_line(run(tmp_path, cfg, "zoom.frames=6", "zoom.zoom=1 + 1/(t-3)"), 2, "zoom.zoom", "division by zero", "frame 3")
    assert not (tmp_path / "o.mp4.work").exists() and not (tmp_path / "o.mp4").exists()


def test_a_schedule_that_fails_at_one_frame_of_a_million_frame_zoom_is_found_before_dreaming(tmp_path):
    # In process: the pre-flight is pure compute. It used to sample long zooms with a stride, so a
    # fault at one frame was found only when the render reached it, hours in.
    from dreamreel.config import load_config
    from dreamreel.errors import ConfigError
    from dreamreel.modes.variables import build_timeline

    cfg = load_config(write(tmp_path / "c.yaml", f"output: o.mp4\n{TINY_ZOOM}"),
                      ["zoom.frames=1000000", "zoom.rotate=0.1 * sin(t / 50)", "zoom.zoom=1 + 0.01/(t - 999983)"])
    with pytest.raises(ConfigError, match="zoom.zoom: division by zero .* at frame 999983"):
        build_timeline(cfg, cfg.zoom.frames, cfg.zoom.fps)


def test_a_missing_audio_file_fails_before_any_job_exists(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"output: o.mp4\n{TINY_ZOOM}audio: nope.wav\n")
    one_line(run(tmp_path, cfg), 3, "nope.wav")
    assert not (tmp_path / "o.mp4.work").exists()


def test_a_zoom_that_fails_after_dreaming_says_its_frames_are_kept(tmp_path):
    import signal

    cfg = write(tmp_path / "c.yaml", "output: o.mp4\nmode: zoom\nsize: {width: 96, height: 96}\n"
                                     f"zoom: {{frames: 6, crf: 0, preset: ultrafast}}\n{TINY}")
    limit = 40 * 1024  # every 96x96 PNG checkpoint fits under it; the lossless MP4 does not

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([*RENDER, str(cfg)], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          preexec_fn=full_disk)
    one_line(proc, 3, "6 finished frames kept in o.mp4.work", "resume")
    assert run(tmp_path, cfg).returncode == 0  # and so it does
    assert not (tmp_path / "o.mp4.work").exists()


# --- 5. YAML aliases, nesting and sizes ----------------------------------------------------------

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "output: o.png\n"


@pytest.mark.parametrize("text,needle", [
    (LAUGHS, "aliases expand this config past"),
    ("a: &a [*a]\noutput: o.png\n", "refers to the value that contains it"),
    ("output: o.png\nx: " + "[" * 500 + "]" * 500 + "\n", "nests deeper than"),
    ("output: o.png\nx: " + "{a: " * 300 + "1" + "}" * 300 + "\n", "nests deeper than"),
])
def test_alias_bombs_recursion_and_deep_nesting_are_config_errors(tmp_path, text, needle):
    cfg = write(tmp_path / "c.yaml", text)
    one_line(run(tmp_path, cfg, seconds=60), 2, "c.yaml", needle)


# --- 6. long strings are cut off before any parsing ----------------------------------------------

@pytest.mark.parametrize("length", [200_000, 900_000])
def test_a_huge_schedule_string_is_refused_at_once(tmp_path, length):
    cfg = write(tmp_path / "c.yaml", f"output: o.png\n{TINY}dream: {{step_size: \"0:(0.01)," + " " * length + "x\"}\n")
    line = one_line(run(tmp_path, cfg, seconds=30), 2, "c.yaml")
    assert "characters long" in line


# --- 7. configs and inputs that never end --------------------------------------------------------

def test_device_fifo_and_oversized_configs_are_refused(tmp_path):
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    one_line(run(tmp_path, fifo, seconds=30), 2, "not a regular file")
    for dev in ("/dev/zero", "/dev/urandom"):
        one_line(run(tmp_path, dev, seconds=30), 2, dev, "not a regular file")
    big = write(tmp_path / "big.yaml", "output: o.png\n" + "# padding\n" * 120_000)
    one_line(run(tmp_path, big, seconds=30), 2, "larger than 1024 KiB")


def test_an_input_that_is_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "in.mp4"
    os.mkfifo(fifo)
    cfg = write(tmp_path / "c.yaml", f"input: {fifo}\noutput: o.mp4\n{TINY}")
    one_line(run(tmp_path, cfg, seconds=60), 3, "in.mp4", "not a regular file")


# --- 8. decompression bombs ----------------------------------------------------------------------

def _png(path: Path, w: int, h: int, rows: int | None = None) -> Path:
    """A grey PNG declaring w x h; its data holds ``rows`` zero rows (all of them by default),
    which zlib packs into a few hundred KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = b"\0" * (1 + w)
    body = b"".join(z.compress(row) for _ in range(h if rows is None else rows)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("w,h,rows", [(30000, 30000, None), (100000, 100000, 1)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, w, h, rows):
    bomb = _png(tmp_path / "bomb.png", w, h, rows)
    cfg = write(tmp_path / "c.yaml", f"input: {bomb}\noutput: o.png\n{TINY}")
    one_line(run(tmp_path, cfg, seconds=60), 3, "bomb.png", f"{w}x{h}", "limits.max_pixels")
    assert not (tmp_path / "o.png").exists()


def test_the_pixel_limit_is_a_documented_key(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: o.png\n{TINY}")
    one_line(run(tmp_path, cfg, "limits.max_pixels=100000"), 3, "512x512", "limits.max_pixels")
    assert run(tmp_path, cfg, "size.width=64").returncode == 0


# --- 9. cover art is not video --------------------------------------------------------------------

def test_a_song_with_cover_art_is_not_a_video(tmp_path):
    song = tmp_path / "song.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-i", str(SAMPLES / "astronaut.png"), "-map", "0", "-map", "1",
           "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v", "attached_pic", str(song))
    cfg = write(tmp_path / "c.yaml", f"input: {song}\nmode: video\noutput: o.mp4\n{TINY}")
    one_line(run(tmp_path, cfg), 3, "song.mp3", "has audio but no video stream")


# --- 10. metadata cannot change what the probe sees ------------------------------------------------

def test_a_title_that_imitates_a_stream_line_changes_nothing(tmp_path):
    from dreamreel.media.probe import probe

    clip = make_clip(tmp_path / "plain.mp4", seconds=0.5, audio=False)
    spoof = tmp_path / "spoof.mp4"
    ffmpeg("-i", str(clip), "-c", "copy", "-metadata", "title=x\n  Stream #0:0: Video: h264, 36x64, 250 fps",
           "-metadata", "comment=Stream #0:0: Video: h264, 36x64, 250 fps", str(spoof))
    info = probe(spoof)
    assert (info.width, info.height, info.fps, info.frames) == (96, 64, 12, 6)
    cfg = write(tmp_path / "c.yaml", f"input: {spoof}\noutput: o.mp4\n{TINY}video: {{preset: ultrafast}}\n")
    proc = run(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    out = probe(tmp_path / "o.mp4")
    assert (out.width, out.height, out.fps, out.frames) == (96, 64, 12, 6)


# --- tracebacks that are now one line ------------------------------------------------------------

BAD = [
    ("dream: {step_size: '0.01" + "+0" * 990 + "'}", "nests deeper than"),
    ("dream: {step_size: '" + "-" * 500 + "0.01'}", "nests deeper than"),
    ("dream: {step_size: 'min()'}", "min() takes 2 or more arguments"),
    ("dream: {step_size: 'clamp(0.01)'}", "clamp() takes 3 arguments"),
    ("dream: {step_size: 'sin(t,2)'}", "sin() takes 1 argument"),
    ("dream: {step_size: 'log(t)'}", "dream.step_size: math domain error"),
    ("dream: {step_size: {0: 0.01, .nan: 0.02}}", "not a frame number"),
    ("dream: {layers: {'features.13:99999': 1}}", "channel 99999 is out of range; features.13 has channels 0 to 95"),
    ("dream: {layers: {classifier.1: 1}}", "not a spatial map"),
    ("dream: {steps: 2}\ndream: {steps: 3}", "given twice (lines"),
    ("size: {width: true}", "size.width"),
]


@pytest.mark.parametrize("body,needle", BAD)
def test_mistakes_that_were_tracebacks_are_one_line(tmp_path, body, needle):
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: o.png\n{body}\n")
    one_line(run(tmp_path, cfg, seconds=90), 2, needle)
    assert not (tmp_path / "o.png").exists()


def test_zoom_rate_too_small_and_zoom_schedule_errors_are_config_errors(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"output: o.mp4\n{TINY_ZOOM}")
    one_line(run(tmp_path, cfg, "zoom.fps=0.0001"), 2, "zoom.fps")
    one_line(run(tmp_path, cfg, "zoom.frames=true"), 2, "zoom.frames")
    one_line(run(tmp_path, cfg, "zoom.zoom=round(1.5,400)+sqrt(t-1)"), 2, "zoom.zoom", "frame 0")


def test_a_tiny_video_renders_with_flow_at_a_floor_size(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", seconds=0.5, audio=False)
    cfg = write(tmp_path / "c.yaml", f"input: {clip}\noutput: o.mp4\nsize: {{width: 8}}\n{TINY}"
                                     "video: {preset: ultrafast}\n")
    proc = run(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr


def test_output_that_is_a_folder_and_names_past_255_bytes(tmp_path):
    (tmp_path / "x.png").mkdir()
    marks = sentinels(tmp_path / "x.png")
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: x.png\n{TINY}size: {{width: 32}}\n")
    one_line(run(tmp_path, cfg, "--force"), 2, "x.png: is a folder")
    intact(marks)
    long = "n" * 300 + ".png"
    one_line(run(tmp_path, cfg, f"output={long}"), 2, "output", "304 bytes")
    ok = "k" * 237 + ".png"  # 241 bytes, the longest a name may be with its manifest beside it
    proc = run(tmp_path, cfg, f"output={ok}")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ok).is_file() and (tmp_path / f"{ok}.manifest.json").is_file()


# --- smaller lies --------------------------------------------------------------------------------

def test_override_errors_name_the_override_and_long_values_are_cut(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"output: o.png\ndream:\n  steps: 3\n{TINY.replace('dream', 'size: {width: 32}#')}")
    line = one_line(run(tmp_path, cfg, "dream={steps: -3}"), 2, "override 'dream={steps: -3}'")
    assert "c.yaml" not in line
    line = one_line(run(tmp_path, cfg, "dream.model=" + "m" * 100_000), 2, "dream.model")
    assert len(line) < 400


def test_a_live_webm_without_a_duration_is_counted_by_its_packets(tmp_path):
    from dreamreel.media.ffmpeg import ffmpeg_exe
    from dreamreel.media.probe import probe

    live = tmp_path / "live.webm"
    # Written to a pipe, the muxer cannot go back to store a duration (like a live capture).
    with open(live, "wb") as f:
        subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc2=size=64x48:rate=10:duration=1", "-c:v", "libvpx", "-f", "webm", "-"],
                       stdout=f, check=True)
    assert probe(live).frames == 10
    cfg = write(tmp_path / "c.yaml", f"input: {live}\noutput: o.mp4\n{TINY}video: {{preset: ultrafast}}\n")
    proc = run(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    assert probe(tmp_path / "o.mp4").frames == 10


def test_bf16_without_hardware_support_warns_once(tmp_path):
    from dreamreel.modes.setup import cpu_has_native_bf16

    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: o.png\nsize: {{width: 32}}\n"
                                     "dream: {steps: 1, octaves: 1, precision: bf16}\n")
    proc = run(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "warning" in ln]
    if cpu_has_native_bf16():
        assert warnings == []
    else:
        assert len(warnings) == 1 and "bf16" in warnings[0] and "auto picks fp32" in warnings[0]


# --- generated hostile configs -------------------------------------------------------------------

def test_hostile_configs_stay_within_bounds():
    """Hypothesis in a child under 4 GiB of address space (torch takes 3 to load) and 5 minutes: every generated hostile
    config (deep nesting, alias bombs, huge strings, odd numbers, wrong arities, deep expressions)
    gives a Config or one short ConfigError line, each within the per-example deadline."""
    limit = 4 << 30

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "tests.hostile_configs"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=300, preexec_fn=limits)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "all within bounds" in proc.stderr


# --- fourth round: the pages, the cache of measured choices, the timeline's files ---------------------

def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def test_a_fifo_in_the_cache_place_neither_hangs_a_render_nor_leaves_its_job(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / "choices.json")
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: z.mp4\n{TINY_ZOOM}")
    proc = WARM.run(["render", str(cfg)], tmp_path, 120, 4 << 30, env=_env(DREAMREEL_CACHE=str(cache), DREAMREEL_CHOICES=None))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "z.mp4").is_file() and not (tmp_path / "z.mp4.work").exists()


def test_a_cache_holding_nan_keeps_the_manifest_strict_json(tmp_path):
    import json

    from dreamreel.speed import choices

    cache = tmp_path / "cache"
    cache.mkdir()
    # Every record of the right shape, with a NaN or an infinity where its step times go.
    ident = choices.machine_identity(__import__("torch").device("cpu"))
    text = json.dumps({"x": {"precision": "fp32", "channels_last": True, "ms": {"fp32": 1.0}, "size": [32, 32],
                             "model": "mobilenet_v2", **ident}}).replace('"fp32": 1.0', '"fp32": 1e999')
    (cache / "choices.json").write_text(text)
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: z.mp4\n{TINY_ZOOM}")
    proc = WARM.run(["render", str(cfg)], tmp_path, 120, 4 << 30, env=_env(DREAMREEL_CACHE=str(cache), DREAMREEL_CHOICES=None))
    assert proc.returncode == 0, proc.stderr[-2000:]
    json.loads((tmp_path / "z.mp4.manifest.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in manifest"))


def test_with_home_empty_no_cache_is_made_at_the_root_or_here(tmp_path):
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: z.mp4\n{TINY_ZOOM}")
    before = Path("/.cache/dreamreel").exists()
    proc = WARM.run(["render", str(cfg)], tmp_path, 120, 4 << 30,
                    env=_env(HOME="", DREAMREEL_CACHE=None, XDG_CACHE_HOME=None, DREAMREEL_CHOICES=None))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Path("/.cache/dreamreel").exists() == before and not (tmp_path / ".cache").exists()


def test_a_folder_where_the_timeline_page_goes_is_one_line_before_anything_is_written(tmp_path):
    (tmp_path / "z.mp4.timeline.html").mkdir()
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: z.mp4\naudio: {SAMPLES / 'beat.wav'}\n"
                                     f"{TINY_ZOOM}")
    one_line(run(tmp_path, cfg, "--timeline"), 2, "z.mp4.timeline.html: is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "z.mp4.timeline.html"]


def test_markers_zero_and_the_smallest_double_give_strict_json_and_no_traceback(tmp_path):
    import json

    marks = write(tmp_path / "m.txt", "0\n5e-324\n")
    cfg = write(tmp_path / "c.yaml", f"input: {SAMPLES / 'astronaut.png'}\noutput: z.mp4\naudio: {SAMPLES / 'beat.wav'}\n"
                                     f"audio_markers: {marks}\n{TINY_ZOOM}")
    proc = run(tmp_path, cfg, "--timeline")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    data = json.loads((tmp_path / "z.mp4.timeline.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert data["audio"]["tempo"] == 0 and "repeat the one before" in proc.stderr
