"""cProfile of one run, split into the engine's own code and the backend's.

    python benchmarks/profile_run.py                     # classic on the sample clip
    python benchmarks/profile_run.py --backend sam2      # tiny random SAM 2 checkpoint on CPU
    python benchmarks/profile_run.py --out prof.stats    # keep the raw stats (snakeviz, pstats)

Why: the benchmark says which stage is slow; this says which function, and whether it lives in
the engine/store/export (ours to fix) or in a backend (its owner's).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import SAMPLE, tiny_sam2_checkpoint  # noqa: E402

from everymask.api import segment_video  # noqa: E402
from everymask.config import RunConfig, RuntimeOptions  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["classic", "sam2"], default="classic")
    ap.add_argument("--video", type=Path, default=SAMPLE)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", type=Path, default=None, help="write the raw pstats file here")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="everymask-prof-") as tmp:
        config = RunConfig(backend=args.backend)
        options = RuntimeOptions(progress=False)
        if args.backend == "sam2":
            import torch

            torch.set_num_threads(1)
            config = config.replace(checkpoint=str(tiny_sam2_checkpoint(Path(tmp) / "ckpt")), points_per_side=8,
                                    pred_iou_thresh=0.0, stability_score_thresh=0.0)
            options = RuntimeOptions(progress=False, device="cpu")
        prof = cProfile.Profile()
        prof.enable()
        run = segment_video(args.video, Path(tmp) / "run", config, options=options)
        prof.disable()
        print({k: v for k, v in run.summary()["stage_seconds"].items()})
        run.close()
    if args.out:
        prof.dump_stats(str(args.out))
    for title, key in (("cumulative", "cumulative"), ("own time", "tottime")):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(args.top)
        print(f"== by {title}")
        print("\n".join(line for line in buf.getvalue().splitlines() if line.strip())[-(args.top + 2) * 200:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
