"""Re-identification: a track that ended takes its id back when its object is found again.

A track ends when its object leaves the frame, goes behind something, or is lost; when the object
is found again later the generator gives it a new track. Over a gap of at most `max_gap` frames,
each ended track A and each later-starting track B are compared on what is known without the
images:

- position: where A was last seen, moved by the camera's motion since (`CameraPath`, estimated
  from all tracks), against where B is first seen, in units of the object's size; two
  hypotheses, the nearer counts: A stayed (or came back to where it left), or A kept the
  velocity it had over its last frames (an object crossing behind an occluder, as the
  constant-velocity model of SORT-style trackers has it); the allowance grows with the gap;
- size: the tracks' mean areas, corrected for the camera's zoom;
- shape: the IoU of A's last and B's first mask once their centres are aligned;
- appearance: the cosine similarity of the backend's descriptors of A's last and B's first
  generated mask (colour statistics for classic, image-encoder features for SAM 2); without
  descriptors the shape and position rules are stricter.

Pairs that pass every rule are assigned one to one (Hungarian on a combined score), so an ended
track gives its id to at most one new track, and a new track takes at most one id.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from ..masks import decode_one


@dataclass(frozen=True)
class ReidRules:
    """The thresholds of re-identification (not knobs: `reid_seconds` is the one users set)."""

    min_size_ratio: float = 0.5        # smaller mean area / larger, after zoom
    near: float = 1.0                  # allowed centre distance in object diameters, at gap 0 ...
    speed: float = 2.0                 # ... plus this many diameters per second of gap
    min_shape_iou: float = 0.45        # aligned last/first masks
    min_appearance: float = 0.85       # cosine of descriptors
    # without descriptors only near, same-shaped masks are taken
    blind_near: float = 0.5
    blind_shape_iou: float = 0.7


TRAIL = 8   # frames of a track's end that give its velocity


@dataclass
class TrackEnds:
    """What re-identification knows of one track: its first and last visible masks.

    Boxes are x, y, w, h of the masks; `first_key` / `last_key`: the first and last of its generated
    masks (their provisional ids), whose descriptors stand for its appearance at either end.
    """

    first: int
    last: int
    first_box: np.ndarray
    last_box: np.ndarray
    first_rle: dict
    last_rle: dict
    area_sum: float = 0.0
    count: int = 0
    first_key: int | None = None
    last_key: int | None = None
    trail: list = field(default_factory=list)   # (frame, x, y) of the box centre on its last TRAIL frames

    @property
    def mean_area(self) -> float:
        return self.area_sum / max(self.count, 1)

    def absorb(self, other: "TrackEnds") -> None:
        """Combine with another part of the same track (after two tracks were joined)."""
        if other.first < self.first:
            self.first, self.first_box, self.first_rle = other.first, other.first_box, other.first_rle
        if other.last > self.last:
            self.last, self.last_box, self.last_rle = other.last, other.last_box, other.last_rle
        self.area_sum += other.area_sum
        self.count += other.count
        if other.first_key is not None and (self.first_key is None or other.first_key < self.first_key):
            self.first_key = other.first_key
        if other.last_key is not None and (self.last_key is None or other.last_key > self.last_key):
            self.last_key = other.last_key
        if other.trail:
            self.trail = sorted(set(self.trail) | set(other.trail))[-TRAIL:]

    def velocity(self, camera: "CameraPath") -> np.ndarray:
        """Pixels per frame of the centre over the trail, the camera's motion taken out (0, 0 when
        seen on fewer than 3 frames): the least-squares slope, steadier than two end points."""
        if len(self.trail) < 3:
            return np.zeros(2)
        t = np.array([p[0] for p in self.trail], float)
        xy = np.array([p[1:] for p in self.trail], float) - camera.offset[t.astype(int)]
        t -= t.mean()
        denom = float((t * t).sum())
        return (t[:, None] * (xy - xy.mean(0))).sum(0) / denom if denom else np.zeros(2)


@dataclass
class CameraPath:
    """The camera's motion as a translation and a zoom per frame, accumulated from frame 0.

    Estimated between consecutive frames as the median shift of the centres and the median
    change of size of the tracks visible on both: most masks are background and still, so the
    median follows the camera, not the objects moving in front of it.
    """

    num_frames: int
    offset: np.ndarray = field(init=False)       # num_frames x 2, x and y of frame t relative to frame 0
    log_zoom: np.ndarray = field(init=False)     # num_frames

    def __post_init__(self) -> None:
        self.offset = np.zeros((self.num_frames, 2))
        self.log_zoom = np.zeros(self.num_frames)
        self._prev: dict[int, tuple[float, float, float]] = {}
        self._prev_frame = -1

    def add_frame(self, frame: int, centres: dict[int, tuple[float, float, float]]) -> None:
        """`centres`: track -> (x, y, sqrt(area)) on `frame`; frames in ascending order (frames
        without masks may be left out: they inherit the camera of the frame before)."""
        if not centres:
            return
        if self._prev_frame >= 0:
            common = [t for t in centres if t in self._prev]
            base_off, base_zoom = self.offset[self._prev_frame], self.log_zoom[self._prev_frame]
            d, z = np.zeros(2), 0.0
            if len(common) >= 3:
                now = np.array([centres[t] for t in common])
                before = np.array([self._prev[t] for t in common])
                d = np.median(now[:, :2] - before[:, :2], axis=0)
                ok = (now[:, 2] > 0) & (before[:, 2] > 0)
                z = float(np.median(np.log(now[ok, 2] / before[ok, 2]))) if ok.any() else 0.0
            self.offset[self._prev_frame + 1:frame + 1] = base_off
            self.log_zoom[self._prev_frame + 1:frame + 1] = base_zoom
            self.offset[frame] = base_off + d
            self.log_zoom[frame] = base_zoom + z
        self._prev, self._prev_frame = centres, frame



def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


def aligned_iou(a: dict, b: dict, shift: np.ndarray, scale: float = 1.0) -> float:
    """IoU of mask `b` with mask `a` moved by `shift` (and scaled by `scale` about a's box centre)."""
    ma, mb = decode_one(a).astype(np.uint8), decode_one(b)
    ys, xs = np.nonzero(ma)
    if not len(xs) or not mb.any():
        return 0.0
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    m = np.float32([[scale, 0, cx - scale * cx + shift[0]], [0, scale, cy - scale * cy + shift[1]]])
    moved = cv2.warpAffine(ma, m, (ma.shape[1], ma.shape[0]), flags=cv2.INTER_NEAREST).astype(bool)
    union = np.count_nonzero(moved | mb)
    return float(np.count_nonzero(moved & mb) / union) if union else 0.0


def reid_links(ends: dict[int, TrackEnds], camera: CameraPath, descriptors: dict[int, np.ndarray],
               max_gap: int, fps: float, rules: ReidRules = ReidRules()) -> list[tuple[int, int, float]]:
    """(ended track, later track, score) to join, one to one, best first.

    `descriptors`: generated pid -> unit vector (the tracks' `first_key` / `last_key` look here).
    """
    if max_gap <= 0 or len(ends) < 2:
        return []
    ids = sorted(ends)
    first = np.array([ends[t].first for t in ids])
    last = np.array([ends[t].last for t in ids])
    area = np.array([ends[t].mean_area for t in ids])
    start = np.array([_centre(ends[t].first_box) for t in ids])
    stop = np.array([_centre(ends[t].last_box) for t in ids])
    by_first = np.argsort(first, kind="stable")
    sorted_first = first[by_first]
    lenient = max(rules.near + rules.speed * max_gap / max(fps, 1e-6), rules.blind_near)
    scored: list[tuple[int, int, float]] = []
    for ia in range(len(ids)):
        # the cheap rules for every track starting within the gap: size after zoom, distance at the
        # most lenient allowance; the rest only for those that pass
        lo, hi = np.searchsorted(sorted_first, [last[ia] + 1, last[ia] + max_gap + 1])
        cand = by_first[lo:hi]
        if not len(cand):
            continue
        zoom = np.exp(camera.log_zoom[first[cand]] - camera.log_zoom[last[ia]])
        size_a, size_b = area[ia] * zoom * zoom, area[cand]
        large = np.maximum(size_a, size_b)
        stayed = stop[ia] + camera.offset[first[cand]] - camera.offset[last[ia]]
        moved_on = stayed + ends[ids[ia]].velocity(camera) * (first[cand] - last[ia])[:, None]
        distance = np.minimum(np.linalg.norm(start[cand] - stayed, axis=1),
                              np.linalg.norm(start[cand] - moved_on, axis=1)) / np.maximum(np.sqrt(large), 1.0)
        ok = (np.minimum(size_a, size_b) >= rules.min_size_ratio * large) & (distance <= lenient)
        a = ends[ids[ia]]
        va = descriptors.get(a.last_key) if a.last_key is not None else None
        for n in np.flatnonzero(ok).tolist():
            ib = int(cand[n])
            b = ends[ids[ib]]
            vb = descriptors.get(b.first_key) if b.first_key is not None else None
            known = va is not None and vb is not None and bool(va.any()) and bool(vb.any())
            seconds = (b.first - a.last) / max(fps, 1e-6)
            if distance[n] > (rules.near + rules.speed * seconds if known else rules.blind_near):
                continue
            appearance = float(np.dot(va, vb)) if known else 0.0
            if known and appearance < rules.min_appearance:
                continue
            shape = aligned_iou(a.last_rle, b.first_rle, start[ib] - stop[ia], float(zoom[n]))
            if shape < (rules.min_shape_iou if known else rules.blind_shape_iou):
                continue
            scored.append((ia, ib, appearance + shape - 0.1 * float(distance[n])))
    if not scored:
        return []
    rows_of = sorted({ia for ia, _, _ in scored})
    cols_of = sorted({ib for _, ib, _ in scored})
    r_index, c_index = {v: n for n, v in enumerate(rows_of)}, {v: n for n, v in enumerate(cols_of)}
    score = np.full((len(rows_of), len(cols_of)), -np.inf)
    for ia, ib, sc in scored:
        score[r_index[ia], c_index[ib]] = sc
    finite = np.isfinite(score)
    rows, cols = linear_sum_assignment(np.where(finite, score, -1e6), maximize=True)
    links = [(ids[rows_of[r]], ids[cols_of[c]], float(score[r, c])) for r, c in zip(rows, cols) if finite[r, c]]
    return sorted(links, key=lambda x: (-x[2], x[0], x[1]))
