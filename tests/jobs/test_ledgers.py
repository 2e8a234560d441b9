"""A ledgered write (a page, then the JSON that lists it) stopped between the two: the same command
finishes, without --force, since the files left are provably ours (the pending note)."""
from __future__ import annotations

from dreamreel.cli import main
from dreamreel.jobs import sidecars
from tests.conftest import SAMPLES, make_clip


def _stop_before_the_ledger(monkeypatch, name: str) -> None:
    real = sidecars.atomic_write_bytes

    def write(path, blob):
        if path.name == name:
            raise KeyboardInterrupt  # Ctrl-C or a kill, just before the ledger JSON
        return real(path, blob)

    monkeypatch.setattr(sidecars, "atomic_write_bytes", write)


def test_a_render_stopped_between_its_report_page_and_json_finishes_with_the_same_command(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "c.mp4", seconds=0.5, size="64x48", audio=False)
    cfg = tmp_path / "r.yaml"
    cfg.write_text(f"input: {clip}\noutput: {tmp_path / 'r.mp4'}\ndream: {{steps: 1, octaves: 1}}\n"
                   "video: {steps_after_first: 1, preset: ultrafast}\n")
    assert main(["render", str(cfg)]) == 0
    page = (tmp_path / "r.mp4.report.html").read_bytes()
    with monkeypatch.context() as m:
        _stop_before_the_ledger(m, "r.mp4.report.json")
        assert main(["render", str(cfg), "--force", "dream.steps=2"]) == 130
    assert (tmp_path / "r.mp4.report.html").read_bytes() != page  # the new page, the old JSON
    assert main(["render", str(cfg), "dream.steps=2"]) == 0
    assert not (tmp_path / ".r.mp4.report.json.pending").exists()


def test_a_timeline_stopped_between_its_files_and_json_is_made_again_without_force(tmp_path, monkeypatch):
    cfg = tmp_path / "t.yaml"
    cfg.write_text(f"mode: zoom\ninput: {SAMPLES / 'astronaut.png'}\noutput: {tmp_path / 't.mp4'}\n"
                   f"audio: {{file: {SAMPLES / 'beat.wav'}}}\nzoom: {{frames: 24}}\n")
    assert main(["render", str(cfg), "--timeline"]) == 0
    with monkeypatch.context() as m:
        _stop_before_the_ledger(m, "t.mp4.timeline.json")
        assert main(["render", str(cfg), "--timeline", "zoom.frames=36"]) == 130
    assert main(["render", str(cfg), "--timeline", "zoom.frames=36"]) == 0
    assert not (tmp_path / ".t.mp4.timeline.json.pending").exists()
