"""Coherence properties of video dreams on generated clips of real pixels: the dream holds its
strength along a shot, restarts at the same strength after a cut, and does not ghost."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dreamreel.media.images import read_image
from dreamreel.quality import sharpness_ratios, shot_sharpness
from tests.conftest import ROOT, SAMPLES, ffmpeg, video_stopped_after

W, H = 128, 72
# Small, fast settings; the video keys stay at their defaults, which is what is under test.
DREAM = "dream: {steps: 6, octaves: 2, jitter: 8}\nsize: {width: 128}\n"


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 12) -> Path:
    d = path.parent / f"{path.stem}_png"
    d.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(d / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    ffmpeg("-framerate", str(fps), "-i", str(d / "%04d.png"), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8",
           "-pix_fmt", "yuv444p", str(path))
    return path


def pan(photo: np.ndarray, n: int, x0: int, y0: int, dx: float) -> list[np.ndarray]:
    """``n`` frames of W x H panning across ``photo`` at ``dx`` pixels a frame."""
    out = []
    for i in range(n):
        m = np.float32([[1, 0, -(x0 + dx * i)], [0, 1, -y0]])
        out.append(cv2.warpAffine(photo, m, (W, H), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT))
    return out


def photo() -> np.ndarray:
    return cv2.cvtColor(cv2.resize(cv2.imread(str(SAMPLES / "astronaut.png")), (256, 256)), cv2.COLOR_BGR2RGB)


def render(tmp_path: Path, clip: Path, name: str, *overrides: str) -> list[np.ndarray]:
    out = tmp_path / name
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"input: {clip}\noutput: {out}\n{DREAM}")
    proc = subprocess.run([sys.executable, "-m", "dreamreel", "render", str(cfg), *overrides], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [read_image(p) for p in sorted(out.glob("*.png"))]


def strength(outs: list[np.ndarray], ins: list[np.ndarray]) -> np.ndarray:
    return np.array([np.abs(o.astype(np.float32) - i.astype(np.float32)).mean() / 255 for o, i in zip(outs, ins)])


@pytest.fixture(scope="module")
def long_shot(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    d = tmp_path_factory.mktemp("shot")
    frames = pan(photo(), 36, 40, 60, 1.5)
    return write_clip(d / "pan.mp4", frames), frames


@pytest.fixture(scope="module")
def long_shot_dream(tmp_path_factory, long_shot) -> list[np.ndarray]:
    """The pan rendered at the default video settings."""
    return render(tmp_path_factory.mktemp("dream"), long_shot[0], "held")


def test_the_dream_holds_its_strength_along_a_shot(long_shot, long_shot_dream):
    held = strength(long_shot_dream, long_shot[1])
    drift = held[-10:].mean() / held[3:13].mean()
    assert 0.8 <= drift <= 1.25, drift
    assert held.mean() > 0.03  # and the dream is still there


def test_the_dream_stays_as_crisp_as_its_fresh_frame_along_a_pan(long_shot, long_shot_dream):
    """Sharpness (variance of the Laplacian) over the footage's own, r_t: from the 10th frame on
    it keeps at least 0.7 of the fresh first frame's and never drops below the footage's. With
    the frame blended toward the previous output (method 2) it fell to about a third, footage
    included."""
    r = sharpness_ratios(long_shot_dream, long_shot[1])
    [(retention, kept)] = shot_sharpness(r, [0])
    assert retention >= 0.7 and kept >= 1.0, (retention, kept, r.round(2))


def test_the_dream_does_not_fade_as_the_camera_moves(tmp_path):
    """Every warp by a fraction of a pixel blurs the carried detail a little, most where the
    footage has little detail of its own to dream it back from (a slow tilt over a soft photo);
    the hold restores it, so the shot keeps the strength of its fresh first frame."""
    soft = cv2.GaussianBlur(photo(), (0, 0), 3)
    ins = pan(soft, 24, 40, 60, 0.5)
    clip = write_clip(tmp_path / "soft.mp4", ins)
    held = strength(render(tmp_path, clip, "soft", "dream.steps=10", "dream.octaves=4"), ins)
    fade = held[-8:].mean() / held[0]
    assert 0.9 <= fade <= 1.2, (fade, held.round(3))  # 0.75 when the hold only ever lowered it


def test_the_hold_is_what_stops_a_growing_dream(tmp_path, long_shot):
    """With carried frames that add a lot each time (the old 4 steps, blend 0.6) the dream grows
    along the shot unless the hold caps it. Every frame dreamed (cadence 1), where it grows
    fastest: at the default cadence 4 a quarter of the frames add (free drift 1.15 here)."""
    clip, ins = long_shot
    grow = ("video.steps_after_first=4", "video.blend=0.6", "video.cadence=1")
    free = strength(render(tmp_path, clip, "free", *grow, "video.hold=100"), ins)
    held = strength(render(tmp_path, clip, "held", *grow), ins)
    free_drift, held_drift = free[-10:].mean() / free[3:13].mean(), held[-10:].mean() / held[3:13].mean()
    assert free_drift > 1.25 and held_drift < free_drift - 0.15, (free_drift, held_drift)


def test_a_cut_restarts_at_the_strength_of_the_shot_before(tmp_path):
    p = photo()
    a = pan(p, 20, 30, 40, 1.5)
    b = pan(cv2.flip(p, 1)[::-1].copy(), 14, 60, 80, -1.5)  # another picture: a hard cut at frame 20
    clip = write_clip(tmp_path / "cut.mp4", a + b)
    ins = a + b
    s = strength(render(tmp_path, clip, "cut"), ins)
    restart = s[20:25].mean() / s[15:20].mean()
    assert 0.75 <= restart <= 1.33, (restart, s.round(3))


def test_a_moving_object_does_not_leave_a_ghost(tmp_path):
    """A textured object crossing a textured background: the output's edges follow the current
    frame clearly better than the previous one (no trail of the object's last position)."""
    back = cv2.resize(cv2.cvtColor(cv2.imread(str(SAMPLES / "astronaut.png")), cv2.COLOR_BGR2RGB)[300:, :], (W, H))
    obj = cv2.cvtColor(cv2.resize(cv2.imread(str(SAMPLES / "astronaut.png"))[40:300, 120:330], (34, 42)),
                       cv2.COLOR_BGR2RGB)
    frames = []
    for i in range(20):
        f = back.copy()
        x = 4 + 5 * i
        f[15:57, x : x + 34] = obj[:, : max(0, min(34, W - x))]
        frames.append(f)
    clip = write_clip(tmp_path / "obj.mp4", frames)
    outs = render(tmp_path, clip, "obj")

    def edges(rgb: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    now, before = [], []
    for t in range(5, 18):
        x = 4 + 5 * t
        band = (slice(10, 62), slice(max(0, x - 12), min(W, x + 46)))  # the object and where it just was
        e = edges(outs[t])[band]
        now.append(corr(e, edges(frames[t])[band]))
        before.append(corr(e, edges(frames[t - 1])[band]))
    assert np.mean(now) > np.mean(before) + 0.1, (np.mean(now), np.mean(before))


def zoom_out(n: int) -> list[np.ndarray]:
    """``n`` frames of W x H zooming out of the photo, 1.5x to 1.0x: a ring of content the
    previous frame did not hold enters at every border, every frame."""
    frames = []
    for i in range(n):
        m = cv2.getRotationMatrix2D((128, 120), 0, 0.6 * (1.5 - 0.5 * i / (n - 1)))
        m[:, 2] += np.array([W / 2 - 128, H / 2 - 120])
        frames.append(cv2.warpAffine(photo(), m, (W, H), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT))
    return frames


def streaks(out: np.ndarray, inp: np.ndarray, band: int = 10) -> tuple[float, float]:
    """How much the dream (out - inp, grey) varies across the border bands over how much it varies
    along them: (left and right bands, top and bottom bands). A dream is about as busy either way
    (~1); detail smeared in from the edge is lines running in from the border, busy across and
    flat along (2-4)."""
    r = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32) - cv2.cvtColor(inp, cv2.COLOR_RGB2GRAY).astype(np.float32)
    dx, dy = np.abs(np.diff(r, axis=1))[:-1], np.abs(np.diff(r, axis=0))[:, :-1]
    h, w = dx.shape
    sides, ends = np.zeros((h, w), bool), np.zeros((h, w), bool)
    sides[band:-band, :band] = sides[band:-band, -band:] = True
    ends[:band, band:-band] = ends[-band:, band:-band] = True
    return float(dy[sides].mean() / dx[sides].mean()), float(dx[ends].mean() / dy[ends].mean())


def test_a_zoom_outs_border_ring_grows_a_dream_not_streaks(tmp_path):
    """What enters at the border has no previous dream: the carried detail there must be nothing,
    not the edge's detail replicated outward, which the zoom then drew into lines across the ring
    (2-3.6x busier across than along, before the warp of the detail read zeros past the border)."""
    ins = zoom_out(24)
    outs = render(tmp_path, write_clip(tmp_path / "zoom.mp4", ins), "zoom")
    for t in (12, 23):
        assert max(streaks(outs[t], ins[t])) < 1.6, (t, streaks(outs[t], ins[t]))
    # Not by leaving the ring bare: the top and bottom rows of cells, mostly content that entered
    # along the zoom, have regrown a third of the middle's dream (0.36 here; dreaming them fully is
    # what ``video.reveal`` is for).
    c = cells(outs[23], ins[23])
    assert c[[0, -1]].mean() > 0.25 * c[1:-1, 1:-1].mean(), c.round(1)


def integer_pan(n: int, step: int = 2) -> list[np.ndarray]:
    """``n`` frames of W x H cut from the full-size photo, the camera moving ``step`` whole pixels
    right each frame: exact motion with no resampling, and new content entering on the right."""
    full = cv2.cvtColor(cv2.imread(str(SAMPLES / "astronaut.png")), cv2.COLOR_BGR2RGB)
    return [full[200 : 200 + H, 40 + step * i : 40 + step * i + W].copy() for i in range(n)]


def cells(out: np.ndarray, inp: np.ndarray, n: int = 4) -> np.ndarray:
    d = np.abs(out.astype(np.float32) - inp.astype(np.float32)).mean(axis=2)
    return np.array([[d[i * H // n : (i + 1) * H // n, j * W // n : (j + 1) * W // n].mean() for j in range(n)]
                     for i in range(n)])


@pytest.fixture(scope="module")
def exact_pan(tmp_path_factory) -> tuple[Path, list[np.ndarray], list[np.ndarray]]:
    """A 64-frame whole-pixel pan (by its end every pixel has entered the view since frame 0) and
    its render at the default video settings (``video.reveal`` on)."""
    d = tmp_path_factory.mktemp("exact")
    ins = integer_pan(64)
    clip = write_clip(d / "pan.mp4", ins)
    return clip, ins, render(d, clip, "pan")


def test_what_a_pan_reveals_is_dreamed_as_a_fresh_frame_would(tmp_path, exact_pan):
    """At the last frame, per cell of a 4x4 grid, the dream's strength over that of a fresh dream
    of the same frame (the same config started there): the newest quarter of the frame, which
    entered over the last 16 frames, holds at least 0.6 of a fresh dream with ``video.reveal``, the
    default, as the suite's target asks (0.83-1.02 now). Without it (revealed content takes the
    carried frame's single finest step) it held 0.34-0.47."""
    clip, ins, outs = exact_pan
    last = len(ins) - 1
    fresh = render(tmp_path, clip, "fresh", f"frames.start={last}", "frames.count=1")[0]
    r = cells(outs[last], ins[last]) / cells(fresh, ins[last])
    assert r[:, -1].min() >= 0.6 and r.mean() >= 0.8, r.round(2)


def test_an_exact_pan_holds_still_where_nothing_new_enters(exact_pan):
    """The input moves by exactly 2 pixels a frame, so the output shifted back by 2 should match
    the previous output wherever the view is not new: the dream changes only where it must."""
    _, ins, outs = exact_pan
    keep = W - 40  # away from the strip that enters on the right and the reveal's crop there
    errs = []
    for t in range(8, len(outs)):
        a = outs[t - 1][:, 2 : 2 + keep].astype(np.float32) / 255
        b = outs[t][:, :keep].astype(np.float32) / 255
        errs.append(float(((a - b) ** 2).mean()))
    assert max(errs) < 0.0004, np.round(errs, 5)


def test_a_render_with_reveals_resumes_bit_identical(tmp_path, monkeypatch):
    """The bare grid and the reveal budget travel in each checkpoint's state: a render stopped
    after frame 21 (a reveal dreamed at frame 19, cells bare again since) resumes to the frames an
    uninterrupted run makes."""
    from dreamreel.cli import main

    clip = write_clip(tmp_path / "pan.mp4", integer_pan(24))
    cfg = tmp_path / "r.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'frames'}\n{DREAM}video: {{reveal: true}}\n")
    assert main(["render", str(cfg)]) == 0
    reference = [read_image(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    with video_stopped_after(monkeypatch, 22):
        assert main(["render", str(cfg), "--force"]) == 130
    lines = [l for p in (tmp_path / "frames.work").glob("checksums*.txt") for l in p.read_text().splitlines()]
    assert len(lines) == 22 and ";" in lines[-1].split()[-1]  # bare cells and the budget in the state
    assert main(["render", str(cfg)]) == 0
    manifest = __import__("json").loads((tmp_path / "frames.manifest.json").read_text())
    assert manifest["resumed_at"] == 22
    resumed = [read_image(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    assert len(resumed) == 24 and all(np.array_equal(a, b) for a, b in zip(resumed, reference))


def first_fade(monkeypatch, cfg: Path, work: Path) -> int:
    """Render ``cfg`` (24 frames) stopped after 23, so its job folder ``work`` keeps each frame's
    state, and return the first frame whose state says a reveal is fading in: its own."""
    from dreamreel.cli import main

    with video_stopped_after(monkeypatch, 23):
        assert main(["render", str(cfg), "--force"]) == 130
    states = [l.split()[-1] for p in work.glob("checksums*.txt") for l in p.read_text().splitlines()]
    fading = [k for k, s in enumerate(states) if s.split(";")[2:3] and s.split(";")[2].startswith("f")]
    assert fading, states
    reveal = fading[0]
    assert states[reveal].endswith(f";f{reveal}") and ";f" not in states[reveal + 1]
    return reveal


def test_a_render_stopped_while_a_reveal_fades_in_resumes_from_the_reveal(tmp_path, monkeypatch):
    """A reveal's dream comes in over two frames, and its detail is not in the checkpoint: a
    render stopped on the reveal's frame starts again there (its state says so) and ends with
    the frames an uninterrupted run makes."""
    from dreamreel.cli import main

    clip = write_clip(tmp_path / "pan.mp4", integer_pan(24))
    cfg = tmp_path / "r.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'frames'}\n{DREAM}")
    assert main(["render", str(cfg)]) == 0
    reference = [read_image(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    reveal = first_fade(monkeypatch, cfg, tmp_path / "frames.work")
    with video_stopped_after(monkeypatch, reveal + 1):
        assert main(["render", str(cfg), "--force"]) == 130
    assert main(["render", str(cfg)]) == 0
    manifest = __import__("json").loads((tmp_path / "frames.manifest.json").read_text())
    assert manifest["resumed_at"] == reveal
    resumed = [read_image(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    assert len(resumed) == 24 and all(np.array_equal(a, b) for a, b in zip(resumed, reference))


def test_at_cadence_4_a_pan_reveals_on_dreamed_frames_only_and_does_not_pulse(tmp_path, exact_pan):
    """video.cadence=4 on the whole-pixel pan: the frames dreamed are every fourth exactly (a due
    reveal dreams its crops into a carried frame instead of making it a dreamed one: it made half
    the frames dreamed here), what entered still holds at least 0.6 of a fresh dream on the last
    frame, three frames after the last dream (0.43 when reveals waited for a dreamed frame), and
    the carried frames keep the dreamed frames' strength within 10 % (no pulse at the cadence)."""
    import json

    clip, ins, _ = exact_pan
    outs = render(tmp_path, clip, "c4", "video.cadence=4")
    dreamed = json.loads((tmp_path / "c4.report.json").read_text())["report"]["frames"]["dreamed"]
    assert dreamed == [t % 4 == 0 for t in range(len(ins))]
    last = len(ins) - 1
    fresh = render(tmp_path, clip, "fresh", f"frames.start={last}", "frames.count=1")[0]
    r = cells(outs[last], ins[last]) / cells(fresh, ins[last])
    assert r[:, -1].min() >= 0.6 and r.mean() >= 0.8, r.round(2)
    s = strength(outs, ins)[1:]
    on = np.array(dreamed[1:])
    assert abs(s[on].mean() / s[~on].mean() - 1) <= 0.1, (s[on].mean(), s[~on].mean())
