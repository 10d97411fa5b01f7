"""Agreement of everymask's SAM 2 propagation with Meta's `SAM2VideoPredictor`, same weights and frames.

Both sides get identical random SAM 2.1 hiera-tiny weights (the official model built from its
config with a fixed seed, its state dict mapped to the transformers layout by everymask's own
checkpoint converter and loaded strictly),
the same JPEG frames (the official loader reads JPEG folders) and the same seed masks on frame 0.
The official side runs `add_new_mask` per object + `propagate_in_video`; everymask runs its
backend's batched propagator. Printed: mean IoU over objects, per frame.

Needs Meta's `sam2` package, which everymask never depends on: run it from a separate venv that
has `sam2` (1.1.0, installed without its CUDA extension: the hole filling then warns and is
skipped unless `--official-holes` installs the CPU stand-in below), hydra-core, iopath, omegaconf,
and sees torch, transformers and everymask. torchvision is not needed: the two modules that import
it are not used by the video predictor, and are blocked here.

    /work/venv-sam2-prop/bin/python benchmarks/sam2_agreement.py --frames 6 --objects 4
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.modules.setdefault("torchvision", None)  # type: ignore[arg-type]  # never imported by the video path

def cpu_fill_holes() -> None:
    """The official CUDA connected-components kernel's CPU equivalent (8-connectivity labels and
    per-pixel component areas), so the official `fill_holes_in_mask_scores` runs as on a GPU."""
    import cv2
    import sam2.utils.misc as misc

    def get_connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = mask.to(torch.uint8).cpu().numpy()
        labels, counts = np.zeros(m.shape, np.int32), np.zeros(m.shape, np.int32)
        for i in range(m.shape[0]):
            _, lab, stats, _ = cv2.connectedComponentsWithStats(m[i, 0], connectivity=8)
            area = stats[:, cv2.CC_STAT_AREA].copy()
            area[0] = 0
            labels[i, 0], counts[i, 0] = lab, area[lab]
        return torch.from_numpy(labels).to(mask.device), torch.from_numpy(counts).to(mask.device)

    misc.get_connected_components = get_connected_components


def clip(n: int, hw: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n frames of moving textured shapes and their masks on frame 0 (objects x H x W)."""
    rng = np.random.default_rng(seed)
    h, w = hw
    yy, xx = np.mgrid[:h, :w]
    base = (rng.random((h // 8 + 1, w // 8 + 1, 3)) * 120 + 40).repeat(8, 0).repeat(8, 1)[:h, :w]
    shapes = [(0.3, 0.3, 0.18, (230, 50, 40)), (0.65, 0.6, 0.22, (40, 200, 70)),
              (0.3, 0.75, 0.12, (50, 60, 220)), (0.75, 0.25, 0.15, (230, 220, 60))]
    frames = np.empty((n, h, w, 3), np.uint8)
    seeds = []
    for t in range(n):
        img = base.copy()
        for k, (cy, cx, r, color) in enumerate(shapes):
            m = ((yy - (cy + 0.01 * t * (k + 1)) * h) / (r * h)) ** 2 + ((xx - (cx + 0.015 * t) * w) / (r * w * 0.8)) ** 2 < 1
            img[m] = color
            if t == 0:
                seeds.append(m)
        frames[t] = img
    return frames, np.stack(seeds)


def run_official(predictor, folder: Path, seeds: np.ndarray) -> dict[int, np.ndarray]:
    state = predictor.init_state(video_path=str(folder))
    for i, m in enumerate(seeds):
        predictor.add_new_mask(state, frame_idx=0, obj_id=i, mask=m)
    out = {}
    for t, _, logits in predictor.propagate_in_video(state):
        out[t] = (logits[:, 0] > 0).cpu().numpy()
    return out


def run_everymask(model, frames: np.ndarray, seeds: np.ndarray) -> dict[int, np.ndarray]:
    from everymask.backends.sam.backend import make_backend
    from everymask.config import RunConfig, RuntimeOptions
    from everymask.masks import Masks

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import sam_fixtures as F

    b = make_backend(RunConfig(backend="sam2"), RuntimeOptions(device="cpu"), torch.device("cpu"), model, "random")
    masks = Masks.from_dense(seeds, list(range(len(seeds))))
    out = {}
    for t, m in b.propagator.propagate(F.ArraySource(frames), 0, len(frames) - 1, masks):
        dense = np.zeros((len(seeds), *frames.shape[1:3]), bool)
        dense[m.ids] = m.to_dense()
        out[t] = dense
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--objects", type=int, default=4)
    ap.add_argument("--size", default="240x320", help="H x W of the clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="", help="folder to keep the official masks in (.npz), so runs that only "
                    "change everymask skip the official predictor (a few minutes per frame on 2 CPU cores)")
    ap.add_argument("--official-holes", choices=["on", "off"], default="on",
                    help="official fill_hole_area=8 with a CPU stand-in for its CUDA kernel (on), or 0 (off)")
    ap.add_argument("--everymask-resize", choices=["video", "image"], default="video",
                    help="ablation: 'image' makes everymask's propagation resize frames as the image predictor does")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from PIL import Image
    from sam2.build_sam import build_sam2_video_predictor
    from transformers import Sam2VideoModel

    from everymask.backends.sam.convert import to_transformers
    from everymask.backends.sam.models import architecture

    h, w = (int(v) for v in args.size.split("x"))
    frames, seeds = clip(args.frames, (h, w), args.seed)
    seeds = seeds[: args.objects]
    tmp = Path(tempfile.mkdtemp(prefix="sam2-agree-"))
    for t, f in enumerate(frames):
        Image.fromarray(f).save(tmp / f"{t:05d}.jpg", quality=95)
    frames = np.stack([np.asarray(Image.open(tmp / f"{t:05d}.jpg").convert("RGB")) for t in range(len(frames))])

    torch.manual_seed(args.seed)
    overrides = [] if args.official_holes == "on" else ["++model.fill_hole_area=0"]
    if args.official_holes == "on":
        cpu_fill_holes()
    predictor = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu",
                                           hydra_overrides_extra=overrides)
    with torch.no_grad():  # random weights score "no object" half the time: keep objects visible
        predictor.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(5.0)
    model = Sam2VideoModel(architecture("sam2", "tiny"))
    model.load_state_dict(to_transformers(predictor.state_dict(), "sam2"), strict=True)
    model.eval()

    if args.everymask_resize == "image":
        import everymask.backends.sam.propagate as prop
        from everymask.backends.sam.preprocess import sam2_pixels
        prop.sam2_video_pixels = sam2_pixels
    t0 = time.perf_counter()
    cached = Path(args.cache) / f"official-{len(frames)}x{h}x{w}-{len(seeds)}-s{args.seed}-holes{args.official_holes}.npz" \
        if args.cache else None
    if cached is not None and cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            official = {int(k): z[k] for k in z.files}
    else:
        official = run_official(predictor, tmp, seeds)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cached, **{str(t): m for t, m in official.items()})
    t1 = time.perf_counter()
    ours = run_everymask(model, frames, seeds)
    t2 = time.perf_counter()
    print(f"clip {h}x{w}, {len(frames)} frames, {len(seeds)} objects; official {t1 - t0:.1f} s, everymask {t2 - t1:.1f} s")
    worst = 1.0
    for t in sorted(ours):
        a, b = official[t], ours[t]
        inter, union = (a & b).sum((1, 2)), (a | b).sum((1, 2))
        iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        ratio = b.sum() / max(a.sum(), 1)
        worst = min(worst, float(iou.mean()))
        cover = a.reshape(len(a), -1).mean(1)     # a trivial (empty or full-frame) mask agrees by itself
        print(f"frame {t}: mean IoU {iou.mean():.4f}  per object {np.round(iou, 4).tolist()}  area ratio {ratio:.3f}"
              f"  official cover {np.round(cover, 3).tolist()}")
    print(f"worst frame mean IoU {worst:.4f}")


if __name__ == "__main__":
    main()
