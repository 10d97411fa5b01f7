"""Copies: pairs of masks on one frame that overlap so much they are one thing.

Only pairs whose areas are within `min_iou` of each other can have an IoU above it
(IoU <= smaller area / larger area), so candidates come from a sort by area and only those pairs
are measured: a frame of a few hundred masks costs a few hundred small IoU calls, not all pairs.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..masks import RLE, iou_matrix


def copy_pairs(rles: Sequence[RLE], areas: np.ndarray, min_iou: float) -> list[tuple[int, int, float]]:
    """(i, j, iou) with i < j for every pair of masks above `min_iou`, strongest first."""
    n = len(rles)
    if n < 2:
        return []
    areas = np.asarray(areas, np.float64)
    order = np.argsort(areas, kind="stable")
    sorted_areas = areas[order]
    out = []
    for pos in range(n - 1):
        a = sorted_areas[pos]
        if a <= 0:
            continue
        end = int(np.searchsorted(sorted_areas, a / min_iou, side="right"))
        if end <= pos + 1:
            continue
        i = int(order[pos])
        others = order[pos + 1:end]
        ious = iou_matrix([rles[i]], [rles[j] for j in others])[0]
        for j, iou in zip(others.tolist(), ious.tolist()):
            if iou > min_iou:
                out.append((min(i, j), max(i, j), float(iou)))
    out.sort(key=lambda p: (-p[2], p[0], p[1]))
    return out
