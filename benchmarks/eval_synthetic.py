"""Run every synthetic scene through the whole pipeline and score it against its ground truth.

    .venv/bin/python benchmarks/eval_synthetic.py [--backend classic] [--frames 40] [--out runs/eval]

Prints one row per scene (mSTIoU object / part / all, frag, masks per frame, frames per second
end to end, wall clock) and CPU milliseconds per frame (this process, all threads: stable when
other jobs share the machine, unlike the wall clock), and the mean, using the project's scorer (`eval/score.py`, found in ../shared or
next to the repository) when it is there, else the same metrics from `score_tracks` below.
Why a script and not a test: it takes a minute and its output is a table for RESULTS.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from everymask import RunConfig  # noqa: E402
from everymask.api import segment_video  # noqa: E402
from everymask.config import RuntimeOptions  # noqa: E402
from everymask.testing.synthetic import SCENES, ArraySource, make_scene  # noqa: E402


def load_scorer():
    """The shared scorer module (score.score(gt_path, pred_path) -> dict)."""
    for p in (ROOT.parent / "shared/eval/score.py", ROOT / "eval/score.py", Path("/work/shared/eval/score.py")):
        if p.exists():
            spec = importlib.util.spec_from_file_location("everymask_score", p)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)  # a module import, as `import score` would do
            return mod
    raise SystemExit("eval/score.py not found: pass --scorer PATH")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="classic")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenes", nargs="*", default=list(SCENES))
    ap.add_argument("--out", default=str(ROOT / "runs/eval_synthetic"))
    ap.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = ap.parse_args()
    scorer = load_scorer()
    rows = []
    for name in args.scenes:
        scene = make_scene(name, num_frames=args.frames, seed=args.seed)
        out = Path(args.out) / name
        gt = Path(args.out) / f"{name}.gt.json"
        gt.parent.mkdir(parents=True, exist_ok=True)
        gt.write_text(json.dumps(scene.to_ytvis()))
        t0, c0 = time.perf_counter(), time.process_time()
        run = segment_video(ArraySource(scene.frames, path=f"synthetic:{name}"), out,
                            RunConfig(backend=args.backend), options=RuntimeOptions(progress=False), fresh=True)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        run.close()
        res = scorer.score(str(gt), str(out / "tracks.json"))
        rows.append({"scene": name, "object": res["object"]["mSTIoU"], "part": res["part"]["mSTIoU"],
                     "all": res["all"]["mSTIoU"], "frag": res["all"]["frag"], "fIoU": res["all"]["fIoU"],
                     "masks_per_frame": res["masks_per_frame"], "tracks": res["n_pred"],
                     "fps": len(scene.frames) / seconds, "cpu_ms": 1000 * cpu / len(scene.frames)})
    keys = ("object", "part", "all", "frag", "fIoU", "masks_per_frame", "tracks", "fps", "cpu_ms")
    print(f"{'scene':<12}" + "".join(f"{k:>16}" for k in keys))
    for r in rows:
        print(f"{r['scene']:<12}" + "".join(f"{r[k]:>16.3f}" if r[k] is not None else f"{'-':>16}" for k in keys))
    mean = {k: sum(r[k] or 0 for r in rows) / len(rows) for k in keys}
    print(f"{'mean':<12}" + "".join(f"{mean[k]:>16.3f}" for k in keys))
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
