"""`dreamreel timeline`: the audio analysis, every schedule at every frame, cuts and segments,
written as JSON, HTML and PNG without dreaming; beat markers a person corrects, round-tripped."""
from __future__ import annotations

import json
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from dreamreel.cli import main
from dreamreel.config import load_config
from dreamreel.errors import ConfigError, OutputExistsError
from dreamreel.markers import format_labels, read_markers
from dreamreel.jobs.outputs import sidecar
from dreamreel.inspect.timeline import render_timeline
from dreamreel.modes.variables import build_timeline
from dreamreel.views.lanes import beat_numbers
from tests.conftest import SAMPLES

ZOOM = f"""\
mode: zoom
input: {SAMPLES / 'astronaut.png'}
output: {{out}}
audio: {{audio}}
size: {{{{width: 64}}}}
zoom: {{{{frames: 192, fps: 24, zoom: "1.008 + 0.03*beat", rotate: "0.4*sin(2*pi*t/T)"}}}}
dream:
  layers: {{{{features.10: "0:(1.0), 96:(0.2), 191:(0.0)", features.13: "0:(0.0), 96:(0.8), 191:(1.0)"}}}}
  step_size: "0.008 + 0.012*onset"
"""


def zoom_config(tmp_path: Path, audio: Path | str = SAMPLES / "beat.wav", extra: str = "") -> Path:
    path = tmp_path / "mv.yaml"
    path.write_text(ZOOM.format(out=tmp_path / "mv.mp4", audio=audio) + extra)
    return path


def test_the_timeline_holds_every_schedule_at_every_frame_and_the_beats(tmp_path):
    cfg = load_config(zoom_config(tmp_path))
    done = render_timeline(cfg)
    data = json.loads(sidecar(cfg.output, ".timeline.json").read_text())
    timeline = build_timeline(cfg, 192, 24.0)
    assert data["format"] == "dreamreel.timeline" and data["frames"] == 192 and data["fps"] == 24.0
    assert set(data["schedules"]) == {"dream.layers.features.10", "dream.layers.features.13", "dream.step_size",
                                      "zoom.zoom", "zoom.rotate"}
    for key, sched in cfg.schedules().items():
        if key in data["schedules"]:
            got = np.array(data["schedules"][key]["values"])
            want = np.array([sched.at(f, timeline.env(f)) for f in range(192)])
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    assert data["schedules"]["dream.layers.features.10"]["keyframes"] == [[0, 1.0], [96, 0.2], [191, 0.0]]
    env = timeline.envelopes
    for k in ("rms", "onset", "beat"):
        np.testing.assert_allclose(data["envelopes"][k], getattr(env, k), atol=1e-4)
    # samples/beat.wav is a kick about every half second from 0 s (its generator drifts: the kick
    # near 7.5 s sounds 25 ms late): 120 bpm, a beat on each of its kicks from the second (the one
    # on the file's first sample is not taken for a beat), each within 15 ms of its first sound.
    assert abs(data["audio"]["tempo"] - 120) < 1.5 and len(data["beats"]) == 15
    assert np.allclose(data["beats"], kicks(SAMPLES / "beat.wav", 16)[1:], atol=0.015)
    assert data["audio"]["beat_source"] == "detected (dreamreel beat model)"
    numbers = np.array(data["beat_number"])
    assert numbers[0] == 0 and numbers[12] == 1 and numbers[-1] == 15 and np.all(np.diff(numbers) >= 0)
    sixth = int(np.floor(data["beats"][5] * 24 + 0.5))  # the frame nearest the sixth beat
    assert numbers[sixth] == 6 and numbers[sixth - 1] == 5
    wave = data["waveform"]  # about 100 peaks a second, at the rate it states
    assert abs(wave["rate"] - 100) < 1 and len(wave["max"]) == int(8 * wave["rate"])
    png = cv2.imread(str(sidecar(cfg.output, ".timeline.png")))
    assert png is not None and png.shape[1] == 1200 and png.std() > 20
    html = sidecar(cfg.output, ".timeline.html").read_text()
    assert "data:audio/ogg;base64," in html and "http://" not in html and "https://" not in html
    assert [Path(p).name for p in done["timeline"]] == ["mv.mp4.timeline.json", "mv.mp4.timeline.html",
                                                        "mv.mp4.timeline.png", "mv.mp4.detected.beats.txt",
                                                        "mv.mp4.detected.onsets.txt", "mv.mp4.detected.bars.txt"]
    assert not cfg.output.exists() and not (tmp_path / "mv.mp4.work").exists()  # nothing dreamed


