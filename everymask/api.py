"""The Python API: `segment_video` runs (or resumes) a job, `open_run` reads one. The CLI calls these."""
from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .backends import Backend, load_backend
from .config import RunConfig, RuntimeOptions
from .engine.finalize import finalize
from .engine.hierarchy import depths
from .engine.runner import BudgetReached, Runner
from .engine.schedule import key_frames
from .errors import EverymaskError
from .export.atomic import atomic_write
from .export.ytvis import write_ytvis
from .progress import StageProgress
from .rundir import check_resume, prepare_run_dir
from .run import Run, Track
from .store import RunStore
from .store.sqlite_store import SCHEMA_VERSION
from .timing import StageTimer, TimedSource
from .video.base import FrameSource

__all__ = ["Run", "Track", "open_run", "segment_video"]


def open_run(out_dir: str | Path) -> Run:
    return Run(out_dir)


def _open_source(video: str | Path | FrameSource, config: RunConfig, options: RuntimeOptions) -> FrameSource:
    if not isinstance(video, (str, Path)):
        return video
    from .video import open_source
    return open_source(video, max_side=config.max_side, cache_frames=options.frame_cache)


def segment_video(video: str | Path | FrameSource, out_dir: str | Path, config: RunConfig | None = None, *,
                  options: RuntimeOptions | None = None, fresh: bool = False, backend: Backend | None = None,
                  progress: StageProgress | None = None, **overrides) -> Run:
    """Segment and track every mask of `video` into `out_dir`; resumes a run found there.

    Keyword overrides are RunConfig fields (`step=3`, `backend="sam2"`, ...).
    """
    config = (config or RunConfig()).replace(**overrides) if overrides else (config or RunConfig())
    options = options or RuntimeOptions()
    progress = progress or StageProgress(quiet=not options.progress)
    out_dir = Path(out_dir)
    source = _open_source(video, config, options)
    try:
        if options.executor != "local":
            return _segment_windows(video, source, out_dir, config, options, fresh, backend, progress)
        return _segment(source, out_dir, config, options, fresh, backend, progress)
    finally:
        if isinstance(video, (str, Path)):
            source.close()


def _open_store(source: FrameSource, out_dir: Path, config: RunConfig, options: RuntimeOptions, fresh: bool,
                progress: StageProgress) -> RunStore:
    """Open (or create) the run's store; a resume must also cut the work the same way."""
    from .executors import execution_mode
    if len(source) == 0:
        raise EverymaskError(f"{source.path} has no frames to segment")
    prepare_run_dir(out_dir, fresh)
    fingerprint = source.fingerprint()
    store = RunStore.open(out_dir)
    try:
        new = check_resume(store, config, fingerprint, str(source.path))
        mode = execution_mode(options)
        if new:
            store.update_state(schema_version=SCHEMA_VERSION, config=config.to_json(), fingerprint=fingerprint,
                               source=str(source.path), num_frames=len(source), size=tuple(source.size),
                               input_size=tuple(source.input_size), fps=float(source.fps or 30.0),
                               created=time.time(), execution=mode)
        else:
            state = store.state()
            if state.execution != mode:
                raise EverymaskError(f"{out_dir} holds a run cut as {state.execution!r}, not {mode!r}: resume it "
                                     "with the executor (and window size) it started with, or add --fresh")
            if state.config != config.to_json():           # a knob outside the resume identity
                store.update_state(config=config.to_json())  # (checkpoint path, schedule) changed
            done = len(store.done_units()) if mode == "units" else len(store.done_windows())
            progress.log(f"resuming the run in {out_dir} ({done} {'units' if mode == 'units' else 'windows'} "
                         "already done)")
    except BaseException:
        store.close()
        raise
    return store


def _segment_windows(video: str | Path | FrameSource, source: FrameSource, out_dir: Path, config: RunConfig,
                     options: RuntimeOptions, fresh: bool, backend: Backend | None, progress: StageProgress) -> Run:
    """Windows of key frames, run here or on Ray, stitched into one set of tracks (executors/)."""
    from .executors import run_windowed
    t_start = time.perf_counter()
    store = _open_store(source, out_dir, config, options, fresh, progress)
    try:
        timer = StageTimer()
        deadline = time.monotonic() + options.time_budget_s if options.time_budget_s > 0 else None
        run_windowed(video, source, store, config, options, backend, progress, timer, deadline)
        stats = Backend(options.executor, None, None,
                        stats=lambda: {"worker_stage_seconds": store.state().worker_stage_seconds})
        _add_timings(store, timer, stats)
        run = Run(out_dir)
        timer = StageTimer()
        with timer.stage("export"):
            write_ytvis(run, out_dir / "tracks.json", video_id=options.video_id)
        _add_timings(store, timer, stats, only=("export",))
        _write_summary(run, store, stats, time.perf_counter() - t_start)
        progress.log(f"done: {len(run.tracks())} tracks over {run.num_frames} frames -> {out_dir}")
        return run
    finally:
        store.close()


