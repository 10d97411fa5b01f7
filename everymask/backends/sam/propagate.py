"""SAM 2 video propagation of many seed masks at once, on features from the shared cache.

transformers' `Sam2VideoModel.forward` loops over objects one at a time (batch 1 each) and
encodes frames itself. Here all seeds of one start frame and direction are one batch: at every
frame the image features are fetched once (from the backend's cache), the memory attention,
mask decoder and memory encoder run on the whole batch, and one pass over the frames serves all
seeds. The model's own memory bookkeeping (`Sam2VideoInferenceSession`,
`_prepare_memory_conditioned_features`, `_encode_new_memory`) is reused unchanged; only the
per-frame SAM head call is written out, because transformers' version indexes its multimask
choice for a batch of one and ignores the original's single-mask head for mask prompts.
Seeds are split into chunks of `max_batch` (separate object slots) only to bound memory.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ...masks import Masks
from ...video.base import FrameSource
from .preprocess import masks_to_input, upsample_logits

NO_OBJ_SCORE = -1024.0


class Sam2Propagator:
    """`Propagator` on a `Sam2VideoModel`; `features(t, load)` returns the cached encoder output."""

    def __init__(self, model: torch.nn.Module, device: torch.device,
                 features: Callable[[int, Callable[[], np.ndarray]], list[torch.Tensor]],
                 autocast: Callable[[], Any], max_batch: int = 64) -> None:
        self.model, self.device, self.features, self.autocast = model, device, features, autocast
        self.max_batch = max_batch
        self.size = int(model.config.image_size)
        self.frames_visited: list[int] = []      # every frame stepped, in order (tests, stats)
        self.masks_stepped = 0                   # sum over frames of seeds tracked there
        self.last_seed_logits: torch.Tensor | None = None   # low-res logits of the seeds as conditioned

    @torch.inference_mode()
    def propagate(self, source: FrameSource, start: int, stop: int, seeds: Masks) -> Iterator[tuple[int, Masks]]:
        from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

        if start == stop:
            return
        step = 1 if stop > start else -1
        hw = tuple(source.size)
        frames = range(start + step, stop + step, step)
        if len(seeds) == 0:
            for t in frames:
                yield t, Masks.empty(hw)
            return
        session = Sam2VideoInferenceSession(video_height=hw[0], video_width=hw[1], inference_device=self.device,
                                            inference_state_device=self.device, dtype=torch.float32)
        chunks = [slice(i, i + self.max_batch) for i in range(0, len(seeds), self.max_batch)]
        for c in range(len(chunks)):
            session.obj_id_to_idx(c)
        seed_logits = []
        for t in [start, *frames]:
            feats = self._features(source, t)
            logits, scores = [], []
            for c, sl in enumerate(chunks):
                mask_in = None
                if t == start:  # decode one chunk at a time: N full-resolution masks can be large
                    dense = torch.from_numpy(seeds.select(np.arange(len(seeds))[sl]).to_dense())
                    mask_in = masks_to_input(dense.to(self.device), self.size)
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

    def _features(self, source: FrameSource, t: int) -> list[torch.Tensor]:
        with self.autocast():
            return self.features(t, lambda: source.frame(t))

    def _to_masks(self, low: torch.Tensor, scores: torch.Tensor, ids: np.ndarray, hw: tuple[int, int]) -> Masks:
        """Low-res logits -> masks at the frame's resolution; empty (vanished) masks are left out."""
        out, keep = [], []
        for i in range(0, len(low), 16):
            m = (upsample_logits(low[i:i + 16], hw, self.size, squash=True) > 0).cpu().numpy()
            out.append(m)
        dense = np.concatenate(out)
        keep = dense.reshape(len(dense), -1).any(1)
        return Masks.from_dense(dense[keep], ids[keep], scores.cpu().numpy()[keep])

    def _step(self, session: Any, obj_idx: int, t: int, feats: list[torch.Tensor], mask_in: torch.Tensor | None,
              reverse: bool, n_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame for one chunk: condition on `mask_in` (start frame) or on memory; encode memory."""
        m = self.model
        cond = mask_in is not None
        n = mask_in.shape[0] if cond else self._batch_of(session, obj_idx)
        sizes = m.backbone_feature_sizes
        levels = [f.expand(-1, n, -1) for f in feats[:-1]]
        pos = feats[-1].expand(-1, n, -1)
        high_res = [x.permute(1, 2, 0).reshape(n, x.shape[2], *s) for x, s in zip(levels[:-1], sizes[:-1])]
        if cond:
            pix = levels[-1].permute(1, 2, 0).reshape(n, m.hidden_dim, *sizes[-1])
            low, high, ptr, obj = self._mask_as_output(pix, high_res, mask_in)
        else:
            pix = self._memory_conditioned(session, obj_idx, t, levels[-1], pos, n_frames, reverse)
            low, high, ptr, obj = self._sam_heads(pix, high_res, multimask=m._use_multimask(False, None))
        # mask prompts are not "from points": the original SAM 2 takes the sigmoid of +-10 logits
        mem, mem_pos = m._encode_new_memory(current_vision_feats=levels[-1], pred_masks_high_res=high,
                                            object_score_logits=obj, is_mask_from_pts=False)
        key = "cond_frame_outputs" if cond else "non_cond_frame_outputs"
        session.output_dict_per_obj[obj_idx][key][t] = {
            "object_pointer": ptr, "object_score_logits": obj, "maskmem_features": mem, "maskmem_pos_enc": mem_pos}
        if not cond:
            session.frames_tracked_per_obj[obj_idx][t] = {"reverse": reverse}
            self._forget(session, obj_idx, t)
        return low, obj

    def _forget(self, session: Any, obj_idx: int, t: int) -> None:
        """Drop tracked-frame memories the model can no longer attend to (it reads the last
        `num_maskmem - 1` frames' masks and `max_object_pointers_in_encoder` frames' pointers),
        so a long propagation keeps constant memory."""
        cfg = self.model.config
        horizon = max(cfg.num_maskmem, cfg.max_object_pointers_in_encoder)
        outputs = session.output_dict_per_obj[obj_idx]["non_cond_frame_outputs"]
        for old in [f for f in outputs if abs(f - t) >= horizon]:
            del outputs[old]

    def _memory_conditioned(self, session: Any, obj_idx: int, t: int, current: torch.Tensor, pos: torch.Tensor,
                            n_frames: int, reverse: bool) -> torch.Tensor:
        """`_prepare_memory_conditioned_features` for a batch: the same memory selection (the model's
        own helpers), with the final reshape done per batch (transformers' assumes a batch of one)."""
        m = self.model
        n, (h, w) = current.shape[1], m.backbone_feature_sizes[-1]
        previous = m._gather_memory_frame_outputs(session, obj_idx, t, reverse)
        memories, memory_pos = m._build_memory_attention_inputs(previous, current.device)
        offsets, pointers, max_pointers = m._get_object_pointers(session, obj_idx, t, n_frames, current.device,
                                                                 reverse, False)
        n_pointer_tokens = 0
        if pointers:
            ptr, ptr_pos = m._process_object_pointers(offsets, pointers, max_pointers, n, m.hidden_dim, current.device)
            memories.append(ptr)
            memory_pos.append(ptr_pos)
            n_pointer_tokens = ptr.shape[0]
        out = m.memory_attention(current_vision_features=current, current_vision_position_embeddings=pos,
                                 memory=torch.cat(memories, 0).to(current.dtype), memory_posision_embeddings=torch.cat(memory_pos, 0),
                                 num_object_pointer_tokens=n_pointer_tokens)      # 1 x n x HW x C
        return out.reshape(n, h * w, -1).transpose(1, 2).reshape(n, -1, h, w)

    @staticmethod
    def _batch_of(session: Any, obj_idx: int) -> int:
        out = session.output_dict_per_obj[obj_idx]["cond_frame_outputs"]
        return next(iter(out.values()))["object_pointer"].shape[0]

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
                        mask_in: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The seed mask is the output on its frame (+-10 logits); its object pointer comes from the
        single-mask SAM head prompted with the mask, as in the original SAM 2."""
        m = self.model
        mask_in = mask_in.to(pix.dtype)
        high = mask_in * 20.0 - 10.0
        low = F.interpolate(high.float(), size=m.prompt_encoder.mask_input_size, mode="bilinear",
                            align_corners=False, antialias=True).to(pix.dtype)
        _, _, ptr, _ = self._sam_heads(pix, high_res, multimask=False, mask_prompt=m.mask_downsample(mask_in))
        appearing = (mask_in.flatten(1) > 0).any(1, keepdim=True).to(ptr.dtype)    # n x 1
        obj = (20.0 * appearing - 10.0)[..., None]                                  # n x 1 x 1
        ptr = appearing * ptr + (1 - appearing) * m.no_object_pointer
        return low, high, ptr, obj