def kicks(path: Path, n: int) -> np.ndarray:
    """The first sound of each of the ``n`` kicks near k * 0.5 s, from the high-passed samples."""
    from dreamreel.media.audio import read_audio

    x = np.abs(np.diff(read_audio(path)))
    out = []
    for k in range(n):
        a = max(0, int((k * 0.5 - 0.05) * 22050))
        seg = x[a : a + int(0.12 * 22050)]
        out.append((a + np.flatnonzero(seg > 0.3 * seg.max())[0]) / 22050)
    return np.array(out)


def test_detected_beats_corrected_in_a_label_track_come_back_as_the_beats(tmp_path):
    cfg = load_config(zoom_config(tmp_path))
    render_timeline(cfg)
    detected = read_markers(sidecar(cfg.output, ".detected.beats.txt"))
    assert len(detected) == 15  # the whole track's beats, in its own time
    # A person keeps every other beat and moves one by a tenth of a second, in Audacity.
    edited = detected[::2].copy()
    edited[3] += 0.1
    marks = tmp_path / "beats-fixed.txt"
    marks.write_text(format_labels(edited, "beat"))
    cfg2 = load_config(zoom_config(tmp_path, extra=f"audio_markers: {marks}\n"))
    render_timeline(cfg2)
    data = json.loads(sidecar(cfg2.output, ".timeline.json").read_text())
    assert np.allclose(data["beats"], edited[edited < 8.0], atol=1e-6)
    assert abs(data["audio"]["tempo"] - 60) < 1 and data["audio"]["beat_source"] == f"markers: {marks}"
    beat = np.array(data["envelopes"]["beat"])
    on = np.floor(edited[edited < 8.0] * 24 + 0.5).astype(int)  # the nearest frame
    assert np.all(beat[on] == 1.0) and np.sum(beat == 1.0) == len(on)
    # The schedules read the corrected beat: zoom.zoom kicks on the marker frames only.
    zoom = np.array(data["schedules"]["zoom.zoom"]["values"])
    assert np.allclose(zoom[on], 1.038) and zoom[on[3] - 2] < 1.02
    assert data["beat_number"][on[3]] == 4 and data["beat_number"][on[3] - 1] == 3
    # The render itself reads the same markers.
    assert np.allclose(build_timeline(cfg2, 192, 24.0).envelopes.beat, beat, atol=1e-3)


def test_a_corrected_label_track_is_never_overwritten_and_the_marker_input_never_written(tmp_path):
    """The round trip of the README: correct OUTPUT.detected.beats.txt in place, run --timeline
    again. The corrected file must survive (refused without --force, before anything is written),
    and a marker file the config reads is never written, --force or not."""
    cfg = load_config(zoom_config(tmp_path))
    render_timeline(cfg)
    beats_txt = sidecar(cfg.output, ".detected.beats.txt")
    render_timeline(cfg)  # unchanged since we wrote it: ours, replaced freely
    corrected = "0.000000\t0.000000\tdown\n1.010000\t1.250000\tregion\n"
    beats_txt.write_text(corrected)
    json_before = sidecar(cfg.output, ".timeline.json").read_bytes()
    with pytest.raises(OutputExistsError, match="detected.beats.txt: exists and is not as dreamreel wrote it"):
        render_timeline(cfg)
    assert beats_txt.read_text() == corrected and sidecar(cfg.output, ".timeline.json").read_bytes() == json_before
    # Pointed at by audio_markers, it is read and never rewritten, even with --force.
    cfg2 = load_config(zoom_config(tmp_path, extra=f"audio_markers: {beats_txt}\n"))
    for force in (False, True):
        render_timeline(cfg2, force=force)
        assert beats_txt.read_text() == corrected
    got = json.loads(sidecar(cfg.output, ".timeline.json").read_text())
    assert np.allclose(got["beats"], [0.0, 1.01]) and "detected.beats.txt" not in got["written"]
    # Another file of ours, changed by a person, is replaced only with --force.
    sidecar(cfg.output, ".timeline.html").write_text("my notes")
    with pytest.raises(OutputExistsError):
        render_timeline(cfg2)
    render_timeline(cfg2, force=True)
    assert "my notes" not in sidecar(cfg.output, ".timeline.html").read_text()


