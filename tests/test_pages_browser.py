"""The timeline and report pages in a real headless Chromium, opened from file://: no console
error, no request leaving the file, the cursor's readout against the JSON, a page that draws.
Skipped, naming the missing browser, where there is none (apt-get install chromium)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from dreamreel.cli import main
from tests.browser import Browser, find_chromium
from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium browser on PATH "
                                "(apt-get install chromium, or set DREAMREEL_CHROMIUM)")

# Where screenshots are kept for a person to look at after the run.
ARTIFACTS = Path(os.environ.get("DREAMREEL_ARTIFACTS", ROOT / "test-artifacts"))

CONFIG = f"""\
mode: zoom
input: {SAMPLES / 'astronaut.png'}
output: {{out}}
audio: {SAMPLES / 'beat.wav'}
size: {{{{width: 64}}}}
zoom: {{{{frames: 192, fps: 24, zoom: "1.008 + 0.03*beat", rotate: "0.4*sin(2*pi*t/T)"}}}}
dream: {{{{step_size: "0.008 + 0.012*onset", steps: 1, octaves: 1}}}}
"""


def check_page(browser: Browser, page: Path, name: str) -> dict:
    """Open ``page``; assert no error, no request but the file and data: URLs, and a page that
    draws (screenshot kept as ARTIFACTS/name.png). Returns the page's JSON."""
    browser.open(page)
    assert browser.errors() == []
    foreign = [u for u in browser.requests() if u != page.resolve().as_uri() and not u.startswith("data:")]
    assert foreign == []
    shot = browser.screenshot()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(shot)
    import cv2

    img = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    plot = browser.evaluate("(() => { const r = document.getElementById('plot').getBoundingClientRect();"
                            " return [r.left, r.top, r.width, r.height]; })()")
    x, y, w, h = (int(v) for v in plot)
    region = img[y : y + h, x : x + w]
    # Lanes drawn: many colours, not one flat background.
    assert region.size and region.std() > 15 and len(np.unique(region.reshape(-1, 3), axis=0)) > 50
    return json.loads(page.with_suffix(".json").read_text())


def readout(browser: Browser) -> dict[str, str]:
    rows = browser.evaluate("[...document.querySelectorAll('#readout-rows tr')]"
                            ".map(t => [t.dataset.key, t.lastChild.textContent])")
    return dict(rows)


def test_the_timeline_page_reads_out_the_json_values_under_the_mouse(tmp_path):
    cfg = tmp_path / "mv.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path / "mv.mp4"))
    assert main(["render", str(cfg), "--timeline"]) == 0
    with Browser() as browser:
        data = check_page(browser, tmp_path / "mv.mp4.timeline.html", "timeline")
        top = browser.evaluate("document.getElementById('overlay').getBoundingClientRect().top")
        left = browser.evaluate("document.getElementById('overlay').getBoundingClientRect().left")
        for frame in (0, 37, 120, 191):
            x = left + browser.evaluate(f"window.dreamreel.xOfFrame({frame})")
            browser.move_mouse(x, top + 60)  # a real pointer move over the lanes
            got = readout(browser)
            assert got["frame"] == str(frame)
            assert int(got["beat number"]) == data["beat_number"][frame]
            for key in ("rms", "onset", "beat"):
                assert float(got[key]) == pytest.approx(data["envelopes"][key][frame], rel=1e-3, abs=1e-6)
            for key, lane in data["schedules"].items():
                assert float(got[key]) == pytest.approx(lane["values"][frame], rel=1e-4), key
        # Zoom in around the cursor and pan: the page keeps drawing, no error.
        browser.call("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": x, "y": top + 60, "deltaX": 0,
                                                  "deltaY": -600})
        span = browser.evaluate("window.dreamreel.view.t1 - window.dreamreel.view.t0")
        assert span < data["duration"] / 2
        assert browser.evaluate("document.getElementById('player').hidden") is False
        assert browser.errors() == []


def test_the_report_page_reads_out_each_frames_figures(tmp_path, clips):
    cfg = tmp_path / "v.yaml"
    cfg.write_text(f"input: {clips['cut']}\noutput: {tmp_path / 'v.mp4'}\naudio: {SAMPLES / 'beat.wav'}\n"
                   "dream: {steps: 1, octaves: 1, jitter: 2}\nvideo: {steps_after_first: 1, preset: ultrafast}\n")
    assert main(["render", str(cfg)]) == 0
    with Browser() as browser:
        data = check_page(browser, tmp_path / "v.mp4.report.html", "report")
        # A muxed track no setting reads is not analysed, and the page says so (it printed
        # "(beats undefined)").
        facts = browser.evaluate("document.getElementById('facts').textContent")
        assert "beat.wav (beats not analysed: no setting reads the audio)" in facts and "undefined" not in facts
        assert data["format"] == "dreamreel.report"
        top = browser.evaluate("document.getElementById('overlay').getBoundingClientRect().top")
        left = browser.evaluate("document.getElementById('overlay').getBoundingClientRect().left")
        for frame in (0, 3, 6, 11):
            browser.move_mouse(left + browser.evaluate(f"window.dreamreel.xOfFrame({frame})"), top + 40)
            got = readout(browser)
            assert got["frame"] == str(frame)
            f = data["report"]["frames"]
            for key in ("strength", "flicker", "sharpness"):
                want = f[key][frame]
                assert got[f"report.{key}"] == "-" if want is None else float(got[f"report.{key}"]) == pytest.approx(want, rel=1e-3)
            assert got["report.fresh"] == str(f["fresh"][frame]).lower()
        summary = browser.evaluate("document.getElementById('summary').innerText")
        assert "flicker, median" in summary and "Resolved config" in browser.evaluate("document.body.innerText")
        assert browser.errors() == []


