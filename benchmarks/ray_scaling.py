"""Wall time of one video on 1 process, and on Ray with 1 and 2 workers; stitching overhead.

    python benchmarks/ray_scaling.py [VIDEO] [--max-side 213] [--window-keys 4] [--out runs/bench_ray]

Why this shape: the figure that matters for scale-out is how the windows' wall time falls with
workers while the driver's serial part (stitch + finalize + export) stays, so each run reports
its stages apart. Ray itself is started once, before the timed runs (its boot is reported on its
own), with num_cpus = the machine's cores. The load average is printed before and after: on a
shared machine other processes take cores too.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import everymask
from everymask.config import RunConfig, RuntimeOptions

SAMPLE = Path(everymask.__file__).parent / "data" / "sample.mp4"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def one(video: str, out: Path, config: RunConfig, executor: str, workers: int, window_keys: int) -> dict:
    options = RuntimeOptions(progress=False, executor=executor, workers=workers, window_keys=window_keys)
    t0 = time.perf_counter()
    run = everymask.segment_video(video, out, config, options=options, fresh=True)
    wall = time.perf_counter() - t0
    s = run.summary()
    stages = s["stage_seconds"]
    return {"executor": executor, "workers": workers, "wall_s": round(wall, 2), "tracks": s["tracks"],
            "stages": stages, "stitch_fraction": round(stages.get("stitch", 0.0) / wall, 4),
            "load_after": load()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", default=str(SAMPLE))
    ap.add_argument("--max-side", type=int, default=213)
    ap.add_argument("--window-keys", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("runs/bench_ray"))
    args = ap.parse_args()
    import ray
    config = RunConfig(backend="classic", max_side=args.max_side)
    rows = [{"load_before": load(), "cpus": os.cpu_count()}]
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    rows[0]["ray_boot_s"] = round(time.perf_counter() - t0, 2)
    try:
        rows.append(one(args.video, args.out / "local", config, "local", 1, args.window_keys))
        for workers in (1, 2):
            rows.append(one(args.video, args.out / f"ray{workers}", config, "ray", workers, args.window_keys))
    finally:
        ray.shutdown()
    for r in rows:
        print(json.dumps(r))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ray_scaling.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
