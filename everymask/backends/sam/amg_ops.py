"""Small pure helpers of the automatic mask generator: point grids, crop boxes, stability score,
boxes of masks, batched NMS and small-region clean-up. Same names and semantics as SAM's
`utils/amg.py`, in plain torch / numpy (no torchvision), each tested on its own.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from .holes import small_components


def point_grid(n_per_side: int) -> np.ndarray:
    """n^2 x 2 (x, y) cell centres of an n x n grid over [0, 1]^2."""
    offset = 1 / (2 * n_per_side)
    side = np.linspace(offset, 1 - offset, n_per_side)
    xs, ys = np.meshgrid(side, side)
    return np.stack([xs.reshape(-1), ys.reshape(-1)], axis=-1)


def layer_point_grids(n_per_side: int, n_layers: int, downscale: int) -> list[np.ndarray]:
    """One grid per crop layer, `downscale`^i times sparser on layer i (crops are smaller)."""
    return [point_grid(max(1, int(n_per_side / downscale ** i))) for i in range(n_layers + 1)]


def crop_boxes(hw: tuple[int, int], n_layers: int, overlap_ratio: float) -> tuple[list[list[int]], list[int]]:
    """The full frame, then 2^i x 2^i overlapping crops on layer i, as x0, y0, x1, y1 (SAM's layout)."""
    h, w = hw
    short = min(h, w)
    boxes, layers = [[0, 0, w, h]], [0]
    for i in range(1, n_layers + 1):
        per_side = 2 ** i
        overlap = int(overlap_ratio * short * (2 / per_side))
        cw = int(math.ceil((overlap * (per_side - 1) + w) / per_side))
        ch = int(math.ceil((overlap * (per_side - 1) + h) / per_side))
        for x0 in [int((cw - overlap) * k) for k in range(per_side)]:
            for y0 in [int((ch - overlap) * k) for k in range(per_side)]:
                boxes.append([x0, y0, min(x0 + cw, w), min(y0 + ch, h)])
                layers.append(i)
    return boxes, layers


def stability_score(logits: torch.Tensor, threshold: float, offset: float) -> torch.Tensor:
    """IoU of the masks thresholded at threshold +- offset: high when the mask edge is sharp."""
    inter = (logits > threshold + offset).flatten(1).sum(-1, dtype=torch.int32)
    union = (logits > threshold - offset).flatten(1).sum(-1, dtype=torch.int32)
    return torch.where(union > 0, inter.float() / union.clamp(min=1).float(), torch.zeros_like(inter, dtype=torch.float))


def mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """N x H x W bool -> N x 4 (x0, y0, x1, y1) with inclusive max indices; empty masks -> zeros."""
    if masks.numel() == 0:
        return torch.zeros(masks.shape[0], 4, device=masks.device)
    n, h, w = masks.shape
    rows, cols = masks.any(2), masks.any(1)
    ar_h = torch.arange(h, device=masks.device)[None]
    ar_w = torch.arange(w, device=masks.device)[None]
    y1 = torch.where(rows, ar_h, -1).max(1).values
    y0 = torch.where(rows, ar_h, h).min(1).values
    x1 = torch.where(cols, ar_w, -1).max(1).values
    x0 = torch.where(cols, ar_w, w).min(1).values
    box = torch.stack([x0, y0, x1, y1], 1).float()
    empty = (x1 < x0) | (y1 < y0)
    return torch.where(empty[:, None], torch.zeros_like(box), box)


def near_crop_edge(boxes: torch.Tensor, crop: list[int], frame: list[int], atol: float = 20.0) -> torch.Tensor:
    """Boxes (crop coordinates) touching a crop edge that is not also a frame edge: cut objects."""
    crop_t = torch.as_tensor(crop, dtype=torch.float, device=boxes.device)
    frame_t = torch.as_tensor(frame, dtype=torch.float, device=boxes.device)
    b = boxes.float() + torch.tensor([crop[0], crop[1], crop[0], crop[1]], device=boxes.device)
    near_crop = torch.isclose(b, crop_t[None], atol=atol, rtol=0)
    near_frame = torch.isclose(b, frame_t[None], atol=atol, rtol=0)
    return (near_crop & ~near_frame).any(1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, chunk: int = 128) -> torch.Tensor:
    """Greedy NMS as torchvision.ops.nms: indices kept, by decreasing score; a box is dropped when
    its IoU with a kept higher-scored box is above the threshold.

    The IoU matrix is built `chunk` rows at a time (the rows of boxes still alive, against the boxes
    after them), so memory is chunk x N instead of N x N float64 temporaries (+662 MB peak RSS at
    3072 candidates unchunked, +38 MB in rows of 128); each entry is computed by the same
    elementwise ops, so the result is exactly the unchunked one."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    ordered = boxes[order].double()
    n = len(order)
    alive = np.ones(n, bool)
    for start in range(0, n, chunk):
        rows = start + np.flatnonzero(alive[start:start + chunk])
        if not len(rows):
            continue
        over = (box_iou(ordered[torch.from_numpy(rows).to(ordered.device)], ordered[start:]) > iou_threshold)
        over = over.cpu().numpy()
        for r, i in enumerate(rows):  # i - start: column of box i itself in this block
            if alive[i]:
                alive[i + 1:] &= ~over[r, i + 1 - start:]
    return order[torch.from_numpy(np.flatnonzero(alive)).to(order.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS within each group only (offsetting groups apart, as torchvision does)."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    shift = groups.to(boxes.dtype)[:, None] * (boxes.max() + 1)
    return nms(boxes + shift, scores, iou_threshold)


def remove_small_regions(mask: np.ndarray, area_thresh: float, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes ("holes") or drop islands ("islands") smaller than `area_thresh` pixels."""
    correct_holes = mode == "holes"
    work = (correct_holes ^ mask).astype(np.uint8)
    n, regions, stats, _ = cv2.connectedComponentsWithStats(work, 8)
    sizes = stats[:, -1][1:]
    small = [i + 1 for i, s in enumerate(sizes) if s < area_thresh]
    if not small:
        return mask, False
    fill = [0] + small
    if not correct_holes:
        fill = [i for i in range(n) if i not in fill] or [int(np.argmax(sizes)) + 1]
    return np.isin(regions, fill), True


def fill_holes_and_sprinkles(logits: torch.Tensor, max_area: int, threshold: float = 0.0) -> torch.Tensor:
    """SAM 2's small-region clean-up on low-res mask logits (N x h x w), as `SAM2Transforms.postprocess_masks`
    with `max_hole_area = max_sprinkle_area = min_mask_region_area` does it in `SAM2AutomaticMaskGenerator`:
    background components (8-connected, `<= threshold`) of at most `max_area` low-res pixels become
    `threshold + 10`, foreground components (`> threshold`) that small become `threshold - 10`. Both are
    found on the input logits, so filling a hole never merges islands first. OpenCV instead of SAM 2's
    CUDA extension; the components, and so the result, are the same."""
    if max_area <= 0 or logits.numel() == 0:
        return logits
    x = logits.float().cpu().numpy()
    out = x.copy()
    for i in range(len(x)):
        fg = x[i] > threshold
        out[i][small_components(~fg, max_area)] = threshold + 10.0
        out[i][small_components(fg, max_area)] = threshold - 10.0
    return torch.from_numpy(out).to(logits.device)
