"""Frames per second of `open_source` for in-order reads and for the engine's access pattern.

Usage: python benchmarks/video_speed.py VIDEO [--repeat 3]
The engine pattern: windows of step 5: frames k..k+5 forward, then k+5..k backward, then k += 5.
"""
from __future__ import annotations

import argparse
import time

from everymask.video import open_source


def in_order(path: str, max_side: int) -> tuple[float, int]:
    with open_source(path, max_side=max_side) as src:
        for i in range(len(src)):
            src.frame(i)
        return len(src), getattr(src, "seeks", 0)


def engine_pattern(path: str, max_side: int, step: int = 5) -> tuple[float, int]:
    with open_source(path, max_side=max_side) as src:
        n = len(src)
        for k in range(0, n - 1, step):
            stop = min(k + step, n - 1)
            for i in range(k, stop + 1):
                src.frame(i)
            for i in range(stop, k - 1, -1):
                src.frame(i)
        return n, getattr(src, "seeks", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    t = time.perf_counter()
    with open_source(args.video) as src:
        print(f"open (index pass): {time.perf_counter() - t:.3f} s for {len(src)} frames, "
              f"{src.input_size[1]}x{src.input_size[0]}")
    for max_side in (0, 426):
        for name, fn in (("in order", in_order), ("engine pattern", engine_pattern)):
            best = float("inf")
            for _ in range(args.repeat):
                t = time.perf_counter()
                n, seeks = fn(args.video, max_side)
                best = min(best, time.perf_counter() - t)
            label = "full size" if max_side == 0 else f"max_side={max_side}"
            print(f"{label:>13} {name:>15}: {n / best:7.1f} frames/s  "
                  f"({n} distinct frames, {seeks} decoder start(s), incl. open)")


if __name__ == "__main__":
    main()
