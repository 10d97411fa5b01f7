"""SAM 2 video propagation of many seed masks at once, on features from the shared cache.

transformers' `Sam2VideoModel.forward` loops over objects one at a time (batch 1 each) and
encodes frames itself. Here all seeds of one start frame and direction are one batch: at every
frame the image features are fetched once (from the backend's cache), the memory attention,
mask decoder and memory encoder run on the whole batch, and one pass over the frames serves all
seeds. The model's own memory bookkeeping is reused through `hf_sam2` (the one place that calls
transformers' private methods); only the per-frame SAM head call is written out, because
transformers' version indexes its multimask choice for a batch of one.
Seeds are split into chunks of `max_batch` (separate object slots) only to bound memory.

What Meta's `SAM2VideoPredictor` (add_new_mask + propagate_in_video) does, and so do we:
- frames are resized as its frame loader does (`sam2_video_pixels`);
- the seed mask is the output on its frame: +-10 logits at model resolution, antialiased down to
  the low-res logits (`_use_mask_as_output`), and its object pointer comes from the single-mask
  SAM head prompted with the mask;
- every output's low-res logits get holes of <= 8 px filled (`fill_hole_area=8`);
- the seed frame's memory is encoded from its hole-filled low-res logits, upsampled to model
  resolution and binarised (`propagate_in_video_preflight`, `is_mask_from_pts=True`); a tracked
  frame's memory from its unfilled logits through a sigmoid.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ...masks import Masks
from ...video.base import FrameSource
from . import hf_sam2
from .holes import fill_holes
from .preprocess import masks_to_input, sam2_video_pixels, upsample_logits

NO_OBJ_SCORE = -1024.0
FULL_RES_CHUNK = 16     # masks per full-resolution (video size) stack: bounds transient memory

Features = Callable[[tuple, int, Callable[[], np.ndarray]], list[torch.Tensor]]


def encode_video_frame(model: torch.nn.Module, device: torch.device, image: np.ndarray) -> list[torch.Tensor]:
    """Flattened FPN levels (HW x 1 x C) and the last level's position encoding of a frame loaded
    as the video predictor loads it: what tracking needs, nothing more."""
    with torch.inference_mode():
        pixels = sam2_video_pixels(image, int(model.config.image_size), device)
        out = model.get_image_features(pixels, return_dict=True)
    return [f.float() for f in out.fpn_hidden_states] + [out.fpn_position_encoding[-1].float()]


def source_key(source: FrameSource) -> tuple:
    """What identifies the frames of an input: its fingerprint and the size frames come at."""
    return (source.fingerprint(), tuple(source.size))


class Sam2Propagator:
    """`Propagator` on a `Sam2VideoModel`; `features(source_key, t, load)` returns the cached
    encoder output of frame t of that input."""

    def __init__(self, model: torch.nn.Module, device: torch.device, features: Features,
                 autocast: Callable[[], Any], max_batch: int = 64) -> None:
        self.model, self.device, self.features, self.autocast = model, device, features, autocast
        self.max_batch = max_batch
        self.size = int(model.config.image_size)
        self.frames_visited: list[int] = []      # every frame stepped, in order (tests, stats)
        self.masks_stepped = 0                   # sum over frames of seeds tracked there
        self.last_seed_logits: torch.Tensor | None = None   # low-res logits of the seeds as conditioned

    @torch.inference_mode()
    def propagate(self, source: FrameSource, start: int, stop: int, seeds: Masks) -> Iterator[tuple[int, Masks]]:
        if start == stop:
            return
        step = 1 if stop > start else -1
        hw = tuple(source.size)
        frames = range(start + step, stop + step, step)
        if len(seeds) == 0:
            for t in frames:
                yield t, Masks.empty(hw)
            return
        key = source_key(source)
        session = hf_sam2.new_session(hw, self.device)
        chunks = [slice(i, i + self.max_batch) for i in range(0, len(seeds), self.max_batch)]
        for c in range(len(chunks)):
            session.obj_id_to_idx(c)
        seed_logits = []
        for t in [start, *frames]:
            feats = self._features(source, key, t)
            logits, scores = [], []
            for c, sl in enumerate(chunks):
                mask_in = self._seed_input(seeds, sl) if t == start else None
                with self.autocast():
                    low, obj = self._step(session, c, t, feats, mask_in, reverse=step < 0, n_frames=len(source))
                if t == start:
                    seed_logits.append(low[:, 0].float().cpu())
                    continue
                logits.append(low[:, 0].float())
                scores.append(torch.sigmoid(obj.float().reshape(-1)))
            self.frames_visited.append(t)
            if t == start:
                self.last_seed_logits = torch.cat(seed_logits)
                continue
            self.masks_stepped += len(seeds)
            yield t, self._to_masks(torch.cat(logits), torch.cat(scores), seeds.ids, hw)

    def _features(self, source: FrameSource, key: tuple, t: int) -> list[torch.Tensor]:
        with self.autocast():
            return self.features(key, t, lambda: source.frame(t))

    def _seed_input(self, seeds: Masks, sl: slice) -> torch.Tensor:
        """Seeds -> N x 1 x S x S {0, 1} mask prompts, decoded `FULL_RES_CHUNK` at a time."""
        idx = np.arange(len(seeds))[sl]
        parts = [masks_to_input(torch.from_numpy(seeds.select(idx[i:i + FULL_RES_CHUNK]).to_dense()).to(self.device),
                                self.size) for i in range(0, len(idx), FULL_RES_CHUNK)]
        return torch.cat(parts)

    def _to_masks(self, low: torch.Tensor, scores: torch.Tensor, ids: np.ndarray, hw: tuple[int, int]) -> Masks:
        """Low-res logits -> masks at the frame's resolution, `FULL_RES_CHUNK` at a time (never an
        N x H x W stack); empty (vanished) masks are left out."""
        scores_np = scores.cpu().numpy()
        parts = []
        for i in range(0, len(low), FULL_RES_CHUNK):
            dense = (upsample_logits(low[i:i + FULL_RES_CHUNK], hw, self.size, squash=True) > 0).cpu().numpy()
            keep = dense.reshape(len(dense), -1).any(1)
            parts.append(Masks.from_dense(dense[keep], ids[i:i + FULL_RES_CHUNK][keep],
                                          scores_np[i:i + FULL_RES_CHUNK][keep]))
        return Masks.concat(parts, size=hw)

    def _step(self, session: Any, obj_idx: int, t: int, feats: list[torch.Tensor], mask_in: torch.Tensor | None,
              reverse: bool, n_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame for one chunk: condition on `mask_in` (start frame) or on memory; encode
        memory. Returns the hole-filled low-res logits (n,1,h,w) and object-score logits."""
        m = self.model
        cond = mask_in is not None
        n = mask_in.shape[0] if cond else hf_sam2.batch_of(session, obj_idx)
        sizes = m.backbone_feature_sizes
        levels = [f.expand(-1, n, -1) for f in feats[:-1]]
        pos = feats[-1].expand(-1, n, -1)
        high_res = [x.permute(1, 2, 0).reshape(n, x.shape[2], *s) for x, s in zip(levels[:-1], sizes[:-1])]
        if cond:
            pix = levels[-1].permute(1, 2, 0).reshape(n, m.hidden_dim, *sizes[-1])
            low, ptr, obj = self._mask_as_output(pix, high_res, mask_in)
            low = fill_holes(low)
            # the seed's memory: from the filled low-res logits, upsampled and binarised
            high = F.interpolate(low.float(), size=(self.size, self.size), mode="bilinear", align_corners=False)
            mem, mem_pos = hf_sam2.encode_memory(m, levels[-1], high.to(low.dtype), obj, binarize=True)
        else:
            pix = hf_sam2.memory_conditioned(m, session, obj_idx, t, levels[-1], pos, n_frames, reverse)
            low, high, ptr, obj = self._sam_heads(pix, high_res, multimask=hf_sam2.multimask_for_tracking(m))
            # a tracked frame's memory: from the unfilled logits (the original fills after encoding)
            mem, mem_pos = hf_sam2.encode_memory(m, levels[-1], high, obj, binarize=False)
            low = fill_holes(low)
        hf_sam2.store(session, obj_idx, t, cond, ptr, obj, mem, mem_pos, reverse)
        if not cond:
            # the model reads the last `num_maskmem - 1` frames' masks and
            # `max_object_pointers_in_encoder` frames' pointers: older ones are dropped so a long
            # propagation keeps constant memory
            cfg = m.config
            hf_sam2.forget(session, obj_idx, t, max(cfg.num_maskmem, cfg.max_object_pointers_in_encoder))
        return low, obj

    def _sam_heads(self, pix: torch.Tensor, high_res: list[torch.Tensor], multimask: bool,
                   mask_prompt: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """SAM 2's `_forward_sam_heads` for a batch of n objects with no point prompt.

        Returns low-res logits (n,1,h,w), image-size logits (n,1,S,S), object pointers (n,C) and
        object-score logits (n,1,1), with the multimask choice made per object."""
        m = self.model
        n = pix.shape[0]
        points = torch.zeros(n, 1, 1, 2, dtype=pix.dtype, device=pix.device)
        labels = -torch.ones(n, 1, 1, dtype=torch.int32, device=pix.device)
        sparse, dense = m.prompt_encoder(input_points=points, input_labels=labels, input_boxes=None,
                                         input_masks=mask_prompt)
        pe = m.get_image_wide_positional_embeddings().repeat(n, 1, 1, 1)
        low, iou, tokens, obj = m.mask_decoder(image_embeddings=pix, image_positional_embeddings=pe,
                                               sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                               multimask_output=multimask, high_resolution_features=high_res)
        appearing = obj > 0                                        # n x 1 x 1
        low = torch.where(appearing[:, :, :, None, None], low, NO_OBJ_SCORE)[:, 0]   # n x k x h x w
        iou, tokens = iou[:, 0], tokens[:, 0]
        if multimask:
            best = iou.argmax(-1)
            rows = torch.arange(n, device=pix.device)
            low, token = low[rows, best][:, None], tokens[rows, best]
        else:
            low, token = low[:, :1], tokens[:, 0]
        high = F.interpolate(low.float(), size=(self.size, self.size), mode="bilinear", align_corners=False)
        ptr = m.object_pointer_proj(token)
        lam = appearing[:, 0].to(ptr.dtype)                         # n x 1
        ptr = lam * ptr + (1 - lam) * m.no_object_pointer
        return low, high.to(low.dtype), ptr, obj

    def _mask_as_output(self, pix: torch.Tensor, high_res: list[torch.Tensor],
                        mask_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`_use_mask_as_output` of the original: the seed mask as +-10 logits, antialiased down to
        the low-res logits; its object pointer from the single-mask SAM head prompted with the
        mask; object score +-10 by whether the mask is empty. Returns (low, pointer, score)."""
        m = self.model
        mask_in = mask_in.to(pix.dtype)
        high = mask_in * 20.0 - 10.0
        low = F.interpolate(high.float(), size=m.prompt_encoder.mask_input_size, mode="bilinear",
                            align_corners=False, antialias=True).to(pix.dtype)
        _, _, ptr, _ = self._sam_heads(pix, high_res, multimask=False, mask_prompt=m.mask_downsample(mask_in))
        appearing = (mask_in.flatten(1) > 0).any(1, keepdim=True).to(ptr.dtype)    # n x 1
        obj = (20.0 * appearing - 10.0)[..., None]                                  # n x 1 x 1
        ptr = appearing * ptr + (1 - appearing) * m.no_object_pointer
        return low, ptr, obj
