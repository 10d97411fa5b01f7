"""A small run with exactly known masks for the export and viewer tests.

Frames are a folder of PNGs (so exports that draw on the video find real pixels); masks come from
the replay backend: a whole (1) with a part (2) that has a part (3), a second whole (4) that
overlaps 1 on some frames (same depth, so label layers must split), and a late small one (5).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import everymask
from everymask.testing.replay import ReplayBackend
from everymask.config import RunConfig, RuntimeOptions

from replay_scenes import box

SIZE = (48, 64)
T = 12
CONFIG = RunConfig(backend="replay", step=5, min_area=0.0, vanish_area=0.0)


def truth(size: tuple[int, int] = SIZE, s: int = 1) -> dict:
    """Track id -> frame -> RLE; `s` scales the geometry (for a larger processing size)."""
    return {1: {t: box(size, 4 * s, (4 + t) * s, 30 * s, 34 * s) for t in range(T)},
            2: {t: box(size, 8 * s, (8 + t) * s, 14 * s, 14 * s) for t in range(T)},
            3: {t: box(size, 10 * s, (10 + t) * s, 5 * s, 5 * s) for t in range(T)},
            4: {t: box(size, 20 * s, 30 * s, 20 * s, 26 * s) for t in range(3, 10)},
            5: {t: box(size, 38 * s, 2 * s, 6 * s, 8 * s) for t in range(6, T)}}


def write_frames(folder: Path, size: tuple[int, int] = SIZE, num_frames: int = T) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    for t in range(num_frames):
        img = np.stack([(xx * 4 + t * 9) % 256, (yy * 5) % 256, np.full(size, 90)], -1).astype(np.uint8)
        cv2.imwrite(str(folder / f"{t:05d}.png"), img)
    return folder


def make_run(tmp_path: Path, name: str = "clip", frames_size: tuple[int, int] = SIZE) -> everymask.Run:
    """Segment the scene; the input folder is `tmp_path/name` (any characters, for escaping tests)."""
    from everymask.video import open_source
    folder = write_frames(tmp_path / name, frames_size)
    source = open_source(folder, max_side=max(SIZE))
    assert source.size == SIZE
    run = everymask.segment_video(source, tmp_path / "run", CONFIG, options=RuntimeOptions(progress=False),
                                  backend=ReplayBackend(truth(), SIZE).backend())
    source.close()
    return run
