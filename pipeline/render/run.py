"""One render from start to finish: guard the output, dispatch to the mode, write the manifest."""
from __future__ import annotations

import time

from pipeline.config import Config
from pipeline.render.jobs import job_dir
from pipeline.render.outputs import check_output, output_lock, remove_stale_temps, write_manifest


def run_render(cfg: Config, force: bool = False, preview: int | None = None) -> dict:
    """Render ``cfg`` to ``cfg.output``; returns the manifest's extra facts.

    Modes that resume (video, zoom) keep their work beside the output and only replace the
    output when they finish.
    """
    t0 = time.monotonic()
    # A job folder means a render into this output was started (with --force if the output
    # already existed): finishing it is no surprise overwrite.
    resuming = cfg.mode in ("video", "zoom") and job_dir(cfg.output).is_dir()
    if preview is None and not resuming:
        check_output(cfg.output, force)
    with output_lock(cfg.output):
        remove_stale_temps(cfg.output)  # left by a render that was killed mid-write
        if preview is not None:
            from pipeline.render.preview import render_preview

            facts = render_preview(cfg, preview, force)
            facts["seconds"] = round(time.monotonic() - t0, 3)
            return facts
        if cfg.mode == "still":
            from pipeline.render.still import render_still

            facts = render_still(cfg)
        elif cfg.mode == "atlas":
            from pipeline.render.atlas import render_atlas

            facts = render_atlas(cfg)
        elif cfg.mode == "video":
            from pipeline.render.video import render_video

            facts = render_video(cfg, force)
        else:
            from pipeline.render.zoom import render_zoom

            facts = render_zoom(cfg, force)
        facts["seconds"] = round(time.monotonic() - t0, 3)
        write_manifest(cfg.output, cfg.model_dump(mode="json"), facts)
    return facts
