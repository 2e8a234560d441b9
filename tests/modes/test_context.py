"""One view of a render's settings in every step: the stream plan, the preview and the audio
plan see what the frame loop sees."""
from __future__ import annotations

import json

import numpy as np

from dreamreel.cli import main
from dreamreel.media.images import read_image
from dreamreel.jobs.folder import job_dir
from tests.conftest import SAMPLES, ffmpeg, make_clip
from tests.modes.test_video import config


def test_a_scene_cut_threshold_reading_seconds_splits_streams_where_the_chain_restarts(tmp_path):
    a = make_clip(tmp_path / "a.mp4", seconds=0.25, audio=False)
    b = make_clip(tmp_path / "b.mp4", seconds=0.75, audio=False, source="smptebars")
    clip = tmp_path / "cut3.mp4"
    ffmpeg("-i", str(a), "-i", str(b), "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip))
    # 0.35 from 0.25 s on (frame 3 at 12 fps), far higher before: read with s = 0 the cut is missed.
    extra = ("render: {batch: 2, preroll: 3, crossover: 2}\n"
             "video: {scene_cut: '0.35 + 10 * max(0, 0.25 - s)', steps_after_first: 1, preset: ultrafast}\n")
    cfg = config(tmp_path, clip, "c.mp4")
    cfg.write_text(cfg.read_text().replace("video: {steps_after_first: 1, preset: ultrafast}\n", "") + extra)
    assert main(["render", str(cfg)]) == 0
    manifest = json.loads((tmp_path / "c.mp4.manifest.json").read_text())
    assert manifest["scene_cuts"] == [3]
    seg = manifest["segments"][1]
    assert (seg["frames"], seg["from"], seg["fresh"]) == ([3, 12], 3, True)


def test_preview_uses_the_guide_and_the_colour_lock_like_the_render(tmp_path, clips):
    sheets = {}
    for name, extra in [("plain", ""), ("guided", f"  guide: {SAMPLES / 'astronaut.png'}\n"),
                        ("unlocked", "")]:
        cfg = config(tmp_path, clips["plain"], f"{name}.mp4")
        text = cfg.read_text().replace("dream: {steps: 2, octaves: 1, jitter: 2}\n",
                                       "dream:\n  steps: 2\n  octaves: 1\n  jitter: 2\n" + extra)
        if name == "unlocked":
            text = text.replace("video: {steps_after_first: 1,", "video: {color_lock: false, steps_after_first: 1,")
        cfg.write_text(text)
        assert main(["render", str(cfg), "--preview", "6"]) == 0
        sheets[name] = read_image(tmp_path / f"{name}.mp4.preview.png").astype(int)
    # Compared over the pictures, not the cells' margins and captions.
    pictures = np.zeros(sheets["plain"].shape[:2], bool)
    pictures[2:66] = True
    for other in ("guided", "unlocked"):
        assert np.abs(sheets[other] - sheets["plain"])[pictures & (sheets["plain"] != 24).any(axis=2)].mean() > 0.5


def test_an_undecodable_mux_file_fails_before_any_frame_is_dreamed(tmp_path, clips, capsys):
    bad = tmp_path / "track.wav"
    bad.write_bytes(b"RIFF not really a wave file" * 10)
    cfg = config(tmp_path, clips["plain"], "out.mp4")
    cfg.write_text(cfg.read_text().replace("preset: ultrafast}", f"preset: ultrafast, audio: '{bad}'}}"))
    assert main(["render", str(cfg)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dreamreel: error: video.audio: ") and "track.wav" in err[0]
    assert "cannot decode audio" in err[0]
    assert not job_dir(tmp_path / "out.mp4").exists()  # refused before the job: nothing dreamed


def _still(tmp_path, name: str, dream: str) -> str:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / name}.png\nsize: {{width: 48}}\n"
                   f"dream: {{octaves: 1, jitter: 2, {dream}}}\n")
    return str(cfg)


def test_a_still_is_one_frame_of_its_own_timeline(tmp_path):
    # T is the frame count, 1 for a picture: the scheduled steps must take the T == 1 branch.
    assert main(["render", _still(tmp_path, "const", "steps: 3")]) == 0
    assert main(["render", _still(tmp_path, "sched", "steps: '3 if T + fps == 2 else 1'")]) == 0
    assert main(["render", _still(tmp_path, "other", "steps: 1")]) == 0
    const, sched, other = (read_image(tmp_path / f"{n}.png").astype(int) for n in ("const", "sched", "other"))
    assert np.array_equal(sched, const)
    assert np.abs(other - const).mean() > 0.5  # the steps do change the picture


def test_a_still_reading_an_audio_envelope_is_refused_with_its_line(tmp_path, capsys):
    cfg = _still(tmp_path, "loud", "steps: '2 + 4*rms'")
    assert main(["render", cfg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dreamreel: error: {cfg}:4: dream.steps: reads an audio envelope (rms, onset, bass, mid, high, beat, bar, ...), but a still "
                   "is one picture with no time to read it at; audio drives video and zoom renders"]
    assert not (tmp_path / "loud.png").exists()
