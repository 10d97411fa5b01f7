"""A track's `score`: how persistent, how often re-found and how well-bounded it is, so ranking by it
puts real objects first.

Evaluations keep a fixed number of detections (YouTube-VIS: 100 per video, AR@1/10/100; COCO:
100 per image), so the order of the scores decides what is evaluated. The backend's score of the
key-frame masks alone (the old `score`) does not rank: every mask that passed the generator's
filters scores about the same, and a fragment found once scores like an object found on every
key frame. What separates them is the track's history, all read from the store after finalize:

- `length`: the share of the video's frames the track is on;
- `refound`: the share of the key frames in its span where the generator found it again (its
  own key-frame mask represents it there: the engine joined that mask to the track by IoU);
- `quality`: the backend's mean score of its key-frame masks (SAM / SAM 2: predicted IoU; the
  classic backend: boundary contrast and stability), the only component of the old score.

    score = sqrt(length) * (0.6 refound + 0.4 quality)

The square root keeps a real object that is on a quarter of the video (it enters late) above a
fragment carried over the whole of it; the weighted mean lets a track be strong in one way and
weak in another. Values lie in [0, 1].

`agreement`, the mean IoU of the merges that joined the track's key-frame masks (propagated mask
against the mask the generator found), is reported but not scored: a re-find already means the
two agreed (IoU above `second_iou`), weighting it (0.3) lowered recall at 10 on the benchmark
(0.240 against 0.254), and windowed runs do not keep merge IoUs, while a run must score the same
on every executor.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..store import GENERATED, RunStore
from .schedule import key_frames


@dataclass(frozen=True)
class TrackEvidence:
    """What the store says about one final track; each field in [0, 1] (`agreement` may be None)."""

    length: float
    refound: float
    agreement: float | None
    quality: float


def score(e: TrackEvidence) -> float:
    return float(np.sqrt(e.length) * (0.6 * e.refound + 0.4 * e.quality))


def track_evidence(store: RunStore, num_frames: int, size: tuple[int, int], step: int) -> dict[int, TrackEvidence]:
    """Evidence of every final track, from the `tracks`, `track_masks`, key-frame masks and merges."""
    windowed = store.state().execution != "units"
    gen_score: dict[int, float] = {} if windowed else store.generated_scores()  # as stored: the same on every executor
    for gen in store.window_tracks().values() if windowed else ():
        gen_score.update(gen)
    keys = key_frames(num_frames, step)
    track_of: dict[int, int] = {}                   # generated pid -> the track it represents on its key frame
    quality: dict[int, list[float]] = defaultdict(list)
    for k in keys:
        if windowed:
            m = store.window_frame_masks(k, size)
            generated = {r["counts"]: int(pid) for r, pid, d in zip(m.rles, m.data["pid"], m.data["direction"])
                         if d == GENERATED}
        else:
            m = store.frame_masks(k, size, direction=GENERATED)
            generated = {r["counts"]: int(pid) for r, pid in zip(m.rles, m.ids.tolist())}
        masks = store.frame_track_masks(k, size)
        for tid, rle in zip(masks.ids.tolist(), masks.rles):
            pid = generated.get(rle["counts"])
            if pid is not None:
                track_of[pid] = tid
                quality[tid].append(float(gen_score.get(pid, 0.0)))
    ious: dict[int, list[float]] = defaultdict(list)
    if not windowed:
        for a, b, iou in store.merges():
            if a in track_of and track_of[a] == track_of.get(b):
                ious[track_of[a]].append(float(iou))
    out = {}
    for t in store.tracks():
        spanned = sum(1 for k in keys if t.first <= k <= t.last)
        hits = len(quality[t.track_id])
        agreement = None if windowed else (float(np.mean(ious[t.track_id])) if ious[t.track_id] else 0.0)
        out[t.track_id] = TrackEvidence(
            length=t.num_frames / max(num_frames, 1), refound=hits / spanned if spanned else 0.0,
            agreement=agreement,
            quality=float(np.clip(np.mean(quality[t.track_id]), 0.0, 1.0)) if hits else 0.0)
    return out


def score_tracks(store: RunStore, num_frames: int, size: tuple[int, int], step: int) -> dict[int, float]:
    """Score every final track and store the scores; returns track id -> score."""
    scores = {tid: round(score(e), 6) for tid, e in track_evidence(store, num_frames, size, step).items()}
    store.set_track_scores(scores)
    return scores
