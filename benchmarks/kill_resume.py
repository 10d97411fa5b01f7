"""Kill a run at random moments, resume it, and check the result is the uninterrupted one.

    python benchmarks/kill_resume.py --runs 20 VIDEO [--signal KILL|INT] [-- extra run flags]

Prints, per cycle, when the kill landed and whether the resumed tracks.json is byte-identical to
the reference, then how many cycles matched and the work redone after each resume (seconds of
the resumed run beyond what the remaining work needed, as a fraction of the reference run).
"""
from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def everymask_cmd(video: str, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "everymask.cli", "run", video, "-o", str(out), "--quiet", *extra]


def timed_run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("video")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--signal", choices=["KILL", "INT"], default="KILL")
    ap.add_argument("extra", nargs="*", help="flags passed to everymask run (after --)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="everymask-kill-"))
    try:
        ref_dir = work / "ref"
        ref_seconds = timed_run(everymask_cmd(args.video, ref_dir, args.extra))
        reference = (ref_dir / "tracks.json").read_bytes()
        print(f"reference run: {ref_seconds:.1f}s")
        same, redone = 0, []
        for n in range(args.runs):
            out = work / f"run{n}"
            at = rng.uniform(0.05, 1.0) * ref_seconds
            proc = subprocess.Popen(everymask_cmd(args.video, out, args.extra), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                proc.wait(timeout=at)
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(getattr(signal, "SIG" + args.signal))
                proc.wait()
                killed = True
            resume_seconds = timed_run(everymask_cmd(args.video, out, args.extra))
            identical = (out / "tracks.json").read_bytes() == reference
            same += identical
            # work redone: the resumed run took longer than the part of the run the kill left undone
            lost = max(0.0, at + resume_seconds - ref_seconds) / ref_seconds if killed else 0.0
            redone.append(lost)
            print(f"cycle {n + 1:2d}: {'killed' if killed else 'finished'} at {at:5.1f}s, "
                  f"resume {resume_seconds:5.1f}s, identical={identical}, redone {100 * lost:.0f}% of a run")
            shutil.rmtree(out)
        print(f"{same}/{args.runs} identical to the uninterrupted run; "
              f"work redone per resume: mean {100 * sum(redone) / len(redone):.0f}%, max {100 * max(redone):.0f}% "
              "of a run (includes start-up, finalize and export, which every resume redoes)")
        return 0 if same == args.runs else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
