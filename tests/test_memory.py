"""Flat memory: a long video runs in the memory a short one needs.

A 2000-frame synthetic clip (64x48, drawn on demand, so the input itself takes no memory) goes
through the whole engine (schedule, association, store, finalize, hierarchy, export) in a
subprocess whose
address space is capped (`RLIMIT_AS`) at what a 200-frame run of the same clip reached plus a
margin. Peak resident memory must stay within 1.2x of the short run's, the target the benchmark
also reports as `rss_ratio_8x`. Anything that grows with length (a per-frame list, an unbounded
cache, a per-track array over all frames) fails here long before it fails a user's hour of video.

The replay backend serves the clip's true masks, so the test measures the engine and not a
backend: the classic backend on this machine needs minutes for 2000 frames, and its live mask
set grows with length (see benchmarks/RESULTS.md). Its oracle holds every true RLE (a few
bytes each, 6000 of them), which is the same for both runs' per-frame share.

Run this file directly (`python tests/test_memory.py FRAMES OUT [CAP_BYTES]`) to get the child.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # thousands of frames in a subprocess

SIZE = (48, 64)


class LoopingSource:
    """Frames drawn on demand: three blocks moving over a fixed textured background, period 60."""

    path = "<looping>"
    fps = 25.0

    def __init__(self, n: int) -> None:
        self.n = n
        rng = np.random.default_rng(0)
        self.base = (rng.random((*SIZE, 3)) * 50 + 70).astype(np.uint8)

    def __len__(self) -> int:
        return self.n

    @property
    def size(self) -> tuple[int, int]:
        return SIZE

    input_size = size

    @staticmethod
    def boxes(index: int) -> list[tuple[slice, slice]]:
        t = index % 60
        return [(slice(6, 22), slice(4 + t // 2, 22 + t // 2)), (slice(26, 44), slice(40 - t // 3, 60 - t // 3)),
                (slice(4 + t // 4, 14 + t // 4), slice(44, 58))]

    def frame(self, index: int) -> np.ndarray:
        img = self.base.copy()
        for box, rgb in zip(self.boxes(index), ((220, 40, 40), (40, 190, 60), (40, 60, 210))):
            img[box] = rgb
        return img

    def truth(self) -> dict:
        """{object: {frame: RLE}}: the replay backend's oracle. Each 60-frame cycle has three new
        objects (the blocks jump back), so tracks, merges and store rows grow with length as in a
        real video, and the blue block crosses the red one's path (overlaps, part-of tests)."""
        from everymask.masks import encode

        out: dict[int, dict] = {}
        for i in range(self.n):
            for obj, box in enumerate(self.boxes(i)):
                m = np.zeros(SIZE, bool)
                m[box] = True
                out.setdefault(3 * (i // 60) + obj, {})[i] = encode(m)[0]
        return out

    def fingerprint(self) -> str:
        return f"looping-{self.n}"

    def close(self) -> None:
        pass


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(frames: int, out: str, cap: int) -> None:
    """Run the pipeline under the cap; print peak memory and what came out as one JSON line."""
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from everymask.api import segment_video
    from everymask.testing.replay import ReplayBackend
    from everymask.config import RunConfig, RuntimeOptions

    source = LoopingSource(frames)
    backend = ReplayBackend(source.truth(), SIZE).backend()
    run = segment_video(source, out, RunConfig(backend="replay"), options=RuntimeOptions(progress=False),
                        backend=backend)
    s = run.summary()
    print(json.dumps({"vm_peak": _status_kb("VmPeak") * 1024, "vm_hwm": _status_kb("VmHWM") * 1024,
                      "frames": s["num_frames"], "tracks": s["tracks"], "status": s["status"],
                      "tracks_json": (Path(out) / "tracks.json").stat().st_size}))


def _run_child(frames: int, out: Path, cap: int = 0) -> dict:
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}
    r = subprocess.run([sys.executable, __file__, str(frames), str(out), str(cap)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, f"{frames} frames under a cap of {cap / 2**20:.0f} MiB failed:\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_long_video_runs_in_the_memory_of_a_short_one(tmp_path: Path) -> None:
    short = _run_child(200, tmp_path / "short")
    assert short["status"] == "complete" and short["tracks"] > 0
    cap = int(short["vm_peak"] * 1.1) + (128 << 20)
    long = _run_child(2000, tmp_path / "long", cap)
    assert long["frames"] == 2000 and long["status"] == "complete"
    assert long["vm_hwm"] <= 1.2 * short["vm_hwm"], (short, long)


if __name__ == "__main__":
    child(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
