"""`overlay.mp4`: the masks blended over the input video (H.264 through PyAV).

One output frame per input frame at the input frame rate, so the overlay lines up with the input
in any editor. Smallest masks are drawn on top, so parts stay visible over their wholes.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..run import Run
from ..video.base import FrameSource
from .render import blend, colour_table, label_map, open_frames


def frame_rate(fps: float) -> Fraction:
    """The stored float fps as the exact rate it came from (29.97002997 -> 30000/1001)."""
    return Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)


def draw_frame(run: Run, t: int, image: np.ndarray, alpha: float = 0.45, outlines: bool = True,
               ids: bool = False) -> np.ndarray:
    """Frame `t` of the run drawn over `image` (RGB at the input size)."""
    masks = run.frame_masks(t)
    if not len(masks):
        return image
    labels = label_map(masks, image.shape[:2])
    out = blend(image, labels, colour_table(masks.ids), alpha=alpha, outlines=outlines)
    if ids:
        sy, sx = image.shape[0] / masks.size[0], image.shape[1] / masks.size[1]
        for tid, (x, y, w, h) in zip(masks.ids.tolist(), masks.boxes):
            org = (int((x + w / 2) * sx) - 6, int((y + h / 2) * sy) + 4)
            cv2.putText(out, str(tid), org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, str(tid), org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_overlay(run: Run, path: str | Path, *, frames: FrameSource | None = None, ids: bool = False,
                  alpha: float = 0.45, outlines: bool = True, crf: int = 20) -> Path:
    """Write the overlay video. H.264 in yuv420p needs even sides: an odd side gets one copied edge row."""
    path = Path(path)
    own_source = frames is None
    source = open_frames(run, frames=frames)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix or '.mp4'}")
    h, w = run.input_size
    try:
        with av.open(str(tmp), "w") as container:
            rate = frame_rate(run.fps)
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height = w + w % 2, h + h % 2
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = 1 / rate
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            for t in range(run.num_frames):
                image = draw_frame(run, t, source.frame(t), alpha=alpha, outlines=outlines, ids=ids)
                if h % 2 or w % 2:
                    image = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = t
                frame.time_base = 1 / rate
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        if own_source:
            source.close()
        if tmp.exists():
            tmp.unlink()
    return path