def test_corrected_bars_come_back_as_the_bars_and_the_bars_file_is_never_written(tmp_path):
    """The bars' round trip: a person moves every bar line one beat later in
    OUTPUT.detected.bars.txt, in place, and points audio_bar_markers at it. The bar lines, bar
    numbers and the ``bar`` envelope follow it; the file is read, never rewritten, --force or not."""
    cfg = load_config(zoom_config(tmp_path))
    render_timeline(cfg)
    bars_txt = sidecar(cfg.output, ".detected.bars.txt")
    detected = read_markers(bars_txt)
    first = json.loads(sidecar(cfg.output, ".timeline.json").read_text())
    assert first["audio"]["bar_source"] == "detected (dreamreel beat model)"
    moved = detected + 0.5  # one beat later at 120 bpm
    corrected = format_labels(moved, "bar")
    bars_txt.write_text(corrected)
    cfg2 = load_config(zoom_config(tmp_path, extra=f"audio_bar_markers: {bars_txt}\n"))
    for force in (False, True):
        render_timeline(cfg2, force=force)
        assert bars_txt.read_text() == corrected
    data = json.loads(sidecar(cfg2.output, ".timeline.json").read_text())
    assert data["audio"]["bar_source"] == f"markers: {bars_txt}" and "detected.bars.txt" not in data["written"]
    got = np.array(data["bars"])
    assert got.size == moved[moved < 8.0].size and np.allclose(got, moved[moved < 8.0], atol=0.03)
    bar = np.array(data["envelopes"]["bar"])
    assert np.all(bar[np.floor(got * 24 + 0.5).astype(int)] == 1.0)
    first = int(np.floor(got[0] * 24 + 0.5))
    assert data["bar_number"][first] == 1 and data["beat_in_bar"][first] == 1
    # A bad line in it is named with the key, the file and the line.
    bad = tmp_path / "bars.csv"
    bad.write_text("0.5\nsoon\n")
    cfg3 = load_config(zoom_config(tmp_path, extra=f"audio_bar_markers: {bad}\n"))
    with pytest.raises(ConfigError, match=r"audio_bar_markers: .*bars.csv:2: 'soon' is not a time"):
        render_timeline(cfg3)


def test_a_stated_downbeat_moves_the_bars_and_the_timeline_says_so(tmp_path):
    cfg = load_config(zoom_config(tmp_path, audio=f"{{file: {SAMPLES / 'beat.wav'}, downbeat: 1.0, meter: 3}}"))
    render_timeline(cfg)
    data = json.loads(sidecar(cfg.output, ".timeline.json").read_text())
    assert np.allclose(data["bars"][:3], [1.0, 2.5, 4.0], atol=0.03)
    assert data["audio"]["meter"] == 3 and data["audio"]["bar_source"] == "audio.downbeat: 1 s"


def test_a_folder_where_a_timeline_file_goes_is_refused_before_anything_is_written(tmp_path):
    cfg = load_config(zoom_config(tmp_path))
    sidecar(cfg.output, ".timeline.html").mkdir()
    with pytest.raises(OutputExistsError, match="timeline.html: is a folder"):
        render_timeline(cfg, force=True)
    assert not sidecar(cfg.output, ".timeline.json").exists()


@pytest.mark.parametrize("text, problem", [
    ("nan\n1.0\n", "'nan' is not a finite time"), ("inf\n", "'inf' is not a finite time"),
    ("1e300\n", "past any track"), ("1_0\n", "'1_0' is not a time"), ("0.5\n0x10\n", "'0x10' is not a time"),
])
def test_bad_marker_lines_are_refused_with_file_and_line(tmp_path, text, problem):
    marks = tmp_path / "m.txt"
    marks.write_text(text)
    with pytest.raises(ConfigError, match=problem) as err:
        read_markers(marks)
    assert f"{marks}:" in str(err.value)


