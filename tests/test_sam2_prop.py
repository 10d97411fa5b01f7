"""SAM 2 propagation done as Meta's `SAM2VideoPredictor` does it, checked by value on tiny random
models: hole filling, the seed frame's memory, the video frame resize, the feature cache's keys,
full-resolution chunking, and that transformers' private API is only reached through `hf_sam2`.
(The agreement with the official predictor itself is measured by benchmarks/sam2_agreement.py.)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import sam_fixtures as F  # noqa: E402  - skips (or, with EVERYMASK_REQUIRE_TORCH=1, fails) without torch
from sam_fixtures import one_thread  # noqa: E402,F401  - autouse: one torch thread for the module

torch = F.torch

from everymask.backends.sam import hf_sam2, propagate  # noqa: E402
from everymask.backends.sam.backend import make_backend  # noqa: E402
from everymask.backends.sam.holes import fill_holes  # noqa: E402
from everymask.backends.sam.preprocess import IMAGENET_MEAN, IMAGENET_STD, sam2_video_pixels  # noqa: E402
from everymask.backends.sam.propagate import encode_video_frame, source_key  # noqa: E402
from everymask.config import RunConfig, RuntimeOptions  # noqa: E402
from everymask.masks import Masks  # noqa: E402

CPU = torch.device("cpu")
S = F.TINY_IMAGE


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return F.build("sam2")


def backend(model, **kw):
    cfg = RunConfig(backend="sam2", points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, **kw)
    return make_backend(cfg, RuntimeOptions(device="cpu", feature_cache_mb=64), CPU, model, "tiny-random")


def block_seeds(hw=(96, 128)) -> Masks:
    dense = np.zeros((2, *hw), bool)
    dense[0, 8:40, 12:52] = dense[1, 48:88, 64:120] = True
    return Masks.from_dense(dense, [3, 4])


# -- hole filling ---------------------------------------------------------------------------

def test_holes_up_to_8_px_are_filled_9_are_not() -> None:
    x = torch.full((2, 1, 24, 24), 3.0)
    x[0, 0, 2:4, 2:6] = -2.0         # 8 px: filled
    x[0, 0, 10:13, 10:13] = -2.0     # 9 px: kept
    x[1, 0, 2:6, 2:4] = -2.0         # the same hole in the other mask: filled there too
    x[1, 0, 20, 20] = 0.0            # logit 0 is background (<= 0): a 1 px hole
    y = fill_holes(x)
    want = x.clone()
    want[0, 0, 2:4, 2:6] = want[1, 0, 2:6, 2:4] = want[1, 0, 20, 20] = 0.1
    assert torch.equal(y, want)
    assert fill_holes(x, max_area=9)[0, 0, 10:13, 10:13].eq(0.1).all()


def test_hole_components_are_8_connected() -> None:
    x = torch.full((1, 1, 16, 16), 1.0)
    x[0, 0, 2:4, 2:4] = -1.0         # 4 px ...
    x[0, 0, 4:6, 4:6] = -1.0         # ... touching another 4 px at a corner: one 8 px hole
    x[0, 0, 8:11, 8:10] = -1.0       # 6 px ...
    x[0, 0, 11, 10:13] = -1.0        # ... plus 3 px diagonally: one 9 px hole, kept
    y = fill_holes(x)
    assert y[0, 0, 2:6, 2:6].ge(0.1).all() and (y[0, 0, 2:6, 2:6] == 0.1).sum() == 8
    assert torch.equal(y[0, 0, 8:12, 8:13], x[0, 0, 8:12, 8:13])
    # the big outer background of a small object is not a hole
    z = torch.full((1, 1, 16, 16), -5.0)
    z[0, 0, 4:8, 4:8] = 5.0
    assert torch.equal(fill_holes(z), z)


# -- the seed frame -------------------------------------------------------------------------

def _seed_memory(model, frame: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Our propagator's conditioning step on one seed: (stored memory, low-res logits)."""
    prop = backend(model).propagator.inner
    src = F.ArraySource(frame[None])
    feats = prop._features(src, source_key(src), 0)
    session = hf_sam2.new_session(frame.shape[:2], CPU)
    session.obj_id_to_idx(0)
    with torch.inference_mode():
        low, _ = prop._step(session, 0, 0, feats, prop._seed_input(Masks.from_dense(mask[None], [0]), slice(0, 1)),
                            reverse=False, n_frames=1)
    return session.output_dict_per_obj[0]["cond_frame_outputs"][0]["maskmem_features"], low


