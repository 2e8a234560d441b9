"""One warm child serving many `render` runs.

Starting a child that imports torch, torchvision and OpenCV takes 3-6 s on 2 cores, and the
hostile-input tests start dozens. The server (``python -m tests.warm``) imports them once, then
for each request forks: the fork is a fresh process of its own (own pid, working directory,
environment, resource limits, stdin, stdout and stderr files) running ``dreamreel.cli.main``, and
exits with its code as ``render`` would. The test process talks to the server over a pipe, one
JSON line each way; ``run`` mirrors ``subprocess.run`` for the tests.

What a fork cannot stand in for (a different user, a prefix like ``setpriv``, a signal sent
mid-run) still uses a real child.
"""
from __future__ import annotations

import atexit
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _serve() -> None:
    # Imported before any request: what every run would otherwise import itself. No torch op
    # runs here, so no thread pool exists to be lost by the fork.
    import cv2  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    import dreamreel.cli as cli
    import dreamreel.config  # noqa: F401
    import dreamreel.modes.run  # noqa: F401

    replies = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(cli, req)
        deadline = time.monotonic() + req["seconds"]
        timed_out = False
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            time.sleep(0.005)
        replies.write(json.dumps({"code": os.waitstatus_to_exitcode(status), "timed_out": timed_out}) + "\n")
        replies.flush()


def _child(cli, req: dict) -> None:
    code = 1
    try:
        os.setsid()  # its own process group, as a child started by subprocess is alone in its own
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        for res, value in ((resource.RLIMIT_AS, req.get("memory")), (resource.RLIMIT_CPU, req["seconds"])):
            if value:
                resource.setrlimit(res, (value, value))
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, req["stdout"], os.O_WRONLY | os.O_TRUNC),
                                (2, req["stderr"], os.O_WRONLY | os.O_TRUNC)):
            f = os.open(path, flags)
            os.dup2(f, fd)
            os.close(f)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = cli.main(req["args"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what the interpreter prints for an uncaught exception
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


class WarmRender:
    """The server, started on first use and kept for the test session."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._tmp = Path(tempfile.mkdtemp(prefix="dreamreel-warm-"))

    def _server(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-m", "tests.warm"], cwd=ROOT, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True, bufsize=1)
            atexit.register(self.close)
        return self._proc

    def run(self, args: list[str], cwd: Path, seconds: int, memory: int | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``render ARGS`` in ``cwd`` under ``seconds`` of wall and CPU time and ``memory`` bytes of
        address space; subprocess.TimeoutExpired past the wall time, as subprocess.run raises."""
        with self._lock:
            server = self._server()
            out, err = self._tmp / "stdout", self._tmp / "stderr"
            out.write_bytes(b"")
            err.write_bytes(b"")
            req = {"args": [str(a) for a in args], "cwd": str(cwd), "seconds": seconds, "memory": memory,
                   "env": dict(env if env is not None else os.environ), "stdout": str(out), "stderr": str(err)}
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write(json.dumps(req) + "\n")
            server.stdin.flush()
            reply = json.loads(server.stdout.readline())
            stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
        if reply["timed_out"]:
            raise subprocess.TimeoutExpired(["dreamreel", *req["args"]], seconds, stdout, stderr)
        return subprocess.CompletedProcess(["dreamreel", *req["args"]], reply["code"], stdout, stderr)

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=30)


WARM = WarmRender()


def dreamreel(*args: object, seconds: int = 300) -> subprocess.CompletedProcess:
    """``dreamreel ARGS`` from the checkout as a process of its own: a fork of the warm child."""
    return WARM.run([str(a) for a in args], ROOT, seconds=seconds)


def render(*args: object, seconds: int = 300) -> subprocess.CompletedProcess:
    """``dreamreel render ARGS``, as ``dreamreel`` does."""
    return dreamreel("render", *args, seconds=seconds)


if __name__ == "__main__":
    _serve()
