"""The array transform that shows a frame upright (phone videos), from PyAV's rotation and the
display matrix's mirroring."""
from __future__ import annotations

from typing import Callable

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]


def _identity(image: np.ndarray) -> np.ndarray:
    return image


def is_mirrored(matrix: np.ndarray | None) -> bool:
    """Whether a display matrix (9 int32, 16.16 fixed point) flips the picture: PyAV's
    `VideoFrame.rotation` gives the angle only, the sign of the 2x2 part's determinant the flip."""
    if matrix is None or len(matrix) < 9:
        return False
    return int(matrix[0]) * int(matrix[4]) - int(matrix[1]) * int(matrix[3]) < 0


def upright_transform(rotation: int, mirrored: bool) -> tuple[Transform, bool]:
    """(transform, swaps_axes) for PyAV's `VideoFrame.rotation` (degrees counterclockwise).

    The same frames ffmpeg's own autorotate shows. The angle of a mirrored matrix
    (`av_display_rotation_get`) is measured after a vertical flip, so the flip comes first.
    Angles that are not a multiple of 90 degrees are ignored (no player-agreed meaning for the
    borders).
    """
    if rotation % 90:
        return _identity, False
    quarter_turns = (rotation // 90) % 4
    if not quarter_turns and not mirrored:
        return _identity, False
    if mirrored:
        return (lambda a: np.rot90(a[::-1], quarter_turns)), quarter_turns % 2 == 1
    return (lambda a: np.rot90(a, quarter_turns)), quarter_turns % 2 == 1
