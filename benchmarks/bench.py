"""End-to-end benchmark: speed per stage, memory against video length, store size, encoder passes.

Every measurement is one `everymask run` in its own subprocess (the real CLI code path), so its
peak RSS is its own (`os.wait4` rusage) and nothing warms up between measurements.

    python benchmarks/bench.py                       # classic backend on the bundled sample clip
    python benchmarks/bench.py --backend sam2 --json # tiny random SAM 2 checkpoint on CPU
    python benchmarks/bench.py --smoke --json        # seconds: a tiny synthetic clip (CI)

Figures (table, or one JSON object with --json):
- frames/s end to end and seconds per stage (decode, generate, propagate, associate, store,
  finalize, export) with their fractions; the engine's own overhead = associate + store +
  scheduling (time of the run outside every stage and outside backend loading), as a fraction;
- sam2: `encoder_passes_per_frame` with `--schedule shared` and, on the same clip in the same
  benchmark, with `--schedule original`, and their ratio;
- peak RSS on the clip and on the clip looped `--loops` times (8), and `rss_ratio_8x`;
- store bytes per mask against a dense boolean mask, and the size of tracks.json.
Speed is printed, never asserted: `--smoke` only checks that every figure is produced.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "everymask" / "data" / "sample.mp4"
STAGES = ("decode", "generate", "propagate", "associate", "store", "finalize", "export")
# Random weights score every mask near chance: keep them all, so the tiny model does full work.
SAM2_ARGS = ["--pred-iou-thresh", "0", "--stability-score-thresh", "0", "--points-per-side", "8"]


# -- inputs ---------------------------------------------------------------------------------

def write_looped(video: Path, out: Path, loops: int, frames: int = 0) -> Path:
    """`video` (its first `frames` if > 0) played `loops` times in a row, re-encoded with PyAV.

    Why a file and not a looping FrameSource: the measurement must take the same path a user's
    long video takes (PyAV index, seek and decode cache).
    """
    import av

    from everymask.video import open_source

    with open_source(video) as src, av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(src.fps).limit_denominator(1001))
        stream.height, stream.width = src.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": str(max(1, round(src.fps)))}
        n = min(frames, len(src)) if frames > 0 else len(src)
        for _ in range(loops):
            for i in range(n):
                for packet in stream.encode(av.VideoFrame.from_ndarray(src.frame(i), format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def write_smoke_clip(out: Path, frames: int = 12, size: tuple[int, int] = (48, 64)) -> Path:
    """A few textured blocks moving over noise: enough structure for both backends, tiny to run."""
    import av

    rng = np.random.default_rng(0)
    h, w = size
    base = (rng.random((h, w, 3)) * 60 + 60).astype(np.uint8)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = h, w
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for t in range(frames):
            img = base.copy()
            img[8 + t:24 + t, 6:26] = (220, 40, 40)
            img[26:44, 30 + t:56 + t] = (40, 200, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def tiny_sam2_checkpoint(folder: Path) -> Path:
    """The sam2 branch's tiny random SAM 2 (tests/sam_fixtures.py), saved as a hub-style checkpoint."""
    sys.path.insert(0, str(ROOT / "tests"))
    import sam_fixtures as F

    return F.save_folder(F.build("sam2"), folder)


# -- one measurement ------------------------------------------------------------------------

