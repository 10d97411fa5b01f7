"""Small videos made by the tests themselves."""
from pathlib import Path

import av
import numpy as np


def make_video(path: Path, n: int = 17, size=(72, 96)) -> Path:
    """Textured squares moving over a gradient: enough structure for the classic backend."""
    rng = np.random.default_rng(0)
    h, w = size
    bg = (np.linspace(40, 200, w)[None, :, None] * np.ones((h, 1, 3))).astype(np.uint8)
    tex = rng.integers(0, 40, (24, 24, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10, options={"crf": "12", "preset": "ultrafast", "threads": "1"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for t in range(n):
            img = bg.copy()
            img[10:34, 5 + 2 * t:29 + 2 * t] = 180 + tex
            img[40:60, 60 - t:80 - t] = (200, 40, 40)
            img[45:50, 65 - t:70 - t] = (20, 20, 200)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path