def _segment(source: FrameSource, out_dir: Path, config: RunConfig, options: RuntimeOptions, fresh: bool,
             backend: Backend | None, progress: StageProgress) -> Run:
    t_start = time.perf_counter()
    store = _open_store(source, out_dir, config, options, fresh, progress)
    owned = backend is None
    try:
        timer = StageTimer()
        t_load = time.perf_counter()
        backend = backend or load_backend(config, options)
        load_seconds = time.perf_counter() - t_load
        deadline = time.monotonic() + options.time_budget_s if options.time_budget_s > 0 else None
        runner = Runner(TimedSource(source, timer), backend, store, config, timer,
                        on_window=lambda p: progress.update(p.done, p.total), deadline=deadline)
        progress.start("track", max(len(runner.keys) - 1, 1))
        complete = True
        try:
            runner.run()
        except BudgetReached:
            complete = False
            progress.log("time budget reached: exporting what is done; rerun with a larger --time-budget to go on")
        finally:
            progress.finish()
            _add_timings(store, timer, backend)
        units_done = len(store.done_units())
        if store.state().needs_finalize(units_done, ran_now=runner.units_run > 0):
            progress.start("finalize", 1)
            with timer.stage("finalize"):
                finalize(store, config, len(source), source.size, float(source.fps or 30.0))
            progress.update(1, 1)
            progress.finish()
            store.update_state(finalized_at=units_done, status="complete" if complete else "partial")
        run = Run(out_dir)
        with timer.stage("export"):
            write_ytvis(run, out_dir / "tracks.json", video_id=options.video_id)
        _add_timings(store, timer, backend, only=("finalize", "export"))
        _write_summary(run, store, backend, time.perf_counter() - t_start, load_seconds)
        progress.log(f"done: {len(run.tracks())} tracks over {run.num_frames} frames -> {out_dir}")
        return run
    finally:
        if owned and backend is not None:
            backend.close()
        store.close()


def _add_timings(store: RunStore, timer: StageTimer, backend: Backend, only: tuple[str, ...] | None = None) -> None:
    """Accumulate this session's stage seconds into the store (runs may span several sessions)."""
    total = store.state().timings
    for k, v in timer.as_dict().items():
        if only is None or k in only:
            total[k] = round(total.get(k, 0.0) + v, 4)
    store.update_state(timings=total, backend_stats=backend.stats())


def _write_summary(run: Run, store: RunStore, backend: Backend, session_seconds: float,
                   load_seconds: float = 0.0) -> dict:
    """summary.json; `session_seconds` (this call's wall time) and `load_seconds` (backend loading) let
    the benchmark charge the time outside every stage to the engine's scheduling."""
    tracks = run.tracks()
    per_frame = store.masks_per_frame()
    counts = [per_frame.get(t, 0) for t in range(run.num_frames)]
    state = store.state()
    timings = state.timings
    total = sum(timings.values())
    depth = depths({t.track_id: t.parent for t in tracks})
    hist: dict[str, int] = {}
    for d in depth.values():
        hist[str(d)] = hist.get(str(d), 0) + 1
    n_masks, rle_bytes = store.mask_table_stats("masks" if state.execution == "units" else "window_masks")
    coverage = state.coverage
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = {
        "source": run.source, "num_frames": run.num_frames, "fps": run.fps,
        "input_size": list(run.input_size), "processing_size": list(run.size),
        "status": state.status or "partial",
        "key_frames": len(key_frames(run.num_frames, run.config.step)),
        "tracks": len(tracks),
        "masks_per_frame": round(sum(counts) / max(run.num_frames, 1), 2),
        "max_masks_per_frame": max(counts, default=0),
        "hierarchy_depths": hist,
        "identity": state.identity,
        "coverage_mean": round(float(sum(coverage) / len(coverage)), 4) if coverage else 0.0,
        "coverage_min": min(coverage, default=0.0),
        "coverage_per_frame": coverage,
        "seconds": round(total, 3),
        "frames_per_second": round(run.num_frames / total, 3) if total else None,
        "stage_seconds": timings,
        "session_seconds": round(session_seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "stage_fraction": {k: round(v / total, 4) for k, v in timings.items()} if total else {},
        "backend": run.config.backend,
        "backend_stats": state.backend_stats,
        "store_masks": n_masks,
        "store_bytes_per_mask": round(store.file_bytes() / n_masks, 1) if n_masks else 0,
        "rle_bytes_per_mask": round(rle_bytes / n_masks, 1) if n_masks else 0,
        "dense_bytes_per_mask": run.size[0] * run.size[1],
        "peak_rss_mb": round(rss / 1024 if sys.platform != "darwin" else rss / 2**20, 1),
        "config": asdict(run.config),
    }
    with atomic_write(run.dir / "summary.json") as f:
        json.dump(summary, f, indent=1)
    return summary
