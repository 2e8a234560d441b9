"""More than one device or machine: a worker per device (``render.devices``) and the Ray backend."""
