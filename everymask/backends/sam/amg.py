"""Automatic ("everything") mask generation on a key frame, for SAM 2 and SAM.

Reads top to bottom as SAM's algorithm: a grid of point prompts -> batches of prompts through the
mask decoder (3 masks per point) -> [SAM 2, `use_m2m`: each mask re-prompted with its point and its
own low-res logits] -> predicted-IoU filter -> [SAM 2: small holes and islands cleaned in the low-res
logits] -> stability filter -> box NMS -> crops merged by NMS -> [SAM: small-region clean-up at full
resolution]. The image encoder runs once per frame (per crop) through the backend's feature cache,
so a key frame's features are shared with propagation.

Defaults and where they come from (`RunConfig` holds the ones a user sets):
- `stability_score_thresh` 0.95: `SAM2AutomaticMaskGenerator.__init__` (sam2/automatic_mask_generator.py)
  and `SamAutomaticMaskGenerator.__init__` (segment_anything/automatic_mask_generator.py) both default
  to 0.95, so one default serves both backends.
- `pred_iou_thresh` 0.8: SAM 2's default (SAM's is 0.88); `points_per_side` 32, `box_nms_thresh` 0.7,
  `crop_*`, `stability_score_offset` 1.0, `min_mask_region_area` 0: the same in both.
- `use_m2m` off: SAM 2's default; SAM has no such option.
- `min_mask_region_area`: SAM 2 hands it to `SAM2ImagePredictor(max_hole_area=..., max_sprinkle_area=...)`,
  whose `SAM2Transforms.postprocess_masks` cleans each low-res (256 x 256) mask's logits before the
  filters, so the area is in low-res pixels; SAM's `postprocess_small_regions` cleans the full-size
  masks after NMS. Each backend does as its own generator (`PromptModel.lowres_cleanup`).
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

    size: int             # square input side (1024 for the real models)
    squash: bool          # SAM 2 squashes the frame to a square; SAM keeps the aspect and pads
    lowres_cleanup: bool  # SAM 2 cleans small regions in the low-res logits, SAM at full size after NMS

    def encode(self, image: np.ndarray) -> Any: ...

    def decode(self, features: Any, points: torch.Tensor,
               mask_input: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """P x 2 model-space points -> (P x 3 x h x w low-res logits, P x 3 predicted IoU); with
        `mask_input` (P x h x w logits, one per point) one mask per point: P x 1 x h x w, P x 1."""
        ...


class Sam2Prompter:
    """SAM 2 image path of a `Sam2VideoModel`: the same weights and cached features as tracking."""

    squash = True
    lowres_cleanup = True

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
    def decode(self, feats: list[torch.Tensor], points: torch.Tensor,
               mask_input: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        emb = self.image_embeddings(feats)
        pe = m.get_image_wide_positional_embeddings()
        if mask_input is None:  # one image, P prompts of one point: 3 masks each
            labels = torch.ones(1, len(points), 1, dtype=torch.int32, device=self.device)
            sparse, dense = m.prompt_encoder(input_points=points[None, :, None, :].float(), input_labels=labels,
                                             input_boxes=None, input_masks=None)
            low, iou, _, _ = m.mask_decoder(image_embeddings=emb[-1], image_positional_embeddings=pe,
                                            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                            multimask_output=True, high_resolution_features=emb[:-1])
            return low[0].float(), iou[0].float()
        # a point and a mask per prompt: the image is repeated per prompt (SAM 2's batched mode) and
        # each mask embedding added to its own copy; one mask out (SAM 2's `refine_with_m2m`)
        n = len(points)
        labels = torch.ones(n, 1, 1, dtype=torch.int32, device=self.device)
        sparse, dense = m.prompt_encoder(input_points=points[:, None, None, :].float(), input_labels=labels,
                                         input_boxes=None, input_masks=mask_input[:, None].to(emb[-1].dtype))
        low, iou, _, _ = m.mask_decoder(image_embeddings=emb[-1].expand(n, -1, -1, -1),
                                        image_positional_embeddings=pe.expand(n, -1, -1, -1),
                                        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                        multimask_output=False,
                                        high_resolution_features=[f.expand(n, -1, -1, -1) for f in emb[:-1]])
        return low[:, 0].float(), iou[:, 0].float()


class Sam1Prompter:
    """SAM (ViT) image encoder + decoder, for `--backend sam` key frames as the original method had."""

    squash = False
    lowres_cleanup = False

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.model, self.device = model, device
        self.size = int(model.config.vision_config.image_size)

    @torch.inference_mode()
    def encode(self, image: np.ndarray) -> torch.Tensor:
        return self.model.get_image_embeddings(sam1_pixels(image, self.size, self.device)).float()

    @torch.inference_mode()
    def decode(self, emb: torch.Tensor, points: torch.Tensor,
               mask_input: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if mask_input is not None:
            raise ValueError("SAM's generator has no mask-to-mask refinement (use_m2m is SAM 2's)")
        labels = torch.ones(1, len(points), 1, dtype=torch.long, device=self.device)
        out = self.model(image_embeddings=emb, input_points=points[None, :, None, :].float(), input_labels=labels,
                         multimask_output=True)
        return out.pred_masks[0].float(), out.iou_scores[0].float()


@dataclass(frozen=True)
class AmgSettings:
    """SAM's automatic-mask-generator knobs (same names); `from_config` takes those a user sets from `RunConfig`."""

    points_per_side: int = 32
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    min_mask_region_area: int = 0
    points_per_batch: int = 64
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    use_m2m: bool = False

    @classmethod
    def from_config(cls, config: RunConfig, points_per_batch: int = 64) -> "AmgSettings":
        return cls(points_per_side=config.points_per_side, pred_iou_thresh=config.pred_iou_thresh,
                   stability_score_thresh=config.stability_score_thresh, box_nms_thresh=config.box_nms_thresh,
                   crop_n_layers=config.crop_n_layers, min_mask_region_area=config.min_mask_region_area,
                   use_m2m=config.use_m2m, points_per_batch=points_per_batch)


