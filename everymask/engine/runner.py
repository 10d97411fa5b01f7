"""`Runner`: walks the schedule, runs each unit of work once, commits each in one transaction.

A unit found done in the store is skipped, so a killed run resumes where it stopped and, since
every unit reads only what earlier units committed, ends with the same result as an
uninterrupted run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..backends.base import Backend
from ..config import RunConfig
from ..masks import Masks, covering_prefix
from ..store import BACKWARD, FORWARD, GENERATED, RunStore
from ..timing import StageTimer
from ..video.base import FrameSource
from .associate import Thresholds, match_key_frame
from .schedule import PID_BASE, bwd_unit, fwd_unit, gen_unit, key_frames, origin_of, pid_of
from .track_graph import TrackGraph


def track_graph() -> TrackGraph:
    """The graph of provisional ids: a generated mask's only key frame is the one it was generated on."""
    return TrackGraph(keys_of=lambda pid: (origin_of(pid),))


class BudgetReached(Exception):
    """The time budget ran out between two units; the store is consistent and resumable."""


@dataclass
class RunProgress:
    """What the runner reports after each window: done and total windows."""

    done: int
    total: int


class Runner:
    """Runs the method over `keys` (default: every key frame of the video).

    A distributed executor gives one window's key frames and a halo: `carry_to` = (frame, frame)
    before the first and after the last key frame to which masks that arrive there unmatched are
    still carried (into the neighbouring window's range, where the stitcher meets them, as the
    whole-video run would). None: they end there. `prior_free`: key frames generated without the
    forward arrivals as prior: a key frame two windows share, which both must cut the same way
    although only the earlier window has arrivals there.
    """

    def __init__(self, source: FrameSource, backend: Backend, store: RunStore, config: RunConfig,
                 timer: StageTimer, on_window: Callable[[RunProgress], None] | None = None,
                 deadline: float | None = None, keys: list[int] | None = None,
                 carry_to: tuple[int | None, int | None] = (None, None),
                 prior_free: frozenset[int] = frozenset()) -> None:
        self.source, self.backend, self.store, self.config = source, backend, store, config
        self.timer = timer
        self.on_window = on_window or (lambda p: None)
        self.deadline = deadline
        self.size = source.size
        self.frame_px = self.size[0] * self.size[1]
        self.keys = list(keys) if keys is not None else key_frames(len(source), config.step)
        self.carry_before, self.carry_after = carry_to
        self.prior_free = prior_free
        self.done = store.done_units()
        self.units_run = 0
        self.thresholds = Thresholds(config.match_iou, config.second_iou, config.copy_iou)
        # which provisional ids are one track so far: rebuilt from the merges already committed, in
        # their order, so a resumed run decides exactly as an uninterrupted one
        self.graph = track_graph()
        self.graph.replay(store.merges())

    # schedule -----------------------------------------------------------------------------
    def run(self) -> None:
        """Run every unit not yet done, window by window (see engine/schedule.py)."""
        keys = self.keys
        if not keys:
            return
        self._unit(gen_unit(keys[0]), lambda: self._generate(keys[0]))
        for i in range(len(keys) - 1):
            k, k_next = keys[i], keys[i + 1]
            self._unit(fwd_unit(k), lambda: self._forward(i))
            self._unit(gen_unit(k_next), lambda: self._generate(k_next))
            self._backward_cascade(origin_index=i + 1)
            self.on_window(RunProgress(i + 1, len(keys) - 1))
        last = len(keys) - 1
        self._unit(fwd_unit(keys[last]), lambda: self._forward(last))
        if len(keys) == 1:
            self.on_window(RunProgress(1, 1))

    def _backward_cascade(self, origin_index: int) -> None:
        """bwd(origin) then, while masks of that origin arrive unmatched, one key frame further back."""
        origin = self.keys[origin_index]
        for j in range(origin_index, -1, -1):
            n_out = self._unit(bwd_unit(self.keys[j], origin), lambda: self._backward(j, origin))
            if n_out == 0:
                break

    def _unit(self, name: str, work: Callable[[], tuple]) -> int:
        """Run `work` -> (stage, n_out, [(frame, masks)], merges[, descriptors]) and commit it as one unit."""
        if name in self.done:
            return self.done[name]
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetReached(name)
        t0 = time.perf_counter()
        stage, n_out, frames, merges, *descriptors = work()
        with self.timer.stage("store"):
            self.store.commit_unit(name, stage, n_out, time.perf_counter() - t0, frames, merges, *descriptors)
        self.done[name] = n_out
        self.units_run += 1
        return n_out

    # units --------------------------------------------------------------------------------
    def _generate(self, k: int):
        """Generate k's masks; the forward arrivals at k (already committed) go along as the prior."""
        image = self.source.frame(k)
        prior = (Masks.empty(self.size, direction=np.int64) if k in self.prior_free
                 else self.store.frame_masks(k, self.size, FORWARD))
        with self.timer.stage("generate"):
            masks = self.backend.generator.generate(k, image, prior)
        with self.timer.stage("associate"):
            areas = masks.areas
            keep = np.flatnonzero(areas >= max(self.config.min_generated_area * self.frame_px, 1))
            keep = keep[np.argsort(-areas[keep], kind="stable")][: self.config.max_masks]
            if self.config.coverage_target < 1.0:
                keep = keep[: covering_prefix([masks.rles[i] for i in keep], self.config.coverage_target,
                                              self.frame_px)]
            kept = masks.select(keep)
            kept = Masks(size=self.size, ids=[pid_of(k, j) for j in range(len(kept))], rles=kept.rles,
                         scores=kept.scores, data={"direction": np.full(len(kept), GENERATED)},
                         known_areas=kept.areas)
        descriptors = {}
        if self.backend.describer is not None and len(kept):
            with self.timer.stage("describe"):
                vectors = self.backend.describer.describe(k, image, masks.select(keep))
            descriptors = dict(zip(kept.ids.tolist(), vectors))
        return "generate", len(kept), [(k, kept)], [], descriptors

    def _forward(self, i: int):
        """Match forward arrivals at k_i, then carry k_i's masks and the unmatched ones to k_{i+1}."""
        k = self.keys[i]
        with self.timer.stage("associate"):
            generated = self.store.frame_masks(k, self.size, GENERATED)
            arrivals = self.store.frame_masks(k, self.size, FORWARD)
            carried, merges = self._match(k, FORWARD, arrivals, generated)
        if i + 1 >= len(self.keys):             # the last key frame: only a halo goes on
            if self.carry_after is None or not len(carried):
                return "associate", 0, [], merges
            return "propagate", 0, self._propagate(k, self.carry_after, carried, FORWARD), merges
        seeds = Masks.concat([generated, carried])
        if not len(seeds):
            return "associate", 0, [], merges
        frames = self._propagate(k, self.keys[i + 1], seeds, FORWARD)
        return "propagate", _arrived(frames, self.keys[i + 1]), frames, merges

    def _backward(self, j: int, origin: int):
        """Carry origin's masks that arrived unmatched at k_j (or k_j's own, if k_j is the origin) back."""
        k = self.keys[j]
        with self.timer.stage("associate"):
            generated = self.store.frame_masks(k, self.size, GENERATED)
            if k == origin:
                seeds, merges = generated, []
            else:
                arrivals = self.store.frame_masks(k, self.size, BACKWARD,
                                                  pid_range=(origin * PID_BASE, (origin + 1) * PID_BASE))
                seeds, merges = self._match(k, BACKWARD, arrivals, generated)
        if j == 0:                              # the first key frame: only a halo goes on
            if self.carry_before is None or k == origin or not len(seeds):
                return "associate", 0, [], merges
            return "propagate", 0, self._propagate(k, self.carry_before, seeds, BACKWARD), merges
        if not len(seeds):
            return "associate", 0, [], merges
        frames = self._propagate(k, self.keys[j - 1], seeds, BACKWARD)
        return "propagate", _arrived(frames, self.keys[j - 1]), frames, merges

    def _match(self, k: int, direction: int, arrivals: Masks, generated: Masks) -> tuple[Masks, list[tuple]]:
        """Associate arrivals at key frame k (engine/associate.py) -> (arrivals that go on, merge rows).

        The joins are made in the runner's track graph as they are decided, so the next unit sees
        them, and committed in that order, so finalize rebuilds the same graph.
        """
        decided = match_key_frame(arrivals.ids.tolist(), arrivals.rles, generated.ids.tolist(), generated.rles, k,
                                  self.graph, self.thresholds)
        merges = [(a, b, iou, k, direction, kind) for a, b, iou, kind in decided.merges]
        reach = self.config.carry_keys * self.config.step
        goes_on = [n not in decided.stops and (not reach or abs(k - origin_of(pid)) < reach)
                   for n, pid in enumerate(arrivals.ids.tolist())]
        return arrivals.select(np.array(goes_on, bool)), merges

    def _propagate(self, start: int, stop: int, seeds: Masks, direction: int) -> list[tuple[int, Masks]]:
        """Propagate seeds start -> stop -> [(frame, masks)], ids = the seeds' pids, scores the seeds'.

        A mask ends at the first frame its area is under vanish_area.
        """
        score_of = dict(zip(seeds.ids.tolist(), seeds.scores.tolist()))
        alive = set(score_of)
        vanish_px = max(self.config.vanish_area * self.frame_px, 1.0)
        out: list[tuple[int, Masks]] = []
        frames = self.backend.propagator.propagate(self.source, start, stop,
                                                   Masks(size=self.size, ids=seeds.ids, rles=seeds.rles, scores=seeds.scores))
        while alive:
            with self.timer.stage("propagate"):
                item = next(frames, None)
            if item is None:
                break
            t, masks = item
            with self.timer.stage("associate"):
                areas = masks.areas
                keep = []
                for n, pid in enumerate(masks.ids.tolist()):
                    if pid not in alive:
                        continue
                    if areas[n] < vanish_px:
                        alive.discard(pid)
                        continue
                    keep.append(n)
                kept = masks.select(np.array(keep, np.int64))
                alive &= set(kept.ids.tolist())
                out.append((t, Masks(size=self.size, ids=kept.ids, rles=kept.rles,
                                     scores=[score_of[p] for p in kept.ids.tolist()],
                                     data={"direction": np.full(len(kept), direction)}, known_areas=kept.areas)))
        if hasattr(frames, "close"):
            frames.close()
        return out


def _arrived(frames: list[tuple[int, Masks]], key: int) -> int:
    """How many masks a propagation brought to the key frame `key` (the unit's n_out)."""
    return sum(len(m) for t, m in frames if t == key)
