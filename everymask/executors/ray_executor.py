"""Windows on Ray: one actor per worker holds its frame source and its backend (a model is loaded
once per worker, not once per window); the driver keeps every actor busy and takes results in
whatever order they finish.

Why actors, not plain tasks: a backend with a model is expensive to load and the number of
workers is what a user sizes (`--workers`, one GPU each when the cluster has GPUs). Ray restarts
a dead actor (`max_restarts`) and re-runs the window it was running (`max_task_retries`); if an
actor is lost for good the driver starts another and queues its window again. Only plain data
crosses the wire: window bounds in, `WindowResult.to_plain()` (RLE bytes, ints) out.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections import deque
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..backends.base import Backend
from ..config import RunConfig, RuntimeOptions
from ..engine.windows import Window, WindowResult, run_window
from ..errors import EverymaskError
from ..video.base import FrameSource

MODEL_BACKENDS = ("sam2", "sam")
RETRIES = 3          # Ray-level restarts of an actor and re-runs of its window
RESUBMITS = 2        # driver-level: windows requeued on a fresh actor after Ray gave up


class WindowWorker:
    """The body of one Ray actor."""

    def __init__(self, source: Any, config_json: str, options: dict[str, Any], backend: Backend | None) -> None:
        config = RunConfig.from_mapping(json.loads(config_json))
        opts = RuntimeOptions(**options)
        if isinstance(source, str):
            from ..video import open_source
            source = open_source(source, max_side=config.max_side, cache_frames=opts.frame_cache)
        if backend is None:
            from ..backends import load_backend
            backend = load_backend(config, opts)
        self.source, self.backend, self.config = source, backend, config
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, index: int, keys: list[int], before: list[int], after: list[int]) -> dict[str, Any]:
        window = Window(index, tuple(keys), tuple(before), tuple(after))
        return run_window(self.source, self.backend, self.config, window, self.name).to_plain()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise EverymaskError("--executor ray needs Ray: pip install 'everymask[ray]'") from None
    return ray


class RayExecutor:
    """Starts (or joins) Ray, creates the workers, and farms windows out to them."""

    def __init__(self, video: str | Path | FrameSource, config: RunConfig, options: RuntimeOptions,
                 backend: Backend | None = None) -> None:
        ray = self.ray = _import_ray()
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            if options.ray_address:
                ray.init(address=options.ray_address, log_to_driver=False)
            else:
                ray.init(num_cpus=max(os.cpu_count() or 1, options.workers), include_dashboard=False,
                         log_to_driver=False)
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        use_gpu = config.backend in MODEL_BACKENDS and gpus > 0
        workers = options.workers or int(gpus if use_gpu else max(resources.get("CPU", 1), 1))
        num_gpus = min(1.0, gpus / workers) if use_gpu else 0
        remote = ray.remote(num_cpus=1 if not use_gpu else 0, num_gpus=num_gpus,
                            max_restarts=RETRIES, max_task_retries=RETRIES)(WindowWorker)
        # refs held here for the whole run: a restarted actor is built again from the same arguments
        self._refs = (str(video) if isinstance(video, (str, Path)) else ray.put(video),
                      ray.put(backend) if backend is not None else None)
        self._new_actor = lambda: remote.remote(self._refs[0], config.to_json(), dataclasses.asdict(options),
                                                self._refs[1])
        self.actors = [self._new_actor() for _ in range(workers)]

    def map(self, windows: Sequence[Window]) -> Iterator[WindowResult]:
        ray = self.ray
        from ray.exceptions import RayActorError
        queue = deque(windows)
        resubmits = {w.index: 0 for w in windows}
        idle = deque(range(len(self.actors)))
        pending: dict[Any, tuple[int, Window]] = {}
        while queue or pending:
            while queue and idle:
                a, w = idle.popleft(), queue.popleft()
                pending[self.actors[a].run.remote(w.index, list(w.keys), list(w.before), list(w.after))] = (a, w)
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                a, w = pending.pop(ref)
                try:
                    plain = ray.get(ref)
                except RayActorError as e:
                    resubmits[w.index] += 1
                    if resubmits[w.index] > RESUBMITS:
                        raise EverymaskError(f"window {w.index} (frames {w.first}-{w.last}) lost its worker "
                                             f"{RESUBMITS + 1} times; last error: {e}") from None
                    self.actors[a] = self._new_actor()
                    queue.appendleft(w)
                    idle.append(a)
                    continue
                idle.append(a)
                yield WindowResult.from_plain(plain)

    def close(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # an actor already gone needs no killing
                pass
        self.actors = []
        if self.owns_ray:
            self.ray.shutdown()
