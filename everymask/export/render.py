"""Shared pieces of the picture exports (viewer, overlay, label layers): frames and masks of a run
at the input resolution, track colours, and painting overlapping masks smallest on top.

Masks are composited into one label map at the processing size and only then resized
(nearest neighbour) to the input size. Nearest-neighbour resizing picks one source pixel per
output pixel, so this equals resizing every mask on its own (as `tracks.json` does) and costs one
resize per frame instead of one per mask.
"""
from __future__ import annotations

import colorsys
from pathlib import Path

import cv2
import numpy as np

from ..errors import EverymaskError
from ..masks import Masks, decode_one
from ..run import Run
from ..video.base import FrameSource


GOLDEN = 0.618033988749895  # hue step per track id; viewer.js uses the same formula


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour per track id (same in the viewer and the overlay video)."""
    hue = (int(track_id) * GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def open_frames(run: Run, max_side: int = 0, frames: FrameSource | None = None) -> FrameSource:
    """The run's input video as a FrameSource, checked to have the run's frame count.

    Exports that draw on the video need its pixels; the store holds only masks, so the input must
    still be where the run found it (or be passed in as `frames`).
    """
    if frames is None:
        from ..video import open_source
        if not Path(run.source).exists():
            raise EverymaskError(f"the input {run.source} is gone; this export draws on the video frames, "
                                 "so put the video back at that path")
        frames = open_source(run.source, max_side=max_side)
    if len(frames) != run.num_frames:
        raise EverymaskError(f"{run.source} now has {len(frames)} frames but the run has {run.num_frames}; "
                             "it is not the video this run was made from")
    return frames


def label_map(masks: Masks, out_size: tuple[int, int], order: np.ndarray | None = None) -> np.ndarray:
    """uint16 (int32 past 65534 masks) map (at `out_size`) of 1 + the index of the mask drawn on top at each pixel, 0 = none.

    Masks are painted largest first so the smallest ends on top (`order` overrides: painted in the
    order given, later on top).
    """
    if order is None:
        order = np.argsort(-masks.areas, kind="stable")
    dtype = np.uint16 if len(masks) < 65535 else np.int32
    labels = np.zeros(masks.size, dtype)
    for i in order:
        labels[decode_one(masks.rles[i])] = i + 1
    return resize_nearest(labels, out_size)


def resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize to (H, W) with the same sampling as the `tracks.json` rescale."""
    if labels.shape[:2] == tuple(size):
        return labels
    return cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def outline(labels: np.ndarray) -> np.ndarray:
    """Pixels where the top mask changes to a right or lower neighbour (both sides marked)."""
    edge = np.zeros(labels.shape, bool)
    dx = labels[:, 1:] != labels[:, :-1]
    dy = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge & ((labels > 0) | _any_neighbour(labels > 0))


def _any_neighbour(on: np.ndarray) -> np.ndarray:
    return cv2.dilate(on.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def blend(image: np.ndarray, labels: np.ndarray, colours: np.ndarray, alpha: float = 0.45,
          outlines: bool = True) -> np.ndarray:
    """Draw the label map over an RGB image: fill at `alpha`, outlines opaque.

    `colours[k]` is the RGB colour of label k (row 0 unused).
    """
    out = image.astype(np.float32)
    on = labels > 0
    tint = colours[labels].astype(np.float32)
    out[on] = (1.0 - alpha) * out[on] + alpha * tint[on]
    if outlines:
        edge = outline(labels)
        out[edge] = 0.3 * tint[edge] + 0.7 * 255 * (labels[edge] > 0)[:, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def colour_table(track_ids: np.ndarray) -> np.ndarray:
    """(N + 1) x 3 uint8 table: row k + 1 is the colour of track_ids[k]."""
    table = np.zeros((len(track_ids) + 1, 3), np.uint8)
    for k, tid in enumerate(track_ids):
        table[k + 1] = track_colour(int(tid))
    return table
