"""Where a run store's bytes go: bytes per mask against a dense mask, and pages per table (dbstat).

    python benchmarks/store_bytes.py RUN_DIR [RUN_DIR ...]
    python benchmarks/store_bytes.py --size 176x144 --frames 40 [-- extra everymask run flags]

The second form resizes the first FRAMES frames of the bundled sample to SIZE, runs
`everymask run` on them (classic backend unless the extra flags say otherwise) in a temporary
directory and reports that run. "file" is the store after close (WAL checkpointed); "dense" is
one byte per pixel, as a numpy bool mask.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "everymask" / "data" / "sample.mp4"


def resized_clip(out: Path, width: int, height: int, frames: int) -> Path:
    import av
    import cv2
    with av.open(str(SAMPLE)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.options = width, height, "yuv420p", {"crf": "18"}
        for n, frame in enumerate(src.decode(video=0)):
            if n == frames:
                break
            rgb = cv2.resize(frame.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


def report(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    store = run_dir / "everymask.sqlite"
    n, dense, size = summary["store_masks"], summary["dense_bytes_per_mask"], store.stat().st_size
    h, w = summary["processing_size"]
    print(f"{run_dir}: {w}x{h}, {n} masks, {summary.get('tracks')} tracks")
    print(f"  file {size} bytes = {size / n:.0f} bytes/mask (x{dense * n / size:.1f} vs dense {dense}); "
          f"RLE payload {summary.get('rle_bytes_per_mask', '?')} bytes/mask")
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = db.execute("SELECT name, SUM(pagetype = 'overflow'), COUNT(*), SUM(pgsize), SUM(payload), SUM(unused) "
                      "FROM dbstat GROUP BY name ORDER BY 4 DESC").fetchall()
    print(f"  {'table or index':<32} {'pages':>6} {'overflow':>8} {'bytes':>9} {'share':>6} {'payload':>9} {'unused':>8}")
    for name, overflow, pages, nbytes, payload, unused in rows:
        print(f"  {name:<32} {pages:>6} {overflow:>8} {nbytes:>9} {nbytes / size:>6.1%} {payload:>9} {unused:>8}")
    db.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--size", help="WxH: run on the sample resized to this")
    ap.add_argument("--frames", type=int, default=40)
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    for run_dir in args.runs:
        report(run_dir)
    if args.size:
        width, height = (int(v) for v in args.size.lower().split("x"))
        with tempfile.TemporaryDirectory(prefix="everymask-store-") as tmp:
            clip = resized_clip(Path(tmp) / "clip.mp4", width, height, args.frames)
            env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
            subprocess.run([sys.executable, "-m", "everymask.cli", "run", str(clip), "-o", str(Path(tmp) / "run"),
                            "--quiet", *extra], check=True, env=env, stdout=subprocess.DEVNULL)
            report(Path(tmp) / "run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
