"""Windows of key frames: the unit of work a distributed executor farms out.

Why windows: the engine's units (gen/fwd/bwd) read what earlier units committed, so they cannot
run on many machines without a shared store. A window of consecutive key frames is independent:
it runs the whole method (generation, the forward chain, the backward cascades) on its own frame
range, with its own in-memory store, and returns its tracks. Adjacent windows share their
boundary key frame, so both generate the masks of that frame and `engine/stitch.py` can join
their tracks there by IoU, the same association the engine uses inside a window.

A window result is plain data (ints, floats, bytes, lists) so it crosses process and machine
boundaries without pickling our classes: masks are compressed RLE counts, never dense arrays.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backends.base import Backend
from ..config import RunConfig
from ..masks import Masks
from ..store import RunStore
from ..timing import StageTimer, TimedSource
from ..video.base import FrameSource
from .associate import pick_representatives
from .runner import Runner, track_graph
from .schedule import PID_BASE


@dataclass(frozen=True)
class Window:
    """Key frames keys[lo..hi] (inclusive); window `index` shares keys[hi] with window index + 1.

    `before` / `after`: the halo, the key frames just outside the window, nearest first (empty at
    the ends of the video): how far masks unmatched at the window's edge are carried on (see
    `Runner`'s `carry_to`). They lie inside the neighbouring window, where the stitcher meets them.
    """

    index: int
    keys: tuple[int, ...]
    before: tuple[int, ...] = ()
    after: tuple[int, ...] = ()

    @property
    def first(self) -> int:
        return self.keys[0]

    @property
    def last(self) -> int:
        return self.keys[-1]


def cut_windows(keys: list[int], window_keys: int, halo_keys: int = 2) -> list[Window]:
    """Cut key frames into windows of `window_keys` key frames, adjacent ones sharing one key frame,
    each with a halo of up to `halo_keys` key frames on either side (never past the neighbour).

    The cut depends only on the key frames and `window_keys`, never on the number of workers, so
    a run gives the same tracks on 1 or 100 workers. A short tail (under half a window) is folded
    into the previous window rather than left as a sliver whose tracks would all be cut short.
    """
    if window_keys < 2:
        raise ValueError("a window needs at least 2 key frames")
    if len(keys) <= window_keys:
        return [Window(0, tuple(keys))] if keys else []
    span = window_keys - 1
    starts = list(range(0, len(keys) - 1, span))
    if len(starts) > 1 and (len(keys) - 1 - starts[-1]) < span // 2:
        starts.pop()
    bounds = starts + [len(keys) - 1]
    windows = []
    for n, (a, b) in enumerate(zip(bounds, bounds[1:])):
        lo = bounds[n - 1] if n > 0 else a                 # the previous window's first key
        hi = bounds[n + 2] if n + 2 < len(bounds) else b   # the next window's last key
        before = tuple(keys[max(a - halo_keys, lo):a][::-1])
        after = tuple(keys[b + 1:min(b + 1 + halo_keys, hi + 1)])
        windows.append(Window(n, tuple(keys[a:b + 1]), before, after))
    return windows


@dataclass
class WindowResult:
    """A finished window as plain data.

    `tracks`: window-local root pid -> {generated pid: score}. `frames`: (frame, masks) with one
    mask per track, the representative the single-process finalize would pick inside the window:
    ids = window-local roots, `data` pid and direction, which travel so the stitcher can pick again
    at the shared key frame exactly as finalize does. On the wire (`to_plain`) each mask is a row
    (frame, root, pid, direction, area, RLE counts). `descriptors`: (generated pid, float16
    vector bytes) for re-identification, when the backend describes masks.
    """

    index: int
    first: int
    last: int
    tracks: dict[int, dict[int, float]]
    frames: list[tuple[int, Masks]]
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    units: int = 0
    worker: str = ""
    descriptors: list[tuple[int, bytes]] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        """Only builtins: what a Ray task returns (no classes of ours cross the wire)."""
        size = self.frames[0][1].size if self.frames else (0, 0)
        return {"index": self.index, "first": self.first, "last": self.last, "size": list(size),
                "tracks": [[root, sorted(gen.items())] for root, gen in sorted(self.tracks.items())],
                "masks": [(frame, int(root), int(pid), int(d), int(a), bytes(r["counts"]))
                          for frame, m in self.frames
                          for root, pid, d, a, r in zip(m.ids, m.data["pid"], m.data["direction"], m.areas, m.rles)],
                "seconds": self.seconds, "stage_seconds": dict(self.stage_seconds),
                "units": self.units, "worker": self.worker, "descriptors": self.descriptors}

    @classmethod
    def from_plain(cls, d: dict[str, Any]) -> "WindowResult":
        tracks = {int(root): {int(p): float(s) for p, s in gen} for root, gen in d["tracks"]}
        return cls(int(d["index"]), int(d["first"]), int(d["last"]), tracks, _frames_of_rows(d["masks"], d["size"]),
                   float(d["seconds"]),
                   dict(d["stage_seconds"]), int(d["units"]), str(d["worker"]),
                   [(int(p), bytes(v)) for p, v in d.get("descriptors", [])])


def run_window(source: FrameSource, backend: Backend, config: RunConfig, window: Window,
               worker: str = "") -> WindowResult:
    """Run the whole method inside `window` and resolve its tracks (ids local to the window).

    The window's working store lives in memory: its size is bounded by the window, and nothing
    in it needs to survive the process (the driver commits the returned result).
    """
    t0 = time.perf_counter()
    timer = StageTimer()
    store = RunStore(Path(":memory:"))
    try:
        # the Runner walks only the window's key frames (global frame indices, so pids and backend
        # calls are those of a whole-video run); masks arriving unmatched at the window's edges are
        # objects the generator missed on the shared key frame: carried into the halo, where the
        # stitcher matches them as the whole-video run would, instead of being cut at the boundary
        runner = Runner(TimedSource(source, timer), backend, store, config, timer, keys=list(window.keys),
                        carry_to=(window.before[-1] if window.before else None,
                                  window.after[-1] if window.after else None),
                        prior_free=frozenset(k for k, shared in ((window.first, window.before),
                                                                 (window.last, window.after)) if shared))
        runner.run()
        with timer.stage("window_tracks"):
            tracks, frames = _window_tracks(store, window, source.size)
            vectors = store.descriptors(p for gen in tracks.values() for p in gen)
    finally:
        store.close()
    return WindowResult(window.index, window.first, window.last, tracks, frames,
                        time.perf_counter() - t0, timer.as_dict(), runner.units_run, worker,
                        [(p, v.astype(np.float16).tobytes()) for p, v in sorted(vectors.items())])


def _window_tracks(store: RunStore, window: Window, size: tuple[int, int]
                   ) -> tuple[dict[int, dict[int, float]], list[tuple[int, Masks]]]:
    """finalize's id resolution and per-frame representative, inside one window."""
    gen_scores = store.generated_scores()
    graph = track_graph()
    graph.replay(store.merges())
    root_of = graph.roots(sorted(gen_scores))
    tracks: dict[int, dict[int, float]] = {}
    for pid, score in gen_scores.items():
        tracks.setdefault(root_of[pid], {})[pid] = float(score)
    frames = []
    lo = window.before[-1] if window.before else window.first
    hi = window.after[-1] if window.after else window.last
    for frame in range(lo, hi + 1):
        masks = store.frame_masks(frame, size)
        masks = masks.select(np.array([p in root_of for p in masks.ids.tolist()], bool))
        if not len(masks):
            continue
        pids = masks.ids
        roots = np.array([root_of[p] for p in pids.tolist()], np.int64)
        keep = pick_representatives(pids, masks.data["direction"], roots, pids // PID_BASE, frame)
        frames.append((frame, masks.select(keep).with_data(pid=pids[keep]).with_ids(roots[keep])))
    return tracks, frames


def _frames_of_rows(rows: list, size: list[int]) -> list[tuple[int, Masks]]:
    """The wire rows (frame, root, pid, direction, area, RLE counts), frame by frame, back into masks."""
    by_frame: dict[int, list] = {}
    for row in rows:
        by_frame.setdefault(int(row[0]), []).append(row)
    h, w = int(size[0]), int(size[1])
    return [(frame, Masks(size=(h, w), ids=[int(r[1]) for r in rs],
                          rles=[{"size": [h, w], "counts": bytes(r[5])} for r in rs], scores=np.ones(len(rs)),
                          data={"pid": np.array([int(r[2]) for r in rs], np.int64),
                                "direction": np.array([int(r[3]) for r in rs], np.int64)},
                          known_areas=[int(r[4]) for r in rs]))
            for frame, rs in sorted(by_frame.items())]