def run_cli(video: Path, out: Path, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """`everymask run` in a subprocess -> its summary.json plus process wall time and peak RSS."""
    cmd = [sys.executable, "-m", "everymask.cli", "run", str(video), "-o", str(out), "--quiet", "--fresh", *args]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{log.read().decode()[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    rss_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    summary["process_seconds"] = round(wall, 3)
    summary["process_peak_rss_mb"] = round(rss_kb / 1024, 1)
    summary["tracks_json_bytes"] = (out / "tracks.json").stat().st_size
    return summary


def figures(s: dict[str, Any]) -> dict[str, Any]:
    """Stage seconds, fractions and the engine overhead out of one run's summary."""
    stages = {k: float(s["stage_seconds"].get(k, 0.0)) for k in STAGES}
    wall = float(s.get("session_seconds") or sum(stages.values()))
    load = float(s.get("load_seconds", 0.0))
    pipeline = max(wall - load, 1e-9)
    scheduling = max(pipeline - sum(stages.values()), 0.0)
    return {
        "frames": s["num_frames"],
        "seconds": round(pipeline, 3),
        "load_seconds": round(load, 3),
        "process_seconds": s["process_seconds"],
        "frames_per_second": round(s["num_frames"] / pipeline, 3),
        "frames_per_second_process": round(s["num_frames"] / s["process_seconds"], 3),
        "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
        "stage_fraction": {k: round(v / pipeline, 4) for k, v in stages.items()},
        "scheduling_seconds": round(scheduling, 3),
        "engine_overhead_fraction": round((stages["associate"] + stages["store"] + scheduling) / pipeline, 4),
    }


# -- the benchmark --------------------------------------------------------------------------

def cli_setup(backend: str, workdir: Path, threads: int) -> tuple[dict[str, str], list[str]]:
    """Environment and `everymask run` flags for one backend (sam2: a tiny random checkpoint)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    args = ["--backend", backend]
    if backend == "sam2":
        args += ["--checkpoint", str(tiny_sam2_checkpoint(workdir / "sam2-tiny")), "--device", "cpu", *SAM2_ARGS]
    return env, args


def bench(backend: str, video: Path, loops: int, threads: int, workdir: Path, frames: int = 0) -> dict[str, Any]:
    env, args = cli_setup(backend, workdir, threads)
    load_before = os.getloadavg()
    if frames:
        video = write_looped(video, workdir / f"first{frames}.mp4", 1, frames)
    main = run_cli(video, workdir / "run", args, env)
    looped = write_looped(video, workdir / f"looped{loops}x.mp4", loops)
    long = run_cli(looped, workdir / "run_looped", args, env)
    out: dict[str, Any] = {
        "backend": backend, "video": str(video), "size": main["processing_size"],
        **figures(main),
        "tracks": main["tracks"], "masks_per_frame": main["masks_per_frame"], "coverage_mean": main["coverage_mean"],
        "peak_rss_mb": main["process_peak_rss_mb"],
        "loops": loops, "frames_looped": long["num_frames"],
        "peak_rss_mb_looped": long["process_peak_rss_mb"],
        "rss_ratio_8x": round(long["process_peak_rss_mb"] / main["process_peak_rss_mb"], 3),
        "frames_per_second_looped": figures(long)["frames_per_second"],
        "store_masks": main["store_masks"],
        "store_bytes_per_mask": float(main["store_bytes_per_mask"]),
        "dense_bytes_per_mask": int(main["dense_bytes_per_mask"]),
        "store_compression": round(main["dense_bytes_per_mask"] / max(float(main["store_bytes_per_mask"]), 1e-9), 1),
        "tracks_json_bytes": main["tracks_json_bytes"],
        "encoder_passes_per_frame": None, "encoder_passes_per_frame_original": None, "encoder_pass_ratio": None,
        "backend_stats": main["backend_stats"],
    }
    if backend == "sam2":
        orig = run_cli(video, workdir / "run_original", args + ["--schedule", "original"], env)
        shared_p = float(main["backend_stats"]["encoder_passes_per_frame"])
        orig_p = float(orig["backend_stats"]["encoder_passes_per_frame"])
        out.update(encoder_passes_per_frame=shared_p, encoder_passes_per_frame_original=orig_p,
                   encoder_pass_ratio=round(orig_p / shared_p, 3) if shared_p else None,
                   seconds_original=figures(orig)["seconds"])
    out["machine"] = {"cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before],
                      "load_after": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
                      "threads": threads or None,
                      "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    return out


def tradeoff(backend: str, video: Path, workdir: Path, budgets: list[str], coverages: list[str],
             threads: int) -> list[dict[str, Any]]:
    """Time against coverage and tracks, one CLI run per `--time-budget` / `--coverage-target` value.

    Why: the budgets trade completeness for time; a user picks a value from this curve.
    """
    env, args = cli_setup(backend, workdir, threads)
    rows = []
    for flag, values in (("--coverage-target", coverages), ("--time-budget", budgets)):
        for value in values:
            s = run_cli(video, workdir / f"tradeoff{len(rows)}", args + [flag, value], env)
            rows.append({"flag": flag, "value": value, "seconds": figures(s)["seconds"], "status": s["status"],
                         "coverage_mean": s["coverage_mean"], "coverage_min": s["coverage_min"], "tracks": s["tracks"],
                         "masks_per_frame": s["masks_per_frame"]})
    return rows


def table(r: dict[str, Any]) -> str:
    lines = [f"everymask bench: backend {r['backend']}, {Path(r['video']).name} ({r['frames']} frames, "
             f"{r['size'][1]}x{r['size'][0]}), {r['machine']['cpus']} CPUs, load {r['machine']['load_before'][0]}",
             f"  end to end        {r['frames_per_second']:.2f} frames/s ({r['seconds']:.2f} s; process "
             f"{r['process_seconds']:.2f} s incl. start-up and {r['load_seconds']:.2f} s backend load)"]
    for k in STAGES:
        lines.append(f"  {k:<17} {r['stage_seconds'][k]:8.3f} s  {100 * r['stage_fraction'][k]:5.1f} %")
    lines.append(f"  {'scheduling':<17} {r['scheduling_seconds']:8.3f} s")
    lines.append(f"  engine overhead   {100 * r['engine_overhead_fraction']:.1f} % (associate + store + scheduling)")
    if r["encoder_passes_per_frame"] is not None:
        lines.append(f"  encoder passes/frame  shared {r['encoder_passes_per_frame']:.3f}, original "
                     f"{r['encoder_passes_per_frame_original']:.3f}, ratio {r['encoder_pass_ratio']}")
    lines.append(f"  peak RSS          {r['peak_rss_mb']} MB; looped x{r['loops']} ({r['frames_looped']} frames) "
                 f"{r['peak_rss_mb_looped']} MB; rss_ratio_8x {r['rss_ratio_8x']}")
    lines.append(f"  store             {r['store_bytes_per_mask']:.0f} bytes/mask vs dense {r['dense_bytes_per_mask']} "
                 f"(x{r['store_compression']}); {r['store_masks']} masks; tracks.json {r['tracks_json_bytes']} bytes")
    lines.append(f"  result            {r['tracks']} tracks, {r['masks_per_frame']} masks/frame, "
                 f"coverage {r['coverage_mean']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["classic", "sam2"], default="classic")
    ap.add_argument("--video", type=Path, default=None, help=f"input video (default {SAMPLE.name})")
    ap.add_argument("--loops", type=int, default=8, help="the long run plays the video this many times")
    ap.add_argument("--frames", type=int, default=0,
                    help="use only the first N frames (re-encoded), for both runs (default: all)")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP threads of the runs (default: 1 for sam2, whose tiny model loses to thread hand-offs)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--smoke", action="store_true", help="a tiny synthetic clip, 2 loops: seconds, for CI")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    ap.add_argument("--tradeoff", action="store_true",
                    help="instead: time, coverage and tracks for each --budgets and --coverages value")
    ap.add_argument("--budgets", default="5s,15s,30s", help="--time-budget values for --tradeoff")
    ap.add_argument("--coverages", default="1.0,0.98,0.9,0.7", help="--coverage-target values for --tradeoff")
    args = ap.parse_args(argv)
    threads = args.threads if args.threads is not None else (1 if args.backend == "sam2" else 0)
    with tempfile.TemporaryDirectory(prefix="everymask-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        video, loops = args.video or SAMPLE, args.loops
        if args.tradeoff:
            if args.frames:
                video = write_looped(video, work / f"first{args.frames}.mp4", 1, args.frames)
            rows = tradeoff(args.backend, video, work, [v for v in args.budgets.split(",") if v],
                            [v for v in args.coverages.split(",") if v], threads)
            if args.json:
                print(json.dumps(rows, indent=1))
            else:
                print(f"{'flag':<18} {'value':>6} {'seconds':>8} {'coverage':>9} {'min':>6} {'tracks':>7} {'masks/frame':>12}  status")
                for r in rows:
                    print(f"{r['flag']:<18} {r['value']:>6} {r['seconds']:8.2f} {r['coverage_mean']:9.4f} "
                          f"{r['coverage_min']:6.3f} {r['tracks']:7d} {r['masks_per_frame']:12.1f}  {r['status']}")
            return 0
        if args.smoke:
            video, loops = args.video or write_smoke_clip(work / "smoke.mp4"), 2
        result = bench(args.backend, video, loops, threads, work, args.frames)
    result["smoke"] = bool(args.smoke)
    print(json.dumps(result, indent=1) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