def test_a_ten_minute_song_at_30_fps_opens_zooms_and_reads_out_its_last_frame(tmp_path):
    from tests.conftest import ffmpeg

    song = tmp_path / "song.wav"  # ten minutes of a 120 bpm pulse, made here, not committed
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:sample_rate=22050:duration=600",
           "-af", "volume='if(lt(mod(t,0.5),0.06),1,0.05)':eval=frame", str(song))
    cfg = tmp_path / "long.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path / "long.mp4").replace(str(SAMPLES / "beat.wav"), str(song))
                   .replace("frames: 192, fps: 24", "frames: 18000, fps: 30"))
    assert main(["render", str(cfg), "--timeline"]) == 0
    with Browser() as browser:
        data = check_page(browser, tmp_path / "long.mp4.timeline.html", "timeline-18000")
        assert data["frames"] == 18000 and abs(data["audio"]["tempo"] - 120) < 4  # whole-lag resolution
        top = browser.evaluate("document.getElementById('overlay').getBoundingClientRect().top")
        left = browser.evaluate("document.getElementById('overlay').getBoundingClientRect().left")
        x = left + browser.evaluate("window.dreamreel.xOfFrame(17999)")
        browser.move_mouse(x - 1, top + 60)
        got = readout(browser)
        frame = int(got["frame"])
        assert frame >= 17950  # a pixel column spans about 20 frames here
        assert float(got["zoom.zoom"]) == pytest.approx(data["schedules"]["zoom.zoom"]["values"][frame], rel=1e-4)
        for _ in range(12):  # zoom in to a few frames a pixel, then pan
            browser.call("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": x - 300, "y": top + 60,
                                                      "deltaX": 0, "deltaY": -400})
        span = browser.evaluate("window.dreamreel.view.t1 - window.dreamreel.view.t0")
        assert span < 30
        browser.call("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x - 300, "y": top + 60, "button": "left"})
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x - 100, "y": top + 60, "button": "left"})
        browser.call("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x - 100, "y": top + 60, "button": "left"})
        assert browser.errors() == []


HOSTILE = "</script><script>window.pwned=1</script><!-- <!--x--> &amp; \u2028\"'"


def test_hostile_text_in_every_string_field_is_shown_as_text_and_the_page_still_draws(tmp_path):
    """File names, expressions with comments, keyframe sources and notes carry text a person (or
    an attacker) typed. The page must draw, run none of it, and hold the same JSON as the file:
    one '<!--' once made the embedded JSON invalid and the page blank, with exit 0."""
    folder = tmp_path / "a<!--b<script>&\x27"
    folder.mkdir()
    out = folder / "v<!--x&y'.mp4"
    marks = folder / "m<!--.txt"
    marks.write_text("0.5\n1.0\n1.0\n9999\n")  # a repeat and one past the end: two notes naming the file
    cfg = tmp_path / "h.yaml"
    cfg.write_text(CONFIG.format(out=json.dumps(str(out)))
                   .replace('"0.008 + 0.012*onset"', json.dumps(f"0.008 + 0.012*onset # {HOSTILE}"))
                   .replace('"0.4*sin(2*pi*t/T)"', json.dumps(f"0:(0), 96:(0.4 # {HOSTILE}), 191:(0)"))
                   + f"audio_markers: {json.dumps(str(marks))}\n")
    assert main(["render", str(cfg), "--timeline"]) == 0
    page = Path(str(out) + ".timeline.html")
    with Browser() as browser:
        data = check_page(browser, page, "timeline-hostile")
        assert browser.evaluate("window.pwned === undefined") is True
        assert browser.evaluate("document.querySelectorAll('script').length") == 2  # ours, and no other
        assert browser.evaluate("typeof window.dreamreel.xOfFrame") == "function"  # our script ran
        in_page = browser.evaluate("JSON.parse(document.getElementById('data').textContent)")
        assert in_page["schedules"] == data["schedules"] and in_page["notes"] == data["notes"]
        assert HOSTILE in data["schedules"]["dream.step_size"]["source"] and "m<!--.txt" in " ".join(data["notes"])
        assert browser.evaluate("document.title").endswith(data["title"]) and data["title"] == str(out)
        assert browser.errors() == []
