"""Agreement of everymask's mask generator with Meta's `SAM2AutomaticMaskGenerator` (sam2 1.1.0), same
random SAM 2.1 hiera-tiny weights, with `use_m2m` and `min_mask_region_area` (issue 12).

Run from the venv that `benchmarks/sam2_agreement.py` describes (Meta's `sam2` without its CUDA
extension; its connected components by that script's CPU stand-in). torchvision is stubbed: its NMS
by everymask's (the same greedy rule), Resize/Normalize/ToTensor by the same operations in torch.
Random weights keep few masks after NMS; `--nms 1.0` keeps every candidate.

    PYTHONPATH=. /work/venv-sam2-prop/bin/python benchmarks/sam2_amg_agreement.py --points 8 --nms 1.0
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from everymask.backends.sam import amg_ops as ops


class Resize(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = [int(size[0]), int(size[1])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x[None], size=self.size, mode="bilinear", align_corners=False, antialias=True)[0]


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return (x - m) / s


class ToTensor:
    def __call__(self, x):
        return torch.from_numpy(np.ascontiguousarray(np.asarray(x))).permute(2, 0, 1).float() / 255.0


def stub_torchvision() -> None:
    tv = types.ModuleType("torchvision")
    tv_ops = types.ModuleType("torchvision.ops")
    boxes = types.ModuleType("torchvision.ops.boxes")
    boxes.batched_nms = lambda b, s, i, iou_threshold: ops.batched_nms(b, s, i, iou_threshold)
    boxes.box_area = lambda b: (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    tr = types.ModuleType("torchvision.transforms")
    tr.Resize, tr.Normalize, tr.ToTensor = Resize, Normalize, ToTensor
    tv.ops, tv_ops.boxes, tv.transforms = tv_ops, boxes, tr
    sys.modules.update({"torchvision": tv, "torchvision.ops": tv_ops, "torchvision.ops.boxes": boxes,
                        "torchvision.transforms": tr})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--area", type=int, default=25)
    ap.add_argument("--m2m", type=int, default=1)
    ap.add_argument("--pred", type=float, default=0.0)
    ap.add_argument("--stab", type=float, default=0.0)
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--nms", type=float, default=0.7)
    args = ap.parse_args()
    torch.set_num_threads(2)
    from transformers import Sam2VideoModel  # before the stub: transformers probes for torchvision

    from everymask.backends.sam.backend import make_backend
    from everymask.backends.sam.models import architecture
    from everymask.config import RunConfig, RuntimeOptions
    stub_torchvision()
    spec = importlib.util.spec_from_file_location("agree", str(Path(__file__).with_name("sam2_agreement.py")))
    agree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(agree)
    agree.cpu_fill_holes()
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2

    h, w = (int(v) for v in args.size.split("x"))
    frames, _ = agree.clip(1, (h, w), 0)
    image = frames[0]
    torch.manual_seed(0)
    sam = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu")
    model = Sam2VideoModel(architecture("sam2", "tiny"))
    from everymask.backends.sam.convert import to_transformers
    model.load_state_dict(to_transformers(sam.state_dict(), "sam2"), strict=True)
    model.eval()
    kw = dict(points_per_side=args.points, pred_iou_thresh=args.pred, stability_score_thresh=args.stab,
              min_mask_region_area=args.area, box_nms_thresh=args.nms)
    t0 = time.perf_counter()
    official = SAM2AutomaticMaskGenerator(sam, use_m2m=bool(args.m2m), **kw).generate(image)
    t1 = time.perf_counter()
    b = make_backend(RunConfig(backend="sam2", use_m2m=bool(args.m2m), **kw), RuntimeOptions(device="cpu"),
                     torch.device("cpu"), model, "random")
    ours = b.generator.generate(0, image)
    t2 = time.perf_counter()
    a = np.stack([m["segmentation"] for m in official]) if official else np.zeros((0, h, w), bool)
    o = ours.to_dense() if len(ours) else np.zeros((0, h, w), bool)
    print(f"{h}x{w}, {args.points}^2 points, m2m {args.m2m}, min_mask_region_area {args.area}, pred {args.pred}, "
          f"stab {args.stab}, nms {args.nms}: official {len(a)} masks ({t1 - t0:.0f} s), everymask {len(o)} masks ({t2 - t1:.0f} s)")
    if len(a) and len(o):
        inter = np.einsum("ihw,jhw->ij", a.astype(np.float32), o.astype(np.float32))
        union = a.sum((1, 2))[:, None] + o.sum((1, 2))[None] - inter
        iou = inter / np.maximum(union, 1)
        best = iou.max(1)
        same_order = [float(iou[i, i]) for i in range(min(len(a), len(o)))]
        print(f"official masks matched at IoU 1.0: {(best >= 1.0).sum()} of {len(a)}; >= 0.99: {(best >= 0.99).sum()}; "
              f"min best IoU {best.min():.4f}; same position IoU min {min(same_order):.4f}")
        po, pe = np.array([m["predicted_iou"] for m in official]), ours.scores
        n = min(len(po), len(pe))
        print(f"predicted IoU, same position: max abs diff {np.abs(po[:n] - pe[:n]).max():.2e}")


if __name__ == "__main__":
    main()
