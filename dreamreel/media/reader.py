"""Streaming frames out of ffmpeg: memory stays flat whatever the clip's length."""
from __future__ import annotations

import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from dreamreel.errors import MediaError
from dreamreel.media.ffmpeg import decode_args, ffmpeg_exe, last_line


def shortfall_tolerance(fps: Fraction) -> int:
    """Frames a decode may come up short of the container's promise before it is an error:
    half a second (containers round durations, audio may outlast video), at least 2."""
    return max(2, int(float(fps) * 0.5))


class FrameReader:
    """Context manager yielding (index, RGB uint8 [H,W,3]) for frames ``start ..`` of ``src``.

    The ffmpeg process is always reaped on exit, Ctrl-C included. After the last frame the
    count is checked against ``expected``; a shortfall is a MediaError, not a short video. A
    decoding error is a MediaError too, unless ``conceal`` (ffmpeg's concealed frames are used).
    """

    def __init__(self, src: Path, fps: Fraction, size: tuple[int, int], start: int = 0,
                 count: int | None = None, expected: int | None = None, conceal: bool = False) -> None:
        self.src, self.fps, self.size, self.start, self.count = Path(src), fps, size, start, count
        self.expected = expected
        self.conceal = conceal
        self._proc: subprocess.Popen | None = None
        self._err = None
        self.decoded = 0

    def __enter__(self) -> "FrameReader":
        # stderr to a file, not a pipe: a chatty decoder must never block on a full pipe.
        self._err = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                [ffmpeg_exe(), *decode_args(self.src, self.fps, self.size, self.start, self.count)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err, bufsize=0,
            )
        except OSError as exc:
            self._err.close()
            raise MediaError(f"cannot run ffmpeg to decode {self.src}: {exc.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            if proc.stdout:
                proc.stdout.close()
            proc.wait()
        if self._err is not None:
            self._err.close()

    def _stderr(self) -> bytes:
        assert self._err is not None
        self._err.seek(0)
        return self._err.read()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        assert self._proc is not None and self._proc.stdout is not None, "use FrameReader in a with block"
        h, w = self.size
        nbytes = h * w * 3
        stream = self._proc.stdout
        while True:
            buf = bytearray(nbytes)  # a fresh, writable buffer per frame: consumers keep frames
            if not _read_into(stream, buf):
                break
            if not self.conceal and os.fstat(self._err.fileno()).st_size:
                # ffmpeg runs at -loglevel error: any line is a decoding error, and the frame it
                # concealed would be dreamed as if it were real. Stop before it.
                said = last_line(self._stderr())
                if "partial file" in said:
                    raise MediaError(f"{self.src}: the file is truncated or corrupt: its data ends near "
                                     f"frame {self.start + self.decoded}")
                raise MediaError(
                    f"{self.src}: the video stream is damaged or truncated near frame "
                    f"{self.start + self.decoded} ({said}); set video.damaged: conceal to render it anyway"
                )
            yield self.start + self.decoded, np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            self.decoded += 1
        code = self._proc.wait()
        if code != 0:
            raise MediaError(f"{self.src}: cannot decode: {last_line(self._stderr())}")
        if self.decoded == 0:
            raise MediaError(f"{self.src}: no video frames could be decoded from frame {self.start}")
        if self.expected is not None and self.decoded < self.expected - shortfall_tolerance(self.fps):
            raise MediaError(
                f"{self.src}: decoded {self.decoded} frames but the container promises {self.expected}: "
                "the file is truncated or corrupt"
            )


def _read_into(stream, buf: bytearray) -> bool:
    """Fill ``buf`` from the stream; False at the end of the stream (a partial last frame is dropped)."""
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = stream.readinto(view[got:])
        if not n:
            return False
        got += n
    return True
