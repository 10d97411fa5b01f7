"""Does a run keep one id per thing? Identity figures for any run, the hard scenes or a real clip.

    python benchmarks/identity.py RUN_DIR [--gt GT.json] [--json]        # a finished run (-o dir)
    python benchmarks/identity.py --scenes [NAME ...] [--frames 96] [--backend classic] [--small]
    python benchmarks/identity.py --video [PATH] [--max-side N]          # default: the bundled sample

Figures (issue 11; definitions in identity_metrics.py): near-copy share (masks with another id's
mask of IoU > 0.95 / 0.9 on the same frame), median track length and share of tracks seen on
<= 10 frames, masks per frame, re-find rate (key frame k's masks carried to the next key frame
that the generator finds again there, IoU >= match_iou / 0.5, from the store's masks table),
and with ground truth mSTIoU / frag / idsw per level (../shared/eval/score.py) and part-of
accuracy. The drivers also print frames per second end to end and the process CPU seconds
(all threads; steadier than wall time on a shared machine).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_synthetic import load_scorer  # noqa: E402
from everymask.store import FORWARD, GENERATED, RunStore  # noqa: E402
from identity_metrics import (best_pred_from_scores, frames_of_tracks, group_rows, key_frames,  # noqa: E402
                              masks_per_frame, near_copy_shares, part_of_accuracy, refind, track_length_stats)

SAMPLE = ROOT / "everymask/data/sample.mp4"
PID_BASE = 100_000                  # a generated mask's pid is frame * PID_BASE + rank (engine/schedule.py)
ROWS = (  # (key, label, format) in the order printed
    ("mSTIoU_object", "mSTIoU object", ".3f"), ("mSTIoU_part", "mSTIoU part", ".3f"),
    ("mSTIoU_all", "mSTIoU all", ".3f"), ("frag_object", "frag object", ".2f"), ("frag_part", "frag part", ".2f"),
    ("frag_all", "frag all", ".2f"), ("idsw_all", "idsw all", "d"),
    ("fIoU_object", "fIoU object (per frame, no ids)", ".3f"), ("fIoU_part", "fIoU part (per frame, no ids)", ".3f"),
    ("fR@0.5_all", "GT frames matched at IoU 0.5 (frag counts only these)", ".3f"),
    ("part_of", "part-of right", ".3f"), ("part_of_lenient", "part-of right (ancestor)", ".3f"),
    ("part_of_counts", "part-of right / lenient / parts", "s"),
    ("near_copy_95", "near copies IoU>0.95", ".3f"), ("near_copy_90", "near copies IoU>0.9", ".3f"),
    ("median_length", "median track length (frames)", ".1f"), ("short_share", "tracks of <= 10 frames", ".3f"),
    ("masks_per_frame", "masks/frame mean", ".1f"), ("masks_per_frame_max", "masks/frame max", "d"),
    ("refind", "re-find at match_iou", ".3f"), ("refind_50", "re-find at 0.5", ".3f"),
    ("refind_arrived", "carried to next key / generated", "s"),
    ("tracks", "tracks", "d"), ("frames", "frames", "d"), ("fps", "frames/s end to end", ".2f"),
    ("cpu_s", "process CPU s", ".1f"), ("wall_s", "wall s", ".1f"), ("load", "load average (1 min) before / after", "s"))


def store_refind(store_path: Path) -> dict:
    """Re-find figures from a run's store: generated masks and forward arrivals at key frames (read
    through `RunStore`, which knows how the masks are encoded)."""
    store = RunStore(store_path, readonly=True)
    try:
        state = store.state()
        config = json.loads(state.config)
        size, n = state.size, state.num_frames
        keys = key_frames(n, int(config["step"]))
        prev = dict(zip(keys[1:], keys))
        gen = [(k, pid, rle["counts"]) for k in keys
               for pid, rle in zip(store.frame_masks(k, size, GENERATED).ids.tolist(),
                                   store.frame_masks(k, size, GENERATED).rles) if pid // PID_BASE == k]
        fwd = [(k, pid, rle["counts"]) for k in keys[1:]
               for pid, rle in zip(store.frame_masks(k, size, FORWARD).ids.tolist(),
                                   store.frame_masks(k, size, FORWARD).rles) if pid // PID_BASE == prev[k]]
    finally:
        store.close()
    match_iou = float(config.get("match_iou", 0.8))
    res = refind(group_rows(gen, size), group_rows(fwd, size), keys, (match_iou, 0.5))
    res["match_iou"] = match_iou
    return res


def measure_run(run_dir: str | Path, gt: str | Path | None = None) -> dict:
    """Every identity figure of a finished run directory (and its ground truth, when given)."""
    run_dir = Path(run_dir)
    tracks = json.loads((run_dir / "tracks.json").read_text())
    frames = frames_of_tracks(tracks)
    copies = near_copy_shares(frames, (0.95, 0.9))
    lengths = track_length_stats(tracks)
    mpf = masks_per_frame(frames)
    rf = store_refind(run_dir / "everymask.sqlite")
    out = {"tracks": lengths["tracks"], "frames": len(frames), "near_copy_95": copies[0.95],
           "near_copy_90": copies[0.9], "median_length": lengths["median_length"],
           "short_share": lengths["short_share"], "masks_per_frame": mpf["mean"], "masks_per_frame_max": mpf["max"],
           "refind": rf["rate"][rf["match_iou"]], "refind_50": rf["rate"][0.5], "match_iou": rf["match_iou"],
           "refind_arrived": f"{rf['arrived']} / {rf['generated']}"}
    if gt is not None:
        out.update(score_against(gt, run_dir / "tracks.json", tracks))
    return out


def score_against(gt_path: str | Path, pred_path: Path, pred_tracks: list[dict]) -> dict:
    """mSTIoU / frag / idsw per level from the shared scorer, and part-of accuracy."""
    res = load_scorer().score(str(gt_path), str(pred_path))
    out = {}
    for level in ("object", "part", "all"):
        for m in ("mSTIoU", "frag", "idsw", "fIoU", "fR@0.5"):
            out[f"{m}_{level}"] = res[level][m]
    gt = json.loads(Path(gt_path).read_text())
    acc = part_of_accuracy({g["track_id"]: g.get("parent") for g in gt},
                           {g["track_id"]: g.get("level", "object") for g in gt},
                           best_pred_from_scores(res["per_track"]),
                           {p["track_id"]: p.get("parent") for p in pred_tracks})
    out.update(part_of=acc["share"], part_of_lenient=acc["lenient_share"],
               part_of_counts=f"{acc['right']} / {acc['lenient']} / {acc['total']}")
    return out


def run_everymask(source, out: Path, backend: str, max_side: int = 0, overrides: dict | None = None) -> dict:
    """Run everymask fresh into `out` -> wall seconds, process CPU seconds, load average before / after."""
    from everymask import RunConfig
    from everymask.api import segment_video
    from everymask.config import RuntimeOptions
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    run = segment_video(source, out, RunConfig(backend=backend, max_side=max_side, **(overrides or {})),
                        options=RuntimeOptions(progress=False), fresh=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    run.close()
    return {"wall_s": wall, "cpu_s": cpu, "load": f"{load:.1f} / {os.getloadavg()[0]:.1f}"}


def _fmt(v, f: str) -> str:
    if v is None:
        return "-"
    if f == "d" and not isinstance(v, int):
        f = ".1f"                                   # a mean of counts
    return v if f == "s" else format(v, f)


def print_table(columns: dict[str, dict]) -> None:
    """Markdown table: one row per figure, one column per run."""
    names = list(columns)
    print("| figure | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for key, label, f in ROWS:
        if any(key in c for c in columns.values()):
            print(f"| {label} | " + " | ".join(_fmt(columns[n].get(key), f) for n in names) + " |")


def mean_column(rows: list[dict]) -> dict:
    out = {}
    for key, _, f in ROWS:
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        if vals and f != "s":
            out[key] = sum(vals) / len(vals)
    return out


def parse_setting(text: str) -> tuple[str, object]:
    """"max_masks=432" -> ("max_masks", 432): the value as JSON when it parses, else as a string."""
    key, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--set {text!r}: write KEY=VALUE, e.g. --set max_masks=432")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", nargs="?", help="a finished run directory (everymask's -o dir)")
    ap.add_argument("--gt", help="ground truth (YouTube-VIS list with level and parent) for RUN")
    ap.add_argument("--scenes", nargs="*", help="run everymask on these hard scenes (none named: all)")
    ap.add_argument("--video", nargs="?", const=str(SAMPLE), help="run everymask on a clip (default: the sample)")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--small", action="store_true", help="the small scenes (32 frames of 96 x 160)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="classic")
    ap.add_argument("--max-side", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a RunConfig field for the runs, e.g. --set max_masks=432 (repeatable)")
    ap.add_argument("--out", help="where runs go (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    if sum(x is not None for x in (args.run, args.scenes, args.video)) != 1:
        ap.error("give exactly one of RUN, --scenes or --video")
    out_root = Path(args.out or tempfile.mkdtemp(prefix="identity-"))
    overrides = dict(parse_setting(s) for s in args.set)
    if args.run:
        result = measure_run(args.run, args.gt)
        columns = {Path(args.run).name or args.run: result}
    elif args.video is not None:
        out = out_root / Path(args.video).stem
        timing = run_everymask(args.video, out, args.backend, args.max_side, overrides)
        result = measure_run(out)
        result.update(timing, fps=result["frames"] / timing["wall_s"])
        columns = {Path(args.video).name: result}
    else:
        from everymask.testing.hard_scenes import PRESETS, make_hard_scene
        columns = {}
        for name in args.scenes or PRESETS:
            scene = make_hard_scene(name, seed=args.seed, num_frames=args.frames, small=args.small)
            gt = out_root / f"{name}.gt.json"
            gt.parent.mkdir(parents=True, exist_ok=True)
            gt.write_text(json.dumps(scene.to_ytvis()))
            timing = run_everymask(scene.source(), out_root / name, args.backend, overrides=overrides)
            columns[name] = measure_run(out_root / name, gt)
            columns[name].update(timing, fps=len(scene.frames) / timing["wall_s"])
            print(f"{name}: {timing['wall_s']:.1f} s wall, {timing['cpu_s']:.1f} s CPU, load {timing['load']}",
                  file=sys.stderr, flush=True)
        columns["mean"] = mean_column(list(columns.values()))
        result = columns
    if args.json:
        print(json.dumps(result))
    else:
        print(f"runs in {out_root}" if not args.run else f"run {args.run}")
        print_table(columns)


if __name__ == "__main__":
    main()
