"""One lock between torch.fx tracing and every network call in the process.

While torch.fx traces a model (``create_feature_extractor`` cuts our networks with it), it swaps
``nn.Module.__call__`` for the whole process, not for its own thread: a network called by
another thread at that moment is taken for part of the trace, raises NameError ("module is not
installed as a submodule") and leaves the process unable to dream. So a trace holds this lock
alone, and network calls hold it shared: calls run side by side, a trace waits for them and
they wait for it (a trace takes well under a second, once per network).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_cond = threading.Condition()
_calls = 0  # network calls under way
_tracer: int | None = None  # the thread tracing, if any


@contextmanager
def tracing() -> Iterator[None]:
    """Hold while tracing: waits until no network call is under way, and keeps new ones out."""
    global _tracer
    me = threading.get_ident()
    with _cond:
        _cond.wait_for(lambda: _tracer is None and _calls == 0)
        _tracer = me
    try:
        yield
    finally:
        with _cond:
            _tracer = None
            _cond.notify_all()


@contextmanager
def network_call() -> Iterator[None]:
    """Hold while calling a network: waits while another thread traces (the tracing thread's own
    calls go through)."""
    global _calls
    me = threading.get_ident()
    with _cond:
        _cond.wait_for(lambda: _tracer is None or _tracer == me)
        _calls += _tracer is None
        counted = _tracer is None
    try:
        yield
    finally:
        if counted:
            with _cond:
                _calls -= 1
                _cond.notify_all()
