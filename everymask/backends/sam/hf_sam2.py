"""Every use of transformers' private `Sam2VideoModel` API, in one place.

The propagator runs SAM 2's tracking step for a whole batch of objects, which transformers'
public `forward` does not offer (it loops over objects one by one and owns the frame encoding).
So it reuses the model's own memory bookkeeping through a few private methods. Private methods
can change in any release: every call is here, each with what it does and why we need it, and
pyproject pins transformers to the range the tests pass on. When a release breaks one, this file
and `tests/test_sam2.py::test_memory_step_matches_transformers_for_one_object` say where.
"""
from __future__ import annotations

from typing import Any

import torch

MEMORY_KEYS = ("cond_frame_outputs", "non_cond_frame_outputs")


def new_session(hw: tuple[int, int], device: torch.device) -> Any:
    """A `Sam2VideoInferenceSession` (public class, imported from its module because the package
    does not re-export it): the per-object memory store the private helpers below read."""
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    return Sam2VideoInferenceSession(video_height=hw[0], video_width=hw[1], inference_device=device,
                                     inference_state_device=device, dtype=torch.float32)


def multimask_for_tracking(model: torch.nn.Module) -> bool:
    # `_use_multimask(is_init_cond_frame=False, point_inputs=None)`: whether the SAM head picks the
    # best of its 3 masks on a tracked frame (SAM 2.1: yes). Reused so the config flags
    # (`multimask_output_in_sam`, `multimask_output_for_tracking`, `multimask_*_pt_num`) keep
    # their meaning without us re-reading them.
    return bool(model._use_multimask(False, None))


def encode_memory(model: torch.nn.Module, vision: torch.Tensor, high_res_masks: torch.Tensor,
                  object_scores: torch.Tensor, binarize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    # `_encode_new_memory`: the memory encoder on (image features, mask) -> (memory HW x N x C in
    # bf16 as the original stores it, its position encoding). `binarize` is the original's
    # `is_mask_from_pts`: True thresholds the mask at 0 (the prompted frame), False takes the
    # sigmoid (tracked frames). It also adds the occlusion embedding for objects scored absent.
    # It already takes a batch; we need it to encode all objects of a frame at once.
    return model._encode_new_memory(current_vision_feats=vision, pred_masks_high_res=high_res_masks,
                                    object_score_logits=object_scores, is_mask_from_pts=binarize)


def memory_conditioned(model: torch.nn.Module, session: Any, obj_idx: int, t: int, current: torch.Tensor,
                       pos: torch.Tensor, n_frames: int, reverse: bool) -> torch.Tensor:
    """`_prepare_memory_conditioned_features` for a batch of n objects sharing one memory slot:
    the same memory selection through the model's own helpers, with the final reshape done per
    batch (transformers' version squeezes a batch of one). Returns n x C x h x w."""
    m = model
    n, (h, w) = current.shape[1], m.backbone_feature_sizes[-1]
    # `_gather_memory_frame_outputs`: which stored frames the memory attention reads (the closest
    # conditioning frames and the last `num_maskmem - 1` tracked ones) with their temporal offsets.
    previous = m._gather_memory_frame_outputs(session, obj_idx, t, reverse)
    # `_build_memory_attention_inputs`: those frames' memories and position encodings, with the
    # learned temporal encoding of each offset added.
    memories, memory_pos = m._build_memory_attention_inputs(previous, current.device)
    # `_get_object_pointers`: the object pointers of the conditioning and recent tracked frames
    # (at most `max_object_pointers_in_encoder`), with their frame offsets.
    offsets, pointers, max_pointers = m._get_object_pointers(session, obj_idx, t, n_frames, current.device,
                                                             reverse, False)
    n_pointer_tokens = 0
    if pointers:
        # `_process_object_pointers`: stack the pointers, split them into memory-width tokens and
        # give them the sine temporal encoding (SAM 2.1) or zeros (SAM 2.0); batch-size aware.
        ptr, ptr_pos = m._process_object_pointers(offsets, pointers, max_pointers, n, m.hidden_dim, current.device)
        memories.append(ptr)
        memory_pos.append(ptr_pos)
        n_pointer_tokens = ptr.shape[0]
    out = m.memory_attention(current_vision_features=current, current_vision_position_embeddings=pos,
                             memory=torch.cat(memories, 0).to(current.dtype),
                             memory_posision_embeddings=torch.cat(memory_pos, 0),
                             num_object_pointer_tokens=n_pointer_tokens)      # 1 x n x HW x C
    return out.reshape(n, h * w, -1).transpose(1, 2).reshape(n, -1, h, w)


def reference_memory_conditioned(model: torch.nn.Module, session: Any, obj_idx: int, t: int, current: torch.Tensor,
                                 pos: torch.Tensor, n_frames: int, reverse: bool) -> torch.Tensor:
    # `_prepare_memory_conditioned_features`: transformers' own per-object version of
    # `memory_conditioned` above, called only by the test that checks ours equals it.
    return model._prepare_memory_conditioned_features(
        inference_session=session, frame_idx=t, obj_idx=obj_idx, is_initial_conditioning_frame=False,
        current_vision_features=current, current_vision_positional_embeddings=pos,
        num_total_frames=n_frames, track_in_reverse_time=reverse, streaming=False)


def store(session: Any, obj_idx: int, t: int, cond: bool, pointer: torch.Tensor, object_scores: torch.Tensor,
          memory: torch.Tensor, memory_pos: torch.Tensor, reverse: bool) -> None:
    """Record one frame's output for one memory slot where the helpers above look for it (the
    session's public dicts, in the layout `Sam2VideoModel.forward` writes)."""
    key = MEMORY_KEYS[0] if cond else MEMORY_KEYS[1]
    session.output_dict_per_obj[obj_idx][key][t] = {
        "object_pointer": pointer, "object_score_logits": object_scores,
        "maskmem_features": memory, "maskmem_pos_enc": memory_pos}
    if not cond:
        session.frames_tracked_per_obj[obj_idx][t] = {"reverse": reverse}


def forget(session: Any, obj_idx: int, t: int, horizon: int) -> None:
    """Drop tracked-frame outputs `horizon` or more frames from `t`: the helpers above never read them."""
    outputs = session.output_dict_per_obj[obj_idx][MEMORY_KEYS[1]]
    for old in [f for f in outputs if abs(f - t) >= horizon]:
        del outputs[old]


def batch_of(session: Any, obj_idx: int) -> int:
    """Objects in a memory slot (the batch size of its conditioning frame's pointer)."""
    out = session.output_dict_per_obj[obj_idx][MEMORY_KEYS[0]]
    return next(iter(out.values()))["object_pointer"].shape[0]
