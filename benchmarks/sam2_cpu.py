"""CPU (or GPU) timing of the sam2 backend with random weights: no checkpoint needed.

Random weights have the real architecture and so the real cost; only the masks are meaningless.
Prints, per model:
- encoder ms/frame (SAM 2 image encoder, warm);
- propagation ms/frame per 100 masks (memory attention + decoder + memory encoder, features cached);
- generator ms/key frame (grid of points, features cached);
- encoder passes per frame for `--schedule shared` and `--schedule original` on the same clip,
  calling the backend in the engine's order (generate k1, forward k0->k1, backward k1->k0).

    python benchmarks/sam2_cpu.py                       # tiny test-size model, 16 frames
    python benchmarks/sam2_cpu.py --model large --frames 2 --masks 8 --points 4
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import sam_fixtures as F  # noqa: E402

from everymask.backends.sam.backend import make_backend  # noqa: E402
from everymask.backends.sam.models import architecture, pick_device  # noqa: E402
from everymask.config import RunConfig, RuntimeOptions  # noqa: E402
from everymask.masks import Masks  # noqa: E402


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
    h, w = hw
    dense = np.zeros((n, h, w), bool)
    for i in range(n):
        y, x = rng.integers(0, h - h // 4), rng.integers(0, w - w // 4)
        dense[i, y:y + h // 4 + i % 7, x:x + w // 4] = True
    return Masks.from_dense(dense, range(n))


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
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    h, w = (int(v) for v in args.size.split("x"))
    src = F.ArraySource(F.clip(args.frames, size=(h, w)))
    t0 = time.perf_counter()
    model = build(args.model, device)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model {args.model}: {params:.1f} M parameters, image {model.config.image_size}, built in "
          f"{time.perf_counter() - t0:.1f} s; device {device}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")

    cfg = RunConfig(backend="sam2", points_per_side=args.points, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    opts = RuntimeOptions(device=str(device), feature_cache_mb=8192)
    b = make_backend(cfg, opts, device, model, args.model)
    feats = b.propagator.inner.features
    t0 = time.perf_counter()
    for t in range(len(src)):
        feats(t, lambda t=t: src.frame(t))
    enc = (time.perf_counter() - t0) / len(src)
    print(f"encoder: {enc * 1e3:.0f} ms/frame ({len(src)} frames, {h}x{w} input)")

    t0 = time.perf_counter()
    n_prop = 0
    for _ in b.propagator.propagate(src, 0, len(src) - 1, seeds(args.masks, (h, w), np.random.default_rng(1))):
        n_prop += 1
    prop = (time.perf_counter() - t0) / max(1, n_prop + 1)  # +1: the conditioning step on the seed frame
    print(f"propagation: {prop * 1e3:.0f} ms/frame for {args.masks} masks = "
          f"{prop * 1e3 * 100 / args.masks:.0f} ms/frame per 100 masks (features cached)")

    t0 = time.perf_counter()
    got = b.generator.generate(0, src.frame(0))
    print(f"generator: {(time.perf_counter() - t0) * 1e3:.0f} ms/key frame, {args.points}x{args.points} points "
          f"(features cached), {len(got)} masks")

    if args.schedules:
        for schedule in ("shared", "original"):
            bb = make_backend(cfg.replace(schedule=schedule), opts, device, model, args.model)
            t0 = time.perf_counter()
            engine_order(bb, src, 5, min(args.masks, 10))
            st = bb.stats()
            print(f"schedule {schedule:8}: encoder passes/frame {st['encoder_passes_per_frame']:.2f} "
                  f"({st['sam2_encoder']['encodes']} encodes, {st['sam2_encoder']['frames_encoded']} frames), "
                  f"{(time.perf_counter() - t0) / len(src) * 1e3:.0f} ms/frame end to end")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