def _transformers_seed_memory(model, frame: np.ndarray, mask: np.ndarray) -> torch.Tensor:
    """transformers' own `Sam2VideoModel.forward` on a mask prompt (its video-inference path)."""
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    pixels = sam2_video_pixels(frame, S, CPU)
    session = Sam2VideoInferenceSession(video=pixels, video_height=frame.shape[0], video_width=frame.shape[1],
                                        dtype=torch.float32)
    session.obj_id_to_idx(0)
    session.add_mask_inputs(0, 0, torch.from_numpy(mask)[None, None].float())
    session.obj_with_new_inputs = [0]
    with torch.inference_mode():
        model(inference_session=session, frame_idx=0)
    return session.output_dict_per_obj[0]["cond_frame_outputs"][0]["maskmem_features"]


def test_seed_memory_follows_the_original_preflight_not_transformers(model) -> None:
    """The seed's memory is encoded from its low-res logits (the mask as +-10, antialiased down),
    hole-filled, upsampled and binarised, as the original's `propagate_in_video_preflight` does.
    transformers' own video inference encodes the full-size mask instead: the two differ where
    the low-res round trip rounds the mask's corners off."""
    import torch.nn.functional as tf

    frame = F.clip(1, size=(S, S))[0]             # S x S: the mask prompt needs no resize
    mask = np.zeros((S, S), bool)
    mask[16:64, 24:96] = True
    ours, low = _seed_memory(model, frame, mask)
    full = torch.from_numpy(mask)[None, None].float()
    want_low = fill_holes(tf.interpolate(full * 20 - 10, size=(S // 4, S // 4), mode="bilinear", antialias=True))
    want_high = tf.interpolate(want_low, size=(S, S), mode="bilinear")
    assert torch.equal(low, want_low) and ((want_high > 0) != full.bool()).sum() == 12   # the 4 corners
    feats = encode_video_frame(model, CPU, frame)
    with torch.inference_mode():
        want, _ = hf_sam2.encode_memory(model, feats[2], want_high, torch.full((1, 1, 1), 10.0), binarize=True)
        full_size, _ = hf_sam2.encode_memory(model, feats[2], full, torch.full((1, 1, 1), 10.0), binarize=True)
    theirs = _transformers_seed_memory(model, frame, mask)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    assert torch.equal(ours, want) and torch.equal(theirs, full_size) and not torch.equal(ours, theirs)


def test_seed_memory_is_built_from_the_hole_filled_low_res_mask(model) -> None:
    """A 4x4 hole is 1 low-res px: filled (0.1), so the memory is that of the mask without it,
    where transformers (no hole filling) keeps the hole. A 12x12 hole (9 low-res px) stays."""
    frame = F.clip(1, size=(S, S))[0]
    solid = np.zeros((S, S), bool)
    solid[16:80, 16:112] = True
    small, big = solid.copy(), solid.copy()
    small[40:44, 60:64] = False
    big[36:48, 56:68] = False
    mem_solid, _ = _seed_memory(model, frame, solid)
    mem_small, low_small = _seed_memory(model, frame, small)
    mem_big, low_big = _seed_memory(model, frame, big)
    assert low_small[0, 0, 10, 15].item() == pytest.approx(0.1) and (low_small[0, 0, 4:20, 4:28] > 0).all()
    assert torch.equal(mem_small, mem_solid)
    assert (low_big[0, 0, 9:12, 14:17] <= 0).all() and not torch.equal(mem_big, mem_solid)


# -- frame resize ---------------------------------------------------------------------------

def test_video_frames_are_resized_as_the_video_predictor_loads_them() -> None:
    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    same = sam2_video_pixels(square, S, CPU)[0]       # already S x S: no resampling at all
    assert torch.allclose(same, (torch.from_numpy(square).permute(2, 0, 1) / 255.0 - mean) / std, atol=1e-6)
    # downsizing is quantised to uint8 as the loader's PIL resize is: values stay on the k/255 grid
    x = sam2_video_pixels(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8), S, CPU)[0] * std + mean
    assert x.shape == (3, S, S) and torch.allclose(x * 255, (x * 255).round(), atol=1e-4)
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        sam2_video_pixels(np.zeros((4, 4), np.uint8), S, CPU)


# -- feature cache keys ---------------------------------------------------------------------

def test_a_backend_reused_on_a_second_video_uses_that_videos_features(model) -> None:
    first, second = F.ArraySource(F.clip(5, seed=0)), F.ArraySource(F.clip(5, seed=1))
    reused = backend(model)
    list(reused.propagator.propagate(first, 0, 4, block_seeds()))
    again = {t: m.rles for t, m in reused.propagator.propagate(second, 0, 4, block_seeds())}
    fresh = {t: m.rles for t, m in backend(model).propagator.propagate(second, 0, 4, block_seeds())}
    assert again == fresh
    stats = reused.stats()["sam2_encoder"]
    assert stats["encodes"] == 10 and stats["hits"] == 0      # every frame of each video encoded once
    # a video met again is served from the cache, without decoding its frames
    second.reads.clear()
    list(reused.propagator.propagate(second, 4, 0, block_seeds()))
    assert reused.stats()["sam2_encoder"]["encodes"] == 10 and second.reads == []
    # the generator: frame 0 of the second video gets its own masks, not the first video's
    gen = backend(model)
    gen.generator.generate(0, first.frames[0])
    assert gen.generator.generate(0, second.frames[0]).rles == backend(model).generator.generate(0, second.frames[0]).rles


def test_generator_and_propagator_encode_a_key_frame_each_with_its_resize(model) -> None:
    b = backend(model)
    src = F.ArraySource(F.clip(4))
    masks = b.generator.generate(0, src.frames[0])
    list(b.propagator.propagate(src, 0, 3, masks.select(np.arange(min(2, len(masks))))))
    st = b.stats()["sam2_encoder"]
    assert st["encodes"] == 5 and st["frames_encoded"] == 4 and st["encoder_passes_per_frame"] == 1.25
    video = encode_video_frame(model, CPU, src.frames[0])
    cached = b.propagator.inner._features(src, source_key(src), 0)
    assert all(torch.equal(a, c) for a, c in zip(video, cached))


# -- full-resolution chunks -----------------------------------------------------------------

def test_full_resolution_work_in_chunks_gives_the_same_masks(model, monkeypatch) -> None:
    src = F.ArraySource(F.clip(4))
    whole = {t: m.rles for t, m in backend(model).propagator.propagate(src, 0, 3, block_seeds())}
    monkeypatch.setattr(propagate, "FULL_RES_CHUNK", 1)
    chunked = {t: m.rles for t, m in backend(model).propagator.propagate(src, 0, 3, block_seeds())}
    assert chunked == whole and all(len(r) == 2 for r in whole.values())


# -- transformers' private API --------------------------------------------------------------

def test_private_transformers_methods_are_called_only_in_the_adapter() -> None:
    root = Path(propagate.__file__).parent
    calls = {}
    for path in sorted(root.glob("*.py")):
        found = re.findall(r"\b(?:m|model|self\.model)\._[a-z]\w*\(", path.read_text())
        if found:
            calls[path.name] = sorted(set(found))
    assert list(calls) == ["hf_sam2.py"], calls
    assert {c.split("._")[1][:-1] for c in calls["hf_sam2.py"]} == {
        "use_multimask", "encode_new_memory", "gather_memory_frame_outputs", "build_memory_attention_inputs",
        "get_object_pointers", "process_object_pointers", "prepare_memory_conditioned_features"}
