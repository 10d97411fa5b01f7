"""Executors: who runs the windows of a run. The driver here is the same for all of them.

`local` (the default) is not an executor of windows: it is the engine's Runner, one process,
unit by unit. `windows` runs the windows one after another in this process and `ray` farms them
out to Ray workers; both give the same tracks, bit for bit, because the cut into windows, the
per-window method and the stitching depend only on the input and the config.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from ..backends.base import Backend
from ..config import RunConfig, RuntimeOptions
from ..engine.schedule import key_frames
from ..engine.stitch import finalize_windows
from ..engine.windows import Window, WindowResult, cut_windows
from ..errors import EverymaskError
from ..progress import StageProgress
from ..store import RunStore
from ..timing import StageTimer
from ..video.base import FrameSource

EXECUTORS = ("local", "windows", "ray")


class WindowExecutor(Protocol):
    def map(self, windows: Sequence[Window]) -> Iterator[WindowResult]:
        """Run every window; yield each result as it finishes, in any order."""
        ...

    def close(self) -> None: ...


def execution_mode(options: RuntimeOptions) -> str:
    """What a store records about how its work was cut: resumes must cut it the same way."""
    return "units" if options.executor == "local" else f"windows:{options.window_keys}:{options.halo_keys}"


def make_executor(video: str | Path | FrameSource, source: FrameSource, config: RunConfig,
                  options: RuntimeOptions, backend: Backend | None) -> WindowExecutor:
    if options.executor == "windows":
        from ..backends import load_backend
        from .local import LocalExecutor
        return LocalExecutor(source, backend or load_backend(config, options), config)
    if options.executor == "ray":
        from .ray_executor import RayExecutor
        return RayExecutor(video, config, options, backend)
    raise EverymaskError(f"unknown executor {options.executor!r}: choose one of {', '.join(EXECUTORS)}")


def run_windowed(video: str | Path | FrameSource, source: FrameSource, store: RunStore, config: RunConfig,
                 options: RuntimeOptions, backend: Backend | None, progress: StageProgress, timer: StageTimer,
                 deadline: float | None = None) -> bool:
    """Run the windows not yet in the store, commit each as it arrives, then stitch and finalize.

    Returns False when the time budget stopped the run before every window was done (what is
    done is stitched and exported, and a rerun goes on). Worker-side stage seconds are kept in
    the store meta `worker_stage_seconds`; the driver's own stages ("windows": waiting for and
    committing results; "stitch": joining windows; "finalize": ids, hierarchy, track masks) go to `timer`.
    """
    windows = cut_windows(key_frames(len(source), config.step), options.window_keys, options.halo_keys)
    done = store.done_windows()
    todo = [w for w in windows if w.index not in done]
    complete = True
    progress.start("track", max(len(windows), 1))
    progress.update(len(done), len(windows))
    if todo:
        with timer.stage("start"):   # Ray start-up, workers created (their backends load in "windows")
            executor = make_executor(video, source, config, options, backend)
        try:
            with timer.stage("windows"):
                for result in executor.map(todo):
                    store.commit_window(result.index, result.first, result.last, result.tracks, result.frames,
                                        result.descriptors, result.units, result.seconds, result.stage_seconds,
                                        result.worker)
                    done.add(result.index)
                    progress.update(len(done), len(windows))
                    if deadline is not None and time.monotonic() > deadline and len(done) < len(windows):
                        complete = False
                        progress.log("time budget reached: exporting what is done; rerun to go on")
                        break
        finally:
            executor.close()
            progress.finish()
    else:
        progress.finish()
    finished = [w for w in windows if w.index in done]
    if store.state().needs_finalize(len(done), ran_now=bool(todo)):
        progress.start("finalize", 1)
        finalize_windows(store, config, len(source), source.size, float(source.fps or 30.0), finished,
                         store.window_tracks(),
                         lambda frame: store.window_frame_masks(frame, source.size), timer)
        progress.update(1, 1)
        progress.finish()
        store.update_state(finalized_at=len(done), status="complete" if complete else "partial",
                           worker_stage_seconds=store.window_stage_seconds(),
                           windows={"count": len(windows), "window_keys": options.window_keys,
                                    "halo_keys": options.halo_keys, "per_worker": store.window_workers()})
    return complete
