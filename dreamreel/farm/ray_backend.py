"""The Ray backend: segments dreamed by Ray actors that keep the network loaded.

Finished frames come back as PNG bytes through Ray's object store and the driver checkpoints
them into the job folder exactly as a local render does, so resume, Ctrl-C and the manifest
behave the same and no shared filesystem is needed. A worker (or node) that dies costs only the
frames it had not handed back: its segments go to the other workers from the last checkpoint.
Ray is optional (``pip install -e '.[ray]'``) and imported only here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import queue
import signal
import socket
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dreamreel.config import Config
from dreamreel.errors import ConfigError, DreamreelError, MediaError
from dreamreel.media.images import encode_image
from dreamreel.media.probe import MediaInfo
from dreamreel.modes.chain import LoopFacts, resume_frame
from dreamreel.modes.context import RenderContext
from dreamreel.jobs.folder import Job
from dreamreel.modes.progress import bar
from dreamreel.modes.streams import Stream
from dreamreel.modes.variables import Timeline

# Times a segment may lose its worker before the render gives up on it.
MAX_LOSSES = 3


def import_ray() -> Any:
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("render.backend: ray needs the ray package; install the extra with "
                          "pip install -e '.[ray]' (or pip install 'dreamreel[ray]')") from None
    return ray


def connect(ray: Any, address: str | None) -> bool:
    """Join or start Ray (``address`` null: a local Ray with this machine's cores and GPUs;
    ``auto``: the running cluster; ``ray://host:port``: a client). True when this call started
    it (and so should shut it down); an already initialised Ray is used as it is."""
    if ray.is_initialized():
        return False
    kwargs = {"include_dashboard": False, "log_to_driver": False}
    # Ray's core worker installs a native handler for SIGTERM that dumps and aborts (exit 134);
    # the CLI's handler, which saves the job and exits 143 as documented, is put back after it.
    main = threading.current_thread() is threading.main_thread()
    on_term = signal.getsignal(signal.SIGTERM) if main else None
    try:
        # null means a new local Ray: plain ray.init() would attach to any cluster that a
        # `ray start` (or another render) left running on this machine, with its own cores.
        ray.init(address=address or "local", **kwargs)
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception for a failed start
        raise MediaError(f"render.address: cannot {'reach Ray at ' + address if address else 'start a local Ray'}: "
                         f"{str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    finally:
        if main and on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
    return True


def worker_shape(ray: Any, worker_cpus: int | str, wanted: int, use_gpus: bool = True) -> tuple[int, int, int]:
    """(workers, cores each, GPUs each) for ``wanted`` units of work on this cluster: one worker
    per GPU on a GPU cluster (unless ``use_gpus`` is False: ``dream.device: cpu``), with its
    share of its node's cores for the host work beside the dream (flow, encoding), or
    ``worker_cpus``; else workers of ``worker_cpus`` cores (auto: every core of the smallest
    node), as many as the nodes hold. ConfigError when no node has ``worker_cpus`` cores (Ray
    would wait for such a node for ever)."""
    total = ray.cluster_resources()
    gpus = int(total.get("GPU", 0)) if use_gpus else 0
    alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if gpus:
        shares = [int(r.get("CPU", 0)) // int(r["GPU"]) for r in alive if int(r.get("GPU", 0))] or [1]
        cpus = max(1, min(shares)) if worker_cpus == "auto" else int(worker_cpus)
        return max(1, min(gpus, wanted)), cpus, 1
    cores = [int(r.get("CPU", 0)) for r in alive] or [1]
    cpus = max(1, min(cores) if worker_cpus == "auto" else int(worker_cpus))
    if cpus > max(cores):
        raise ConfigError(f"render.worker_cpus: {cpus} cores a worker, but the largest Ray node has "
                          f"{max(cores)}; set {max(cores)} or less, or auto")
    return max(1, min(sum(c // cpus for c in cores), wanted)), cpus, 0


# Inputs go to workers that cannot see them in pieces of this size, so the driver never holds
# more than one piece of a file in memory.
SHIP_CHUNK = 64 << 20


def ship(ray: Any, path: Path, chunk: int = SHIP_CHUNK) -> list[Any]:
    """Object refs of ``path``'s bytes in pieces of at most ``chunk`` bytes, read one at a time."""
    refs = []
    with open(path, "rb") as f:
        while piece := f.read(chunk):
            refs.append(ray.put(piece))
    return refs


def unship(ray: Any, refs: list[Any], dest: Path) -> Path:
    """Write the pieces of ``ship`` to ``dest`` (through a .part file, so a half copy is never used)."""
    part = dest.with_name(dest.name + ".part")
    with open(part, "wb") as f:
        for ref in refs:
            f.write(ray.get(ref))
    os.replace(part, dest)
    return dest


class _StreamStore:
    """A worker's FrameStore: context frames came with the call; finished frames go to a queue
    that the actor's generator hands back to the driver."""

    def __init__(self, contexts: dict[str, tuple[bytes, str | None]], out: queue.Queue, workers: int = 1) -> None:
        self.contexts, self.out, self.host = contexts, out, socket.gethostname()
        # PNG encoding and the report's measures run beside the frame loop, as a local render's
        # writers do: on the loop's thread they held a GPU idle for every frame.
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ray-encode")
        self.pending: list[Future] = []

    def context(self, name: str) -> tuple[np.ndarray, str | None]:
        png, state = self.contexts[name]
        bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), state

    def put(self, name: str, rgb: np.ndarray, state: str, facts: Any = None) -> None:
        def send() -> None:
            self.out.put(("frame", name, encode_image(rgb, ".png", checkpoint=True), state,
                          None if facts is None else facts.measure(rgb)))

        self.pending = [f for f in self.pending if not f.done()] + [self.pool.submit(send)]

    def _flush(self) -> None:
        for f in self.pending:
            f.result()  # an encoding error is the segment's error
        self.pending = []

    def segment_done(self, index: int, seconds: float, frames: int) -> None:
        self._flush()  # the driver records a segment's time after all of its frames
        self.out.put(("segment", index, seconds, frames, self.host))

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.pool.shutdown(wait=True)


