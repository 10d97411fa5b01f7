"""Display-matrix side data -> the array transform that shows a frame upright (phone videos)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]


def _identity(image: np.ndarray) -> np.ndarray:
    return image


def matrix_transform(matrix: np.ndarray | None) -> tuple[Transform, bool]:
    """(transform, swaps_axes) for a 3x3 display matrix given as 9 int32 (16.16 fixed point).

    Mirrors what ffmpeg's own autorotate does (fftools: transpose / hflip / vflip by the angle
    and the signs of the matrix), so our frames look like the ones a player shows. Angles that
    are not a multiple of 90 degrees are ignored (no player-agreed meaning for the borders).
    """
    if matrix is None or len(matrix) < 9:
        return _identity, False
    m = [int(v) for v in matrix[:9]]
    scale0, scale1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale0 == 0 or scale1 == 0:
        return _identity, False
    rotation = -math.degrees(math.atan2(m[1] / scale1, m[0] / scale0))  # av_display_rotation_get
    theta = -round(rotation)
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)  # clockwise, in [0, 360)
    if abs(theta - 90) < 1:
        if m[3] > 0:  # transpose=cclock_flip: a plain transpose
            return (lambda a: a.transpose(1, 0, 2)), True
        return (lambda a: np.rot90(a, -1)), True  # transpose=clock
    if abs(theta - 270) < 1:
        if m[3] < 0:  # transpose=clock_flip: the anti-transpose
            return (lambda a: np.rot90(a, -1)[::-1]), True
        return (lambda a: np.rot90(a, 1)), True  # transpose=cclock
    if abs(theta - 180) < 1:
        hflip, vflip = m[0] < 0, m[4] < 0
    elif abs(theta) < 1:
        hflip, vflip = False, m[4] < 0
    else:
        return _identity, False
    if hflip and vflip:
        return (lambda a: a[::-1, ::-1]), False
    if hflip:
        return (lambda a: a[:, ::-1]), False
    if vflip:
        return (lambda a: a[::-1]), False
    return _identity, False
