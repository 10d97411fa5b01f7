"""Cut the demo clip everymask/data/sample.mp4 from Big Buck Bunny (CC-BY 3.0, Blender Foundation).

Usage: python benchmarks/make_sample.py /path/to/bigbuckbunny.mp4 [out.mp4]
Every frame, downscaled to 426x240 (INTER_AREA), H.264 yuv420p, CRF 18, one keyframe per second,
faststart so the moov index sits at the front.
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av

from everymask.video import open_source

OUT = Path(__file__).resolve().parents[1] / "everymask" / "data" / "sample.mp4"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_source(argv[0], max_side=426) as src, \
            av.open(str(out), "w", options={"movflags": "+faststart"}) as container:
        rate = Fraction(src.fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = src.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryslow", "g": str(round(src.fps)),
                          "threads": "1"}
        for i in range(len(src)):
            frame = av.VideoFrame.from_ndarray(src.frame(i), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    print(f"wrote {out}: {len(src)} frames, {src.size[1]}x{src.size[0]}, "
          f"{out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