def test_repeated_markers_and_markers_past_the_end_are_noted_and_the_json_stays_strict(tmp_path):
    """Markers 0 and 5e-324 once gave an infinite tempo, a traceback and 'Infinity' in the JSON."""
    marks = tmp_path / "m.txt"
    marks.write_text("0\n5e-324\n0.5\n1.0\n1.0\n99\n")
    cfg = load_config(zoom_config(tmp_path, extra=f"audio_markers: {marks}\n"))
    done = render_timeline(cfg)
    raw = sidecar(cfg.output, ".timeline.json").read_text()
    data = json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert np.allclose(data["beats"], [0.0, 0.5, 1.0]) and abs(data["audio"]["tempo"] - 120) < 1e-6
    assert any("2 marker(s) repeat" in n for n in done["notes"])
    assert any("1 marker(s) after the end of the audio" in n for n in done["notes"])


def test_beat_numbers_agree_between_preview_moments_and_the_timeline_when_frames_start_late(tmp_path):
    """With frames.start set, beat N of --preview-at and the timeline's beat_number N are the
    same frame: the render's Nth beat."""
    from dreamreel.envelopes import render_events
    from dreamreel.moments import resolve_moments
    from dreamreel.modes.variables import analyse_audio

    cfg = load_config(zoom_config(tmp_path))
    offset = 1.3
    envs = analyse_audio(cfg, SAMPLES / "beat.wav", 96, 24.0, offset)
    beats = render_events(envs.beats, envs.offset, 24.0, 96)
    frame = resolve_moments("beat:3", 96, 24.0, beats)[0]
    numbers = beat_numbers(96, 24.0, beats)
    assert numbers[frame] == 3 and numbers[frame - 1] == 2
    assert abs(beats[0] - 0.2) < 0.011  # the beat at 1.5 s of the audio is the render's first


def test_marker_files_of_audacity_csv_and_text_read_alike_and_bad_lines_are_named(tmp_path):
    audacity = tmp_path / "labels.txt"
    audacity.write_text("0.500000\t0.500000\tkick\n\\\t100.0\t2000.0\n1.000000\t1.250000\tsnare\n")
    csv = tmp_path / "beats.csv"
    csv.write_text("time,label\n1.0,b\n0.5,a\n")
    plain = tmp_path / "beats.txt"
    plain.write_text("# my beats\n0:00.5\n\n0:01\n")
    for path in (audacity, csv, plain):
        assert read_markers(path).tolist() == [0.5, 1.0], path
    bad = tmp_path / "bad.csv"
    bad.write_text("time\n0.5\n1.0\nabc,x\n")
    with pytest.raises(ConfigError, match=r"bad.csv:4: 'abc' is not a time"):
        read_markers(bad)
    for text, needle in (("", "holds no marker times"), ("0.5\n-1\n", "bad2.txt:2: '-1' is before the start"),
                         ("0:75\n", "bad2.txt:1: '0:75' is not a time")):
        (tmp_path / "bad2.txt").write_text(text)
        with pytest.raises(ConfigError, match=needle):
            read_markers(tmp_path / "bad2.txt")
    cfg = zoom_config(tmp_path, extra=f"audio_markers: {bad}\n")
    assert main(["render", str(cfg), "--timeline"]) == 2