class SegmentWorker:
    """A Ray actor: dreams segments with its network kept loaded, ``threads`` torch threads."""

    def __init__(self, threads: int) -> None:
        from dreamreel.runtime import tune_process

        tune_process(retain_memory=True, threads=threads)
        self._net: dict[tuple, tuple] = {}
        self._tmp = Path(tempfile.mkdtemp(prefix="dreamreel-ray-"))

    def sees(self, files: dict[str, tuple[str, dict]]) -> bool:
        """Whether this node sees every one of ``files`` ({key: (path, identity)}) as the driver does."""
        from dreamreel.modes.animated import file_identity

        try:
            return all(file_identity(Path(path)) == identity for path, identity in files.values())
        except OSError:
            return False

    def _local(self, path: str, identity: dict, refs: list[Any] | None) -> Path:
        """``path`` itself when this node sees the same file; else a copy from the object store."""
        import ray

        if refs is None or self.sees({"f": (path, identity)}):
            return Path(path)
        key = hashlib.sha256(repr(sorted(identity.items())).encode()).hexdigest()[:16]
        local = self._tmp / f"{key}{Path(path).suffix}"
        return local if local.exists() else unship(ray, refs, local)

    def dream(self, cfg: Config, info: MediaInfo, files: dict[str, tuple[str, dict, Any]],
              todo: list[tuple[Stream, int]], batch: int, size: tuple[int, int], timeline: Timeline,
              contexts: dict[str, tuple[bytes, str | None]]):
        """Dream ``todo``; yields ("frame", name, png, state, report facts), ("segment", index, seconds, frames,
        host) as segments end, and finally ("end", cuts, first frame whose matte was held)."""
        from dreamreel.modes.context import RenderContext
        from dreamreel.speed.gpu import cuda_settings
        from dreamreel.modes.setup import host_threads, load_net, resolve_device
        from dreamreel.modes.chain import dream_segments

        local = {k: self._local(*v) for k, v in files.items()}
        dream = cfg.dream.model_copy(update={k: local[k] for k in ("mask", "guide") if k in local})
        cfg = cfg.model_copy(update={"input": local["input"], "dream": dream})
        info = dataclasses.replace(info, path=local["input"])
        device = resolve_device(cfg.dream.device)
        key = (cfg.dream.model, tuple(sorted(cfg.dream.layers)), cfg.dream.weights, str(device))
        if key not in self._net:
            self._net = {key: load_net(cfg.dream, device)}
        out: queue.Queue = queue.Queue(maxsize=8)

        def run() -> None:
            try:
                ctx = RenderContext(cfg, device, timeline, loaded=self._net[key])
                store = _StreamStore(contexts, out, host_threads(device)["writers"])
                with cuda_settings(device, max(1, min(batch, len(todo)))):
                    loop = dream_segments(ctx, info, store, todo, batch, size)
                out.put(("end", loop.cuts, loop.mask_held_from))
            except BaseException as exc:  # handed to the generator, so Ray reports it to the driver
                out.put(("error", exc))

        thread = threading.Thread(target=run, name="dream", daemon=True)
        thread.start()
        while True:
            item = out.get()
            if item[0] == "error":
                raise item[1]
            yield item
            if item[0] == "end":
                break
        thread.join()


