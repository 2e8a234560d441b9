"""Pictures of a render: the timeline before it (schedules against the music) and the report
after it, as JSON, a self-contained HTML page and a PNG. Pure data in ``lanes``; the page and the
figure draw the same lanes."""
