"""Video renders end to end on real clips, checked by decoding what was written."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np

from dreamreel.cli import main
from dreamreel.media.ffmpeg import ffmpeg_exe
from dreamreel.media.images import read_image
from dreamreel.media.probe import probe
from dreamreel.modes import animated as animated_mod
from dreamreel.modes import video as video_mod
from tests.conftest import ffmpeg, video_stopped_after

TINY = "dream: {{steps: 2, octaves: 1, jitter: 2}}\nvideo: {{steps_after_first: 1, preset: ultrafast}}\n"


def config(tmp_path: Path, clip: Path, out: str, extra: str = "") -> Path:
    p = tmp_path / f"{Path(out).stem}.yaml"
    p.write_text(f"input: {clip}\noutput: {tmp_path / out}\n" + TINY.format() + extra)
    return p


def streams(path: Path) -> str:
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return proc.stderr


def frames_of(folder: Path) -> list[np.ndarray]:
    return [read_image(p) for p in sorted(folder.glob("*.png"))]


def test_clip_with_audio_gives_h264_with_the_audio(tmp_path, clips):
    assert main(["render", str(config(tmp_path, clips["plain"], "out.mp4"))]) == 0
    out = tmp_path / "out.mp4"
    info = probe(out)
    text = streams(out)
    assert info.video_codec == "h264" and "yuv420p" in text and "bt709" in text
    assert (info.width, info.height) == (96, 64) and info.fps == 12
    assert info.frames == 12 and abs(info.duration - 1.0) < 0.1
    assert info.has_audio
    assert not (tmp_path / "out.mp4.work").exists()
    manifest = json.loads((tmp_path / "out.mp4.manifest.json").read_text())
    assert manifest["frames"] == 12 and manifest["fps"] == "12"


def test_dream_differs_from_the_source(tmp_path, clips):
    assert main(["render", str(config(tmp_path, clips["plain"], "frames", "frames: {count: 3}\n"))]) == 0
    out = frames_of(tmp_path / "frames")
    assert len(out) == 3
    info = probe(clips["plain"])
    from dreamreel.media.reader import FrameReader

    with FrameReader(clips["plain"], info.fps, (64, 96), 0, 3) as r:
        src = [f for _, f in r]
    assert all(np.abs(o.astype(int) - s.astype(int)).mean() > 2 for o, s in zip(out, src))


def test_silent_source_gives_no_audio_stream_and_no_error(tmp_path, clips):
    assert main(["render", str(config(tmp_path, clips["silent"], "s.mp4"))]) == 0
    assert not probe(tmp_path / "s.mp4").has_audio


def test_audio_none_drops_the_track(tmp_path, clips):
    assert main(["render", str(config(tmp_path, clips["plain"], "n.mp4", "frames: {count: 4}\n")), "video.audio=none"]) == 0
    assert not probe(tmp_path / "n.mp4").has_audio


def test_odd_size_is_made_even(tmp_path, clips):
    assert main(["render", str(config(tmp_path, clips["odd"], "o.mp4"))]) == 0
    info = probe(tmp_path / "o.mp4")
    assert (info.width, info.height) == (66, 44)


def test_hard_cut_restarts_the_dream(tmp_path, clips):
    assert main(["render", str(config(tmp_path, clips["cut"], "c.mp4"))]) == 0
    manifest = json.loads((tmp_path / "c.mp4.manifest.json").read_text())
    assert manifest["scene_cuts"] == [6]


def test_variable_rate_clip_renders_at_its_average_rate(tmp_path, clips):
    assert main(["render", str(config(tmp_path, clips["vfr"], "v.mp4"))]) == 0
    src, out = probe(clips["vfr"]), probe(tmp_path / "v.mp4")
    assert out.fps == src.fps and abs(out.frames - src.frames) <= 1


def test_interrupted_render_resumes_with_identical_frames(tmp_path, clips, monkeypatch):
    cfg = config(tmp_path, clips["plain"], "frames", "frames: {count: 8}\n")
    assert main(["render", str(cfg)]) == 0
    reference = frames_of(tmp_path / "frames")

    # Interrupt the same render after 3 frames are on disk, like Ctrl-C would.
    with video_stopped_after(monkeypatch, 3):
        assert main(["render", str(cfg), "--force"]) == 130
    # The previous output stays whole until a new one replaces it.
    assert len(frames_of(tmp_path / "frames")) == 8
    done = sorted((tmp_path / "frames.work" / "frames").glob("*.png"))
    assert [p.name for p in done] == ["000000.png", "000001.png", "000002.png"]

    assert main(["render", str(cfg)]) == 0  # no --force needed: the job folder is this output's
    manifest = json.loads((tmp_path / "frames.manifest.json").read_text())
    assert manifest["resumed_at"] == 3
    resumed = frames_of(tmp_path / "frames")
    assert len(resumed) == 8 and all(np.array_equal(a, b) for a, b in zip(resumed, reference))


def test_job_with_other_settings_is_refused_until_force(tmp_path, clips, monkeypatch, capsys):
    cfg = config(tmp_path, clips["plain"], "x.mp4", "frames: {count: 4}\n")
    monkeypatch.setattr(animated_mod, "encode_frames", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["render", str(cfg)]) == 130
    monkeypatch.undo()
    assert main(["render", str(cfg), "dream.step_size=0.05"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["render", str(cfg), "dream.step_size=0.05", "--force"]) == 0


def test_a_job_begun_by_an_earlier_method_is_not_resumed(tmp_path, clips, monkeypatch, capsys):
    cfg = config(tmp_path, clips["plain"], "x.mp4", "frames: {count: 4}\n")
    monkeypatch.setattr(animated_mod, "encode_frames", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["render", str(cfg)]) == 130
    monkeypatch.undo()
    meta = tmp_path / "x.mp4.work" / "job.json"
    job = json.loads(meta.read_text())
    assert job["method"] == video_mod.METHOD
    meta.write_text(json.dumps({**job, "method": video_mod.METHOD - 1}))  # as an older dreamreel wrote it
    assert main(["render", str(cfg)]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["render", str(cfg), "--force"]) == 0


def test_preview_writes_a_contact_sheet(tmp_path, clips):
    cfg = config(tmp_path, clips["plain"], "p.mp4")
    assert main(["render", str(cfg), "--preview", "4"]) == 0
    sheet = read_image(tmp_path / "p.mp4.preview.png")
    # Frames 0, 4, 8 side by side, each 96 px frame centred on a cell wide enough for its caption.
    assert sheet.shape[1] == 3 * 176 + 4 * 2
    cells = json.loads((tmp_path / "p.mp4.preview.json").read_text())["cells"]
    assert [c["frame"] for c in cells] == [0, 4, 8] and cells[1]["caption"][0].startswith("f4  0:00.33")
    assert not (tmp_path / "p.mp4").exists()


def test_corrupt_input_is_a_media_error(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    assert main(["render", str(config(tmp_path, bad, "b.mp4"))]) == 3
    err = capsys.readouterr().err.strip()
    assert re.match(r"dreamreel: error: .*bad\.mp4: not a readable video", err) and "\n" not in err
    assert not (tmp_path / "b.mp4").exists()


def test_schedules_in_video_mode_read_the_source_audio(tmp_path, clips, capsys):
    extra = "frames: {count: 4}\n"
    expr = "dream.step_size=0.005 + 0.02*rms"
    assert main(["render", str(config(tmp_path, clips["plain"], "a.mp4", extra)), expr]) == 0
    assert main(["render", str(config(tmp_path, clips["silent"], "s.mp4", extra)), expr]) == 2
    assert "dream.step_size: reads an audio envelope" in capsys.readouterr().err
    assert not (tmp_path / "s.mp4").exists() and not (tmp_path / "s.mp4.work").exists()


def test_keyframed_carry_changes_the_chain(tmp_path, clips):
    base = "frames: {count: 6}\n"
    assert main(["render", str(config(tmp_path, clips["plain"], "k1", base))]) == 0
    assert main(["render", str(config(tmp_path, clips["plain"], "k2", base)), "video.carry=0:(1.0), 3:(0.0), ease=step",
                 "video.blend=0"]) == 0
    a, b = frames_of(tmp_path / "k1"), frames_of(tmp_path / "k2")
    assert np.array_equal(a[0], b[0])  # the first frame does not carry anything
    assert not np.array_equal(a[5], b[5])


def test_another_audio_file_is_muxed_and_cut_to_the_video(tmp_path, clips):
    from tests.conftest import SAMPLES

    cfg = config(tmp_path, clips["silent"], "m.mp4")
    assert main(["render", str(cfg), f"video.audio={SAMPLES / 'beat.wav'}"]) == 0
    info = probe(tmp_path / "m.mp4")
    assert info.has_audio and info.audio_codec == "aac"
    assert abs(info.duration - 0.5) < 0.08  # the 8 s track is cut to the 0.5 s of video


def test_a_top_level_audio_file_is_muxed_from_the_render_start(tmp_path, clips):
    """frames.start moves the effects (envelopes) and the mux of a top-level audio: file alike:
    a click 0.75 s into the track, rendering from 0.5 s, is heard at 0.25 s of the output."""
    from dreamreel.envelopes import envelopes, onset_frames
    from dreamreel.media.audio import ANALYSIS_RATE, read_audio

    track = tmp_path / "click.wav"
    ffmpeg("-f", "lavfi", "-i", "aevalsrc='between(t,0.75,0.77)*sin(2*PI*2000*t)*0.8':s=44100:d=1", str(track))
    cfg = config(tmp_path, clips["plain"], "o.mp4", f"audio: {track}\nframes: {{start: 6}}\n")
    assert main(["render", str(cfg)]) == 0
    env = envelopes(read_audio(tmp_path / "o.mp4"), ANALYSIS_RATE, 24, 12)
    assert [abs(f - 6) <= 1 for f in onset_frames(env)] == [True], onset_frames(env)