class AutomaticMaskGenerator:
    """`MaskGenerator` over any `PromptModel`; `features(key, load)` is the backend's feature cache."""

    def __init__(self, prompter: PromptModel, settings: AmgSettings,
                 features: Callable[[Any, Callable[[], np.ndarray]], Any], autocast: Callable[[], Any]) -> None:
        self.prompter, self.settings, self.features, self.autocast = prompter, settings, features, autocast
        s = settings
        self.grids = ops.layer_point_grids(s.points_per_side, s.crop_n_layers, s.crop_n_points_downscale_factor)

    @torch.inference_mode()
    def generate(self, frame_index: int, image: np.ndarray, prior: Masks | None = None) -> Masks:
        s = self.settings
        h, w = image.shape[:2]
        boxes, layers = ops.crop_boxes((h, w), s.crop_n_layers, s.crop_overlap_ratio)
        parts = [self._crop(frame_index, image, box, layer) for box, layer in zip(boxes, layers)]
        rles = [r for p in parts for r in p["rles"]]
        if not rles:
            return Masks.empty((h, w))
        box_t = torch.cat([p["boxes"] for p in parts])
        iou = torch.cat([p["iou"] for p in parts])
        if len(boxes) > 1:  # prefer masks from smaller crops where crops overlap
            area = torch.cat([torch.full((len(p["rles"]),), float((b[2] - b[0]) * (b[3] - b[1])))
                              for p, b in zip(parts, boxes)])
            keep = ops.nms(box_t, 1.0 / area, s.crop_nms_thresh).tolist()
            rles, iou, box_t = [rles[i] for i in keep], iou[keep], box_t[keep]
        if s.min_mask_region_area > 0 and not self.prompter.lowres_cleanup:
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
            batch = scale_points(points[i:i + s.points_per_batch], (ch, cw), p.size, p.squash)
            logits, iou = self._predict(feats, batch)
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
        if not full:  # paste the crop's masks back into the frame, 16 at a time
            rles = [r for k in range(0, len(rles), 16)
                    for r in encode(_paste(decode(rles[k:k + 16], (ch, cw)), box, image.shape[:2]))]
            box_t = box_t + torch.tensor([x0, y0, x0, y0], dtype=box_t.dtype)
        return {"rles": rles, "boxes": box_t, "iou": iou_t}

    def _predict(self, feats: Any, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-res logits (N x h x w) and predicted IoUs of a batch of points' masks that pass the IoU
        filter: SAM 2's `_process_batch` up to the stability filter (m2m, IoU filter, low-res clean-up;
        the clean-up after the IoU filter, which it cannot change, to clean fewer masks)."""
        s, p = self.settings, self.prompter
        with self.autocast():
            logits, iou = p.decode(feats, points)
        per_point = logits.shape[1]
        logits, iou = logits.flatten(0, 1), iou.flatten()
        if s.use_m2m:
            logits, iou = self._refine(feats, points.repeat_interleave(per_point, 0), logits)
        if s.pred_iou_thresh > 0:
            keep = iou > s.pred_iou_thresh
            logits, iou = logits[keep], iou[keep]
        if p.lowres_cleanup and s.min_mask_region_area > 0:
            logits = ops.fill_holes_and_sprinkles(logits, s.min_mask_region_area, s.mask_threshold)
        return logits, iou

    def _refine(self, feats: Any, points: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM 2's `refine_with_m2m`: each mask decoded again from its own point and its low-res logits
        (clamped to +-32, as SAM 2's `_predict` returns them), one mask out, `points_per_batch` at a time."""
        b = self.settings.points_per_batch
        outs, ious = [], []
        for j in range(0, len(points), b):
            with self.autocast():
                low, iou = self.prompter.decode(feats, points[j:j + b], logits[j:j + b].clamp(-32.0, 32.0))
            outs.append(low[:, 0])
            ious.append(iou[:, 0])
        if not outs:
            return logits, logits.new_zeros(0)
        return torch.cat(outs), torch.cat(ious)

    def _clean(self, rles: list, iou: torch.Tensor, hw: tuple[int, int]) -> tuple[list, torch.Tensor]:
        """SAM's `postprocess_small_regions`: fill small holes and drop small islands at full size, then
        NMS again preferring untouched masks. One mask decoded at a time, so memory stays one frame."""
        s = self.settings
        new, boxes, unchanged, empty = [], [], [], []
        for rle in rles:
            m = decode([rle], hw)[0]
            m, c1 = ops.remove_small_regions(m, s.min_mask_region_area, "holes")
            m, c2 = ops.remove_small_regions(m, s.min_mask_region_area, "islands")
            new.append(encode(m)[0] if c1 or c2 else rle)
            boxes.append(ops.mask_to_box(torch.from_numpy(m)[None])[0])
            unchanged.append(float(not (c1 or c2)))
            empty.append(not m.any())
        keep = ops.nms(torch.stack(boxes), torch.tensor(unchanged), max(s.box_nms_thresh, s.crop_nms_thresh)).tolist()
        keep = [k for k in keep if not empty[k]]
        return [new[k] for k in keep], iou[keep]


def _paste(dense: np.ndarray, box: list[int], hw: tuple[int, int]) -> np.ndarray:
    """Crop masks (N x ch x cw) placed at `box` in frame-size masks."""
    x0, y0, x1, y1 = box
    canvas = np.zeros((len(dense), *hw), bool)
    canvas[:, y0:y1, x0:x1] = dense
    return canvas
