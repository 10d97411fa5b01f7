"""CPU (or GPU) timing of the sam2 backend with random weights: no checkpoint needed.

Random weights have the real architecture and so the real cost; only the masks are meaningless.
Prints, per model:
- encoder ms/frame (SAM 2 image encoder, warm);
- propagation ms/frame per 100 masks (memory attention + decoder + memory encoder, features cached);
- generator ms/key frame (grid of points, features cached);
- encoder passes per frame for `--schedule shared` and `--schedule original` on the same clip,
  calling the backend in the engine's order (generate k1, forward k0->k1, backward k1->k0);
- with `--rss 240x426,720x1280` (instead of the above): peak RSS of the generator and of propagation, each in a fresh
  process per frame size (peak RSS only grows), against the same process before that stage.

The generator runs with its filters off (`pred_iou_thresh = stability_score_thresh = 0`) unless
`--filters` is given: random weights make the predicted IoUs and stabilities meaningless, and with
the filters off every candidate mask is upsampled and NMS'd, the most work a real model can cause.

    python benchmarks/sam2_cpu.py                       # tiny test-size model, 16 frames
    python benchmarks/sam2_cpu.py --model large --frames 2 --masks 8 --points 4
    python benchmarks/sam2_cpu.py --model tiny --threads 2 --frames 3 --masks 144 --points 32 --size 720x1280 \
        --schedules --rss 240x426,720x1280      # issue 12's figures
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import sam_fixtures as F  # noqa: E402

from everymask.backends.sam.backend import make_backend  # noqa: E402
from everymask.backends.sam.propagate import source_key  # noqa: E402
from everymask.backends.sam.models import architecture, pick_device  # noqa: E402
from everymask.config import RunConfig, RuntimeOptions  # noqa: E402
from everymask.masks import Masks, encode  # noqa: E402


def build(model: str, device: torch.device) -> torch.nn.Module:
    from transformers import Sam2VideoModel

    if model == "test-tiny":
        return F.build("sam2").to(device)
    torch.manual_seed(0)
    m = Sam2VideoModel(architecture("sam2", model)).eval().to(device)
    with torch.no_grad():  # keep random objects "visible" so tracking does full work
        m.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(5.0)
    return m


def seeds(n: int, hw: tuple[int, int], rng: np.random.Generator) -> Masks:
    """n rectangles, encoded one at a time (an n x H x W stack would itself be 130 MB at 720p x 144)."""
    h, w = hw
    rles = []
    for i in range(n):
        one = np.zeros((h, w), bool)
        y, x = rng.integers(0, h - h // 4), rng.integers(0, w - w // 4)
        one[y:y + h // 4 + i % 7, x:x + w // 4] = True
        rles += encode(one)
    return Masks(size=(h, w), ids=np.arange(n), rles=rles, scores=np.ones(n))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def run_config(args: argparse.Namespace) -> RunConfig:
    gen = {} if args.filters else dict(pred_iou_thresh=0.0, stability_score_thresh=0.0)
    return RunConfig(backend="sam2", points_per_side=args.points, use_m2m=args.use_m2m,
                     min_mask_region_area=args.min_mask_region_area, **gen)


def rss_child(args: argparse.Namespace, device: torch.device) -> None:
    """One stage at one size in this (fresh) process: peak RSS before and after it, as JSON."""
    h, w = (int(v) for v in args.size.split("x"))
    src = F.ArraySource(F.clip(args.frames, size=(h, w)))
    b = make_backend(run_config(args), RuntimeOptions(device=str(device), feature_cache_mb=8192), device,
                     build(args.model, device), args.model)
    feats = b.propagator.inner.features
    out: dict = {"size": args.size, "stage": args.rss_child}
    if args.rss_child == "generate":
        feats(0, lambda: src.frame(0))
        out["before_mb"] = peak_rss_mb()
        out["masks"] = len(b.generator.generate(0, src.frame(0)))
    else:
        for t in range(len(src)):
            feats(t, lambda t=t: src.frame(t))
        s = seeds(args.masks, (h, w), np.random.default_rng(1))
        out["before_mb"] = peak_rss_mb()
        out["frames"] = sum(1 for _ in b.propagator.propagate(src, 0, len(src) - 1, s))
    out["peak_mb"] = peak_rss_mb()
    print("RSS " + json.dumps(out))


def rss_report(args: argparse.Namespace) -> None:
    """Each (size, stage) in a fresh process; the ratio of the largest size's peak to the smallest's."""
    sizes = args.rss.split(",")
    rows: dict = {}
    for stage in args.rss_stages.split(","):
        for size in sizes:
            cmd = [sys.executable, __file__, "--model", args.model, "--frames", str(args.frames), "--size", size,
                   "--masks", str(args.masks), "--points", str(args.points), "--device", args.device,
                   "--threads", str(args.threads), "--min-mask-region-area", str(args.min_mask_region_area),
                   "--rss-child", stage] + (["--use-m2m"] if args.use_m2m else []) + \
                  (["--filters"] if args.filters else [])
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            got = json.loads(next(line for line in out.splitlines() if line.startswith("RSS "))[4:])
            rows[stage, size] = got
            print(f"peak RSS {stage:9} {size:>9}: {got['before_mb']:.0f} MB before the stage, {got['peak_mb']:.0f} MB "
                  f"after ({got.get('masks', got.get('frames'))} {'masks' if stage == 'generate' else 'frames'}, "
                  f"{time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f})")
        lo, hi = rows[stage, sizes[0]]["peak_mb"], rows[stage, sizes[-1]]["peak_mb"]
        print(f"peak RSS {stage}: {sizes[-1]} / {sizes[0]} = {hi / lo:.2f}")


def engine_order(backend, source: F.ArraySource, step: int, n_seeds: int) -> None:
    keys = list(range(0, len(source), step))
    if keys[-1] != len(source) - 1:
        keys.append(len(source) - 1)
    rng = np.random.default_rng(0)
    backend.generator.generate(keys[0], source.frame(keys[0]))
    for k0, k1 in zip(keys, keys[1:]):
        backend.generator.generate(k1, source.frame(k1))
        for a, b in ((k0, k1), (k1, k0)):
            for _ in backend.propagator.propagate(source, a, b, seeds(n_seeds, source.size, rng)):
                pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="test-tiny", help="test-tiny | tiny | small | base-plus | large")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", default="480x640", help="frame HxW")
    ap.add_argument("--masks", type=int, default=100, help="seeds propagated in the timing pass")
    ap.add_argument("--points", type=int, default=8, help="points per side for the generator")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--schedules", action="store_true", help="also count encoder passes for both schedules")
    ap.add_argument("--use-m2m", action="store_true", help="generator: SAM 2's mask-to-mask refinement")
    ap.add_argument("--min-mask-region-area", type=int, default=0, help="generator: low-res small-region clean-up")
    ap.add_argument("--filters", action="store_true", help="generator: default IoU/stability filters (else off)")
    ap.add_argument("--rss", default="", help="comma-separated HxW sizes: peak RSS per stage, a process each")
    ap.add_argument("--rss-stages", default="generate,propagate", help="the stages --rss measures")
    ap.add_argument("--rss-child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.rss_child:
        return rss_child(args, device)
    if args.rss:
        return rss_report(args)
    h, w = (int(v) for v in args.size.split("x"))
    src = F.ArraySource(F.clip(args.frames, size=(h, w)))
    t0 = time.perf_counter()
    model = build(args.model, device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model {args.model}: {params:.1f} M parameters, image {model.config.image_size}, built in "
          f"{time.perf_counter() - t0:.1f} s; device {device}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")

    cfg = run_config(args)
    opts = RuntimeOptions(device=str(device), feature_cache_mb=8192)
    b = make_backend(cfg, opts, device, model, args.model)
    feats = b.propagator.inner.features
    t0, c0 = time.perf_counter(), time.process_time()
    key = source_key(src)
    for t in range(len(src)):
        feats(key, t, lambda t=t: src.frame(t))
    enc = (time.perf_counter() - t0) / len(src)
    print(f"encoder: {enc * 1e3:.0f} ms/frame ({(time.process_time() - c0) / len(src):.1f} CPU s) ({len(src)} frames, "
          f"{h}x{w} input), load average {os.getloadavg()[0]:.1f}")

    t0, c0 = time.perf_counter(), time.process_time()
    n_prop = 0
    for _ in b.propagator.propagate(src, 0, len(src) - 1, seeds(args.masks, (h, w), np.random.default_rng(1))):
        n_prop += 1
    prop = (time.perf_counter() - t0) / max(1, n_prop + 1)  # +1: the conditioning step on the seed frame
    cpu = (time.process_time() - c0) / max(1, n_prop + 1)
    print(f"propagation: {prop * 1e3:.0f} ms/frame ({cpu:.1f} CPU s) for {args.masks} masks = "
          f"{prop * 1e3 * 100 / args.masks:.0f} ms/frame per 100 masks (features cached), "
          f"load average {os.getloadavg()[0]:.1f}")

    t0, c0 = time.perf_counter(), time.process_time()
    got = b.generator.generate(0, src.frame(0))
    print(f"generator: {(time.perf_counter() - t0) * 1e3:.0f} ms/key frame ({time.process_time() - c0:.1f} CPU s), "
          f"{args.points}x{args.points} points "
          f"(features cached{', m2m' if args.use_m2m else ''}), {len(got)} masks after NMS (the engine keeps the "
          f"largest {RunConfig().max_masks}), load average {os.getloadavg()[0]:.1f}")

    if args.schedules:
        for schedule in ("shared", "original"):
            bb = make_backend(cfg.replace(schedule=schedule), opts, device, model, args.model)
            t0 = time.perf_counter()
            engine_order(bb, src, 5, min(args.masks, 10))
            st = bb.stats()
            print(f"schedule {schedule:8}: encoder passes/frame {st['encoder_passes_per_frame']:.2f} "
                  f"({st['sam2_encoder']['encodes']} encodes, {st['sam2_encoder']['frames_encoded']} frames), "
                  f"{(time.perf_counter() - t0) / len(src) * 1e3:.0f} ms/frame end to end, "
                  f"load average {os.getloadavg()[0]:.1f}")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
