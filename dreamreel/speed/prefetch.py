"""Run a producer generator on a background thread, a few items ahead of its consumer."""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
_END = object()


def prefetch(make: Callable[[], Iterator[T]], depth: int = 3) -> Iterator[T]:
    """Yield the items of ``make()``, produced on a thread up to ``depth`` ahead.

    An exception in the producer is raised here, at the item where it happened. When the
    consumer stops early (break, error, Ctrl-C) the producer is told to stop and is joined, so
    its resources (an ffmpeg process) are released before this returns.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            it = make()
            try:
                for item in it:
                    if not put((True, item)):
                        return
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
            put((True, _END))
        except BaseException as exc:  # handed to the consumer
            put((False, exc))

    thread = threading.Thread(target=run, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()
