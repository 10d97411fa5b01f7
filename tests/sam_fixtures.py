"""Tiny random-initialised SAM 2 / SAM models, saved the way real checkpoints are shipped.

No pretrained weights exist on the test machines, so the tests build models of the real
architectures at toy sizes (about a million parameters, 256x256 input), save them as a Hugging
Face hub folder, as a lone `.safetensors` file and inside a fake hub cache, and load them back
through the same code a real checkpoint takes. Plain functions, no pytest fixtures, so the
benchmark script can use them too.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import os

import numpy as np
import pytest

REQUIRE_TORCH = os.environ.get("EVERYMASK_REQUIRE_TORCH") == "1"


def torch_or_skip():  # -> the torch module
    """torch and transformers for the sam tests: skipped when missing, unless
    EVERYMASK_REQUIRE_TORCH=1 (as in CI), where a missing one fails so the tests never vanish."""
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as e:
        if REQUIRE_TORCH:
            pytest.fail(f"{e}, and EVERYMASK_REQUIRE_TORCH=1 asks for the sam tests", pytrace=False)
        pytest.skip(str(e), allow_module_level=True)
    return torch


torch = torch_or_skip()

TINY_IMAGE = 128


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny models are far too small to gain from intra-op threads, and on a shared 2-core
    machine thread hand-offs made the sam modules 10x slower; restore the setting afterwards.
    A test module gets it for all its tests by importing it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_sam2_config():  # -> Sam2VideoConfig
    from transformers import (Sam2HieraDetConfig, Sam2VideoConfig, Sam2VideoMaskDecoderConfig,
                              Sam2VideoPromptEncoderConfig, Sam2VisionConfig)

    s = TINY_IMAGE
    hiera = Sam2HieraDetConfig(hidden_size=16, image_size=[s, s], embed_dim_per_stage=[16, 32, 64, 128],
                               num_attention_heads_per_stage=[1, 1, 2, 2], blocks_per_stage=[1, 1, 2, 1],
                               window_size_per_stage=[8, 4, 4, 4], global_attention_blocks=[3],
                               window_positional_embedding_background_size=[4, 4])
    vision = Sam2VisionConfig(backbone_config=hiera, backbone_channel_list=[128, 64, 32, 16],
                              backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
                              fpn_hidden_size=128)
    prompt = Sam2VideoPromptEncoderConfig(hidden_size=128, image_size=s, patch_size=16)
    decoder = Sam2VideoMaskDecoderConfig(hidden_size=128, mlp_dim=256, num_attention_heads=4, iou_head_hidden_dim=128)
    return Sam2VideoConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder,
                           image_size=s, memory_attention_hidden_size=128, memory_attention_num_layers=1,
                           memory_attention_feed_forward_hidden_size=256,
                           memory_attention_rope_feat_sizes=[s // 16, s // 16],
                           memory_encoder_hidden_size=128, memory_encoder_output_channels=64,
                           mask_downsampler_embed_dim=128, memory_fuser_embed_dim=128,
                           memory_fuser_intermediate_dim=256, memory_fuser_num_layers=1)


def tiny_sam1_config():  # -> SamConfig
    from transformers import SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig

    s = TINY_IMAGE
    vision = SamVisionConfig(hidden_size=64, output_channels=128, num_hidden_layers=2, num_attention_heads=2,
                             image_size=s, patch_size=16, window_size=4, global_attn_indexes=[1],
                             num_pos_feats=64)
    prompt = SamPromptEncoderConfig(hidden_size=128, image_size=s, patch_size=16)
    decoder = SamMaskDecoderConfig(hidden_size=128, mlp_dim=256, num_attention_heads=4, iou_head_hidden_dim=128)
    return SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)


def build(kind: str, seed: int = 0) -> torch.nn.Module:
    """A random model: kind "sam2" (Sam2VideoModel) or "sam" (SamModel), deterministic per seed."""
    from transformers import Sam2VideoModel, SamModel

    torch.manual_seed(seed)
    model = Sam2VideoModel(tiny_sam2_config()) if kind == "sam2" else SamModel(tiny_sam1_config())
    if kind == "sam2":
        # random weights put the object score near 0, so tracked masks would flicker between
        # "object" and "no object"; a positive bias makes every seed stay visible, which gives
        # the propagation tests non-empty masks to compare
        with torch.no_grad():
            model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(5.0)
    return model.eval()


def save_folder(model: torch.nn.Module, folder: Path) -> Path:
    """Hub folder format: config.json + model.safetensors, as `save_pretrained` writes it."""
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def save_hub_cache(model: torch.nn.Module, cache: Path, repo_id: str) -> Path:
    """Lay the model out as huggingface_hub's cache does (refs/main -> snapshots/<rev>)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    rev = "0" * 40
    save_folder(model, repo / "snapshots" / rev)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(rev)
    return repo / "snapshots" / rev


def clip(n: int = 12, size: tuple[int, int] = (96, 128), seed: int = 0) -> np.ndarray:
    """n RGB frames with a few moving blocks on a textured background (uint8, n x H x W x 3)."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = (rng.random((h, w, 3)) * 60 + 60).astype(np.uint8)
    frames = np.repeat(base[None], n, axis=0)
    for t in range(n):
        frames[t, 10 + t:40 + t, 10:50] = (220, 40, 40)
        frames[t, 50:90, 70 + t:110 + t] = (40, 200, 60)
    return frames


class ArraySource:
    """A `FrameSource` over an in-memory array, counting frame reads."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.path = "<array>"
        self.fps = 25.0
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.frames.shape[1:3])

    input_size = size

    def frame(self, index: int) -> np.ndarray:
        self.reads.append(index)
        return self.frames[index]

    def fingerprint(self) -> str:
        """Of the content, as real sources' fingerprints are: two clips never share one."""
        return hashlib.sha256(self.frames.tobytes()).hexdigest()

    def close(self) -> None:
        pass
