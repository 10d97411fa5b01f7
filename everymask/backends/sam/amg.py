"""Automatic ("everything") mask generation on a key frame, for SAM 2 and SAM.

Reads top to bottom as SAM's algorithm: a grid of point prompts -> batches of prompts through the
mask decoder (3 masks per point) -> predicted-IoU filter -> stability filter -> box NMS -> crops
merged by NMS -> optional small-region clean-up. The image encoder runs once per frame (per crop)
through the backend's feature cache, so a key frame's features are shared with propagation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
import torch

from ...config import RunConfig
from ...masks import Masks, decode, encode
from . import amg_ops as ops
from .preprocess import sam1_pixels, sam2_pixels, scale_points, upsample_logits


class PromptModel(Protocol):
    """What the generator needs of a model: encode an image, decode point prompts to 3 masks each."""

    size: int          # square input side (1024 for the real models)
    squash: bool       # SAM 2 squashes the frame to a square; SAM keeps the aspect and pads

    def encode(self, image: np.ndarray) -> Any: ...

    def decode(self, features: Any, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """P x 2 model-space points -> (P x 3 x h x w low-res logits, P x 3 predicted IoU)."""
        ...


class Sam2Prompter:
    """SAM 2 image path of a `Sam2VideoModel`: the same weights and cached features as tracking."""

    squash = True

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.model, self.device = model, device
        self.size = int(model.config.image_size)

    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> list[torch.Tensor]:
        """Flattened FPN levels (HW x 1 x C) as `Sam2VideoModel.get_image_features` returns them,
        plus the last level's position encoding: exactly what tracking needs, nothing more."""
        out = self.model.get_image_features(sam2_pixels(image, self.size, self.device), return_dict=True)
        return [f.float() for f in out.fpn_hidden_states] + [out.fpn_position_encoding[-1].float()]

    def image_embeddings(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        m = self.model
        levels = list(feats[:-1])
        levels[-1] = levels[-1] + m.no_memory_embedding
        return [f.permute(1, 2, 0).reshape(1, -1, *s) for f, s in zip(levels, m.backbone_feature_sizes)]

    @torch.inference_mode()
    def decode(self, feats: list[torch.Tensor], points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        emb = self.image_embeddings(feats)
        labels = torch.ones(1, len(points), 1, dtype=torch.int32, device=self.device)
        sparse, dense = m.prompt_encoder(input_points=points[None, :, None, :].float(), input_labels=labels,
                                         input_boxes=None, input_masks=None)
        low, iou, _, _ = m.mask_decoder(image_embeddings=emb[-1], image_positional_embeddings=m.get_image_wide_positional_embeddings(),
                                        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                        multimask_output=True, high_resolution_features=emb[:-1])
        return low[0].float(), iou[0].float()


class Sam1Prompter:
    """SAM (ViT) image encoder + decoder, for `--backend sam` key frames as the original method had."""

    squash = False

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.model, self.device = model, device
        self.size = int(model.config.vision_config.image_size)

    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> torch.Tensor:
        return self.model.get_image_embeddings(sam1_pixels(image, self.size, self.device)).float()

    @torch.inference_mode()
    def decode(self, emb: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.ones(1, len(points), 1, dtype=torch.long, device=self.device)
        out = self.model(image_embeddings=emb, input_points=points[None, :, None, :].float(), input_labels=labels,
                         multimask_output=True)
        return out.pred_masks[0].float(), out.iou_scores[0].float()


@dataclass(frozen=True)
class AmgSettings:
    """SAM's automatic-mask-generator knobs; the first six come from `RunConfig` (same names)."""

    points_per_side: int = 32
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.9
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    min_mask_region_area: int = 0
    points_per_batch: int = 64
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1

    @classmethod
    def from_config(cls, config: RunConfig, points_per_batch: int = 64) -> "AmgSettings":
        return cls(points_per_side=config.points_per_side, pred_iou_thresh=config.pred_iou_thresh,
                   stability_score_thresh=config.stability_score_thresh, box_nms_thresh=config.box_nms_thresh,
                   crop_n_layers=config.crop_n_layers, min_mask_region_area=config.min_mask_region_area,
                   points_per_batch=points_per_batch)


class AutomaticMaskGenerator:
    """`MaskGenerator` over any `PromptModel`; `features(key, load)` is the backend's feature cache."""

    def __init__(self, prompter: PromptModel, settings: AmgSettings,
                 features: Callable[[Any, Callable[[], np.ndarray]], Any], autocast: Callable[[], Any]) -> None:
        self.prompter, self.settings, self.features, self.autocast = prompter, settings, features, autocast
        s = settings
        self.grids = ops.layer_point_grids(s.points_per_side, s.crop_n_layers, s.crop_n_points_downscale_factor)

    @torch.inference_mode()
    def generate(self, frame_index: int, image: np.ndarray, prior: Masks | None = None) -> Masks:
        h, w = image.shape[:2]
        boxes, layers = ops.crop_boxes((h, w), self.settings.crop_n_layers, self.settings.crop_overlap_ratio)
        parts = [self._crop(frame_index, image, box, layer) for box, layer in zip(boxes, layers)]
        rles = [r for p in parts for r in p["rles"]]
        if not rles:
            return Masks.empty((h, w))
        box_t = torch.cat([p["boxes"] for p in parts])
        iou = torch.cat([p["iou"] for p in parts])
        if len(boxes) > 1:  # prefer masks from smaller crops where crops overlap
            area = torch.cat([torch.full((len(p["rles"]),), float((b[2] - b[0]) * (b[3] - b[1])))
                              for p, b in zip(parts, boxes)])
            keep = ops.nms(box_t, 1.0 / area, self.settings.crop_nms_thresh).tolist()
            rles, iou, box_t = [rles[i] for i in keep], iou[keep], box_t[keep]
        if self.settings.min_mask_region_area > 0:
            rles, iou = self._clean(rles, iou, (h, w))
        return Masks(size=(h, w), ids=np.arange(len(rles)), rles=rles, scores=iou.cpu().numpy())

    def _crop(self, frame_index: int, image: np.ndarray, box: list[int], layer: int) -> dict[str, Any]:
        """Masks of one crop, filtered and NMS'd, with boxes and RLEs in frame coordinates."""
        s, p = self.settings, self.prompter
        x0, y0, x1, y1 = box
        crop = image[y0:y1, x0:x1]
        ch, cw = crop.shape[:2]
        full = (x0, y0, x1, y1) == (0, 0, image.shape[1], image.shape[0])
        key = frame_index if full else (frame_index, tuple(box))
        with self.autocast():
            feats = self.features(key, lambda: np.ascontiguousarray(crop))
        points = torch.as_tensor(self.grids[layer] * np.array([cw, ch]), dtype=torch.float32, device=p.device)
        rles, boxes, ious = [], [], []
        for i in range(0, len(points), s.points_per_batch):
            with self.autocast():
                logits, iou = p.decode(feats, scale_points(points[i:i + s.points_per_batch], (ch, cw), p.size, p.squash))
            logits, iou = logits.flatten(0, 1), iou.flatten()
            keep = iou > s.pred_iou_thresh if s.pred_iou_thresh > 0 else torch.ones_like(iou, dtype=torch.bool)
            logits, iou = logits[keep], iou[keep]
            for j in range(0, len(logits), 16):  # bound full-resolution memory: 16 masks at a time
                up = upsample_logits(logits[j:j + 16], (ch, cw), p.size, p.squash)
                stab = ops.stability_score(up, s.mask_threshold, s.stability_score_offset)
                ok = stab >= s.stability_score_thresh if s.stability_score_thresh > 0 else torch.ones_like(stab, dtype=torch.bool)
                masks = up[ok] > s.mask_threshold
                if not len(masks):
                    continue
                b = ops.mask_to_box(masks)
                inside = ~ops.near_crop_edge(b, box, [0, 0, image.shape[1], image.shape[0]]) if not full \
                    else torch.ones(len(b), dtype=torch.bool, device=b.device)
                masks, b = masks[inside], b[inside]
                rles += encode(masks.cpu().numpy())
                boxes.append(b.cpu())
                ious.append(iou[j:j + 16][ok][inside].cpu())
        if not rles:
            return {"rles": [], "boxes": torch.zeros(0, 4), "iou": torch.zeros(0)}
        box_t, iou_t = torch.cat(boxes), torch.cat(ious)
        keep = ops.nms(box_t, iou_t, s.box_nms_thresh).tolist()
        rles, box_t, iou_t = [rles[i] for i in keep], box_t[keep], iou_t[keep]
        if not full:  # paste the crop's masks back into the frame
            dense = decode(rles, (ch, cw))
            canvas = np.zeros((len(dense), image.shape[0], image.shape[1]), bool)
            canvas[:, y0:y1, x0:x1] = dense
            rles = encode(canvas)
            box_t = box_t + torch.tensor([x0, y0, x0, y0], dtype=box_t.dtype)
        return {"rles": rles, "boxes": box_t, "iou": iou_t}

    def _clean(self, rles: list, iou: torch.Tensor, hw: tuple[int, int]) -> tuple[list, torch.Tensor]:
        """Fill small holes and drop small islands, then NMS again preferring untouched masks."""
        area = self.settings.min_mask_region_area
        new, unchanged = [], []
        for rle in rles:
            m = decode([rle], hw)[0]
            m, c1 = ops.remove_small_regions(m, area, "holes")
            m, c2 = ops.remove_small_regions(m, area, "islands")
            new.append(m)
            unchanged.append(float(not (c1 or c2)))
        dense = torch.from_numpy(np.stack(new))
        keep = ops.nms(ops.mask_to_box(dense), torch.tensor(unchanged), self.settings.box_nms_thresh).tolist()
        keep = [k for k in keep if dense[k].any()]
        return encode(dense[keep].numpy()), iou[keep]