def _wav(path: Path, samples: np.ndarray, rate: int = 22050) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.mark.parametrize("kind", ["missing", "silent", "one sample"])
def test_missing_silent_or_one_sample_audio_gives_flat_envelopes_and_a_note(tmp_path, kind, capsys):
    audio = {"missing": tmp_path / "gone.wav", "silent": _wav(tmp_path / "s.wav", np.zeros(22050 * 3)),
             "one sample": _wav(tmp_path / "o.wav", np.array([0.5]))}[kind]
    assert main(["render", str(zoom_config(tmp_path, audio)), "--timeline"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "dreamreel: note: " in err
    data = json.loads((tmp_path / "mv.mp4.timeline.json").read_text())
    assert data["notes"] and all(max(data["envelopes"][k]) <= (1.0 if kind == "one sample" else 0.0)
                                 for k in ("rms", "onset", "beat"))
    assert data["beats"] == [] and len(data["schedules"]["zoom.zoom"]["values"]) == 192


def test_a_video_timeline_has_its_cuts_and_segments_in_output_frames(tmp_path, clips):
    path = tmp_path / "v.yaml"
    path.write_text(f"input: {clips['cut']}\noutput: {tmp_path / 'v.mp4'}\nrender: {{segments: 2, preroll: 1, crossover: 1}}\n"
                    "video: {blend: '0.5 + 0.2*sin(t)'}\n")
    assert main(["render", str(path), "--timeline"]) == 0
    data = json.loads((tmp_path / "v.mp4.timeline.json").read_text())
    assert data["mode"] == "video" and data["frames"] == 12 and data["cuts"] == [6]
    assert [(s["from"], s["to"], s["fresh"]) for s in data["segments"]] == [(0, 6, True), (6, 12, True)]
    assert list(data["schedules"]) == ["video.blend"] and data["audio"] is None
    assert data["notes"] == ["no audio: the envelopes are flat"]
    # Frames counted from frames.start: frame 0 of the output is source frame 3.
    path.write_text(path.read_text() + "frames: {start: 3}\n")
    assert main(["render", str(path), "--timeline"]) == 0
    data = json.loads((tmp_path / "v.mp4.timeline.json").read_text())
    assert data["first_frame"] == 3 and data["frames"] == 9 and data["cuts"] == [3]


def test_a_still_has_no_timeline(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(f"input: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 's.png'}\n")
    assert main(["render", str(path), "--timeline"]) == 2
    assert "--timeline shows the frames of video and zoom renders" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--preview", "2"], ["--preview-at", "f3"], ["--dry-run"], ["--segment", "0"]])
def test_the_timeline_with_an_option_that_dreams_is_refused_in_one_line(tmp_path, capsys, extra):
    # --timeline dreams nothing: a preview asked beside it used to be dropped without a word.
    path = tmp_path / "z.yaml"
    path.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 'z.mp4'}\n"
                    "zoom: {frames: 8}\n")
    assert main(["render", str(path), "--timeline", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--timeline dreams nothing" in err and extra[0] in err
    assert not list(tmp_path.glob("z.mp4*"))


def test_the_python_api_writes_the_same_timeline_and_previews_moments(tmp_path):
    import dreamreel

    data = dreamreel.timeline(str(zoom_config(tmp_path)), overrides=["zoom.frames=48"])
    assert data["frames"] == 48 and (tmp_path / "mv.mp4.timeline.html").is_file()
    facts = dreamreel.render(str(zoom_config(tmp_path)), preview_at="f3, beat:2", overrides=["zoom.frames=48"],
                            dream={"steps": 1, "octaves": 1})
    assert facts["frames"] == [3, int(np.floor(data["beats"][1] * 24 + 0.5))]  # the nearest frame
    with pytest.raises(dreamreel.ConfigError, match="preview_at"):
        dreamreel.render(str(zoom_config(tmp_path)), preview_at=12)


def test_keys_on_beats_bars_and_times_land_where_the_timeline_shows_the_beats(tmp_path):
    """A motion artist's keys ("beat 4", "bar 2", "0:05") are placed with the render's own beat
    map and drawn where they land; a beat past the track is one line naming the key."""
    extra = '  octave_scale: {"beat 4": 1.3, "bar 2": 1.6, "0:05": 1.4, ease: easeInOutCubic}\n'
    cfg = load_config(zoom_config(tmp_path, extra=extra))
    render_timeline(cfg)
    data = json.loads(sidecar(cfg.output, ".timeline.json").read_text())
    lane = data["schedules"]["dream.octave_scale"]
    fourth = data["beats"][3] * 24
    second_bar = data["bars"][1] * 24
    frames = [f for f, _ in lane["keyframes"]]
    assert frames == sorted([round(fourth), round(second_bar), 120])
    values = np.array(lane["values"])
    assert values[round(fourth)] == pytest.approx(1.3, abs=0.01) and values[120] == pytest.approx(1.4)
    assert np.all(values[: frames[0] + 1] == values[frames[0]])  # the first key's value held before it
    assert values[round(second_bar)] == pytest.approx(1.6, abs=0.01)
    from tests.warm import render

    bad = zoom_config(tmp_path, extra='  octave_scale: {"beat 1": 1.3, "beat 400": 1.5}\n')
    proc = render(bad, "--timeline")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "dreamreel: error: dream.octave_scale: key 'beat 400' is past the track: the render has beats 1 to 15"]
