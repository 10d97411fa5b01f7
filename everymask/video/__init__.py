"""Video input: `open_source` turns a video file or a folder of images into a `FrameSource`."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import EverymaskError
from .base import FrameSource
from .frames import MAX_PIXELS
from .image_folder import IMAGE_EXTENSIONS, ImageFolderSource
from .pyav_source import PyAVSource

__all__ = ["open_source", "FrameSource", "PyAVSource", "ImageFolderSource", "MAX_PIXELS",
           "IMAGE_EXTENSIONS"]


def open_source(path: str | Path, max_side: int = 0, cache_frames: int = 32,
                fps: float | None = None) -> FrameSource:
    """Open a video file (anything PyAV decodes), a folder of images, or one image.

    `max_side` > 0 downscales frames so the longer side is at most that (inputs above
    `MAX_PIXELS` are refused otherwise); `fps` sets the rate of an image folder (default 30).
    Raises `EverymaskError` with a one-line, fixable message for bad input.
    """
    p = Path(path)
    if max_side < 0:
        raise EverymaskError(f"--max-side must be 0 (keep size) or positive, got {max_side}")
    if not p.exists():
        raise EverymaskError(f"input not found: {p}; check the path")
    if p.is_dir():
        return ImageFolderSource(p, max_side=max_side, cache_frames=cache_frames,
                                 fps=30.0 if fps is None else fps)
    if not os.access(p, os.R_OK):
        raise EverymaskError(f"cannot read {p}: permission denied")
    if p.stat().st_size == 0:
        raise EverymaskError(f"{p.name} is empty (0 bytes); pass a video file or a folder of images")
    if p.suffix.lower() in IMAGE_EXTENSIONS:  # one image: a one-frame video
        return ImageFolderSource(p, max_side=max_side, cache_frames=cache_frames,
                                 fps=30.0 if fps is None else fps)
    source = PyAVSource(p, max_side=max_side, cache_frames=cache_frames)
    if fps is not None:
        source.fps = float(fps)
    return source
