"""One render from start to finish: guard the output, dispatch to the mode, write the manifest."""
from __future__ import annotations

import time

from dreamreel.config import Config
from dreamreel.errors import ConfigError
from dreamreel.jobs.folder import job_owns
from dreamreel.jobs.outputs import check_output, output_lock, remove_stale_temps, write_manifest


def writes_folder(cfg: Config) -> bool:
    """True when the output is a folder of PNG frames (an animated render to a name without suffix)."""
    return cfg.mode in ("video", "zoom") and cfg.output.suffix == ""


def run_render(cfg: Config, force: bool = False, preview: int | None = None, segment: tuple[int, ...] | None = None,
               preview_at: str | None = None) -> dict:
    """Render ``cfg`` to ``cfg.output``; returns the manifest's extra facts.

    Modes that resume (video, zoom) keep their work beside the output and only replace the
    output when they finish. The output check runs on every run, resumed ones included: an
    existing output is replaced only with ``force`` or when the unfinished job owns it.
    ``segment`` (video): a farm task that dreams those segments (side by side, as a batch) into
    the job folder and writes no output or manifest; tasks of one job run at once, each under
    its segments' locks.
    """
    t0 = time.monotonic()
    animated = cfg.mode in ("video", "zoom")
    if segment is not None:
        if cfg.mode != "video":
            raise ConfigError(f"--segment works on video renders (a {cfg.mode} render is one piece)")
        if force:
            raise ConfigError("--segment cannot be combined with --force: a farm task never starts the "
                              "job over; run the plain render with --force once instead")
        check_output(cfg.output, False, folder=writes_folder(cfg), owned=job_owns(cfg.output))
        from dreamreel.modes.video import render_video

        from dreamreel.farm.devices import check_worker_device

        check_worker_device(cfg)
        facts = render_video(cfg, False, segments=segment)
        facts["seconds"] = round(time.monotonic() - t0, 3)
        return facts
    previewing = preview is not None or preview_at is not None
    if not previewing:
        check_output(cfg.output, force, folder=writes_folder(cfg), owned=animated and job_owns(cfg.output))
    with output_lock(cfg.output):
        remove_stale_temps(cfg.output)  # left by a render that was killed mid-write
        if previewing:
            from dreamreel.inspect.preview import render_preview

            facts = render_preview(cfg, preview, force, at=preview_at)
            facts["seconds"] = round(time.monotonic() - t0, 3)
            return facts
        if cfg.mode == "still":
            from dreamreel.modes.still import render_still

            facts = render_still(cfg)
        elif cfg.mode == "atlas":
            from dreamreel.modes.atlas import render_atlas

            facts = render_atlas(cfg)
        elif cfg.mode == "video":
            from dreamreel.modes.video import render_video

            spread: dict = {}
            if cfg.render.devices is not None and cfg.render.backend == "local":
                from dreamreel.farm.devices import dream_on_devices, plan
                from dreamreel.jobs.folder import Job
                from dreamreel.inspect.report import check_report_files
                from dreamreel.modes.video import VideoRender

                cfg, devices = plan(cfg)
                # Everything the assembly would refuse is refused now, before a worker dreams: the
                # report files beside the output, a job of other settings. The job is opened here
                # (with --force: started over and handed the output) and planned once, so the
                # workers dream the segments of the one stored plan, into a job that owns the output.
                check_report_files(cfg.output, force)
                video = VideoRender(cfg)
                job = Job(cfg.output, video.fingerprint())
                job.open(force)
                force = False
                spread = dream_on_devices(cfg, devices, len(video.plan(job)), job.root)
            facts = render_video(cfg, force)  # with devices: every segment is dreamed; this assembles
            facts.update(spread)
        else:
            from dreamreel.modes.zoom import render_zoom

            facts = render_zoom(cfg, force)
        facts["seconds"] = round(time.monotonic() - t0, 3)
        write_manifest(cfg.output, cfg.model_dump(mode="json"), facts)
    return facts