def dream_on_ray(ctx: RenderContext, info: MediaInfo, job: Job, todo: list[tuple[Stream, int]],
                 size: tuple[int, int]) -> LoopFacts:
    """Dream the segments ``todo`` on Ray workers, checkpointing every frame into ``job`` here.
    The job's segment records get each worker's host."""
    cfg, timeline = ctx.cfg, ctx.timeline
    ray = import_ray()
    from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

    lost_errors = (RayActorError, WorkerCrashedError, getattr(ray.exceptions, "NodeDiedError", RayActorError),
                   getattr(ray.exceptions, "ObjectLostError", RayActorError),
                   getattr(ray.exceptions, "OwnerDiedError", RayActorError))
    started = connect(ray, cfg.render.address)
    actors: list[Any] = []
    active: dict[Any, tuple[Any, list[Stream]]] = {}
    try:
        batch = 1
        workers, cpus, gpus = worker_shape(ray, cfg.render.worker_cpus, len(todo), cfg.dream.device != "cpu")
        if gpus:
            from dreamreel.modes.setup import resolve_batch

            batch = resolve_batch(cfg.render.batch, _cuda())
        actor_cls = ray.remote(SegmentWorker).options(num_cpus=cpus, num_gpus=gpus, max_restarts=0)
        actors = [actor_cls.remote(cpus) for _ in range(workers)]
        idle = list(actors)
        # Inputs are shipped only when some worker's node does not see them (another machine
        # without the shared disk); on one machine or a shared filesystem nothing is copied.
        named = {"input": cfg.input, "mask": cfg.dream.mask, "guide": cfg.dream.guide}
        seen = {k: (str(p), _identity(p)) for k, p in named.items() if p is not None}
        shipped: dict[str, list[Any]] = {}
        checked: dict[Any, bool] = {}

        def files_for(actor: Any) -> dict[str, tuple[str, dict, list[Any] | None]]:
            if actor not in checked:
                checked[actor] = ray.get(actor.sees.remote(seen))
                if not checked[actor] and not shipped:
                    shipped.update({k: ship(ray, Path(path)) for k, (path, _) in seen.items()})
            return {k: (path, ident, shipped.get(k)) for k, (path, ident) in seen.items()}

        queue_: list[Stream] = [s for s, _ in todo]
        taken: dict[Any, int] = {}  # segments each worker was handed
        resume = {s.index: r for s, r in todo}  # checked so far: a resubmission checks only what came after
        losses: dict[int, int] = {}
        cuts: list[int] = []
        held: list[int] = []
        dreamed = lost = 0
        progress = bar(sum(s.own_to - r for s, r in todo), "frame", "dreaming")
        t_loop = time.perf_counter()
        with progress:
            while queue_ or active:
                while queue_ and idle:
                    take = fair_share(len(queue_), len(actors), batch)
                    actor, part = idle.pop(0), queue_[:take]
                    del queue_[:take]
                    taken[actor] = taken.get(actor, 0) + len(part)
                    for s in part:
                        resume[s.index] = resume_frame(job, s, resume[s.index], size)
                    work = [(s, resume[s.index]) for s in part]
                    contexts = {s.name(r - 1): (job.frame_path(s.name(r - 1)).read_bytes(), job.state(s.name(r - 1)))
                                for s, r in work if r > s.first}
                    gen = actor.dream.remote(cfg, info, files_for(actor), work, batch, size, timeline, contexts)
                    active[gen] = (actor, part)
                ready, _ = ray.wait(list(active), num_returns=1, timeout=1.0)
                for gen in ready:
                    actor, part = active[gen]
                    try:
                        item = ray.get(next(gen))
                    except StopIteration:
                        del active[gen]
                        idle.append(actor)
                        continue
                    except lost_errors:
                        # The worker or its node is gone: its segments go back in the queue and
                        # resume from their last checkpoint (finished frames are never redone).
                        del active[gen]
                        actors.remove(actor)
                        lost += 1
                        for s in part:
                            losses[s.index] = losses.get(s.index, 0) + 1
                            if losses[s.index] > MAX_LOSSES:
                                raise MediaError(f"segment {s.index}: lost its Ray worker {losses[s.index]} times; "
                                                 "the frames finished so far are kept") from None
                        queue_[:0] = part
                        if not actors:
                            actors.append(actor_cls.remote(cpus))
                            idle.append(actors[-1])
                        continue
                    except RayTaskError as exc:
                        cause = getattr(exc, "cause", None)
                        if isinstance(cause, DreamreelError):
                            raise cause from None
                        raise
                    if item[0] == "frame":
                        _, name, png, state, measured = item
                        job.record(name, png, state)
                        if measured is not None:
                            job.add_facts(name, measured)
                        dreamed += 1
                        progress.update(1)
                    elif item[0] == "segment":
                        _, index, seconds, frames, host = item
                        job.add_segment_time(index, seconds, frames, host=host)
                    elif item[0] == "end":
                        cuts.extend(item[1])
                        held.extend([item[2]] if item[2] is not None else [])
        job.sync()
        extra = {"backend": "ray", "workers": workers, "worker_cpus": cpus, "worker_gpus": gpus, "workers_lost": lost,
                 "segments_per_worker": sorted(taken.values(), reverse=True)}
        return LoopFacts(cuts, dreamed, weights=_weights_source(cfg), loop_seconds=time.perf_counter() - t_loop,
                         mask_held_from=min(held) if held else None, extra=extra)
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone: nothing to stop
                pass
        if started:
            ray.shutdown()


def fair_share(queued: int, workers: int, batch: int) -> int:
    """How many of ``queued`` segments an idle worker takes: up to ``batch`` (a GPU worker dreams
    that many chains at once), but no more than its share of the queue among ``workers``, so four
    GPU workers and four segments make four busy GPUs, not one GPU with a batch of four."""
    return max(1, min(batch, -(-queued // max(workers, 1))))


def _weights_source(cfg: Config) -> str:
    """The weights the workers load, as the driver finds them (each node resolves its own)."""
    from dreamreel.models.registry import get_spec
    from dreamreel.models.weights import locate_weights

    path = locate_weights(get_spec(cfg.dream.model), cfg.dream.weights)
    return str(path) if path is not None else "random"


def _identity(path: Path) -> dict:
    from dreamreel.modes.animated import file_identity

    return file_identity(Path(path))


def _cuda():
    import torch

    return torch.device("cuda")
