"""Meta's official SAM 2 / SAM checkpoints through `--checkpoint`, without the real files.

The names and shapes of a real sam2.1_hiera_tiny.pt are in data/; the other sizes, SAM 2.0 and
SAM are rebuilt from Meta's module rules (official_layout.py), never from the mapping under
test. Files are written the way Meta ships them ({"model": state_dict} .pt, plain .pth) and
loaded through the path a user takes.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import sam_fixtures as F  # noqa: E402  - skips (or, with EVERYMASK_REQUIRE_TORCH=1, fails) without torch
from sam_fixtures import one_thread  # noqa: E402,F401  - autouse: one torch thread for the module
import official_layout as L  # noqa: E402

torch = F.torch

from everymask.backends import load_backend  # noqa: E402
from everymask.backends.sam import convert  # noqa: E402
from everymask.backends.sam import models as sam_models  # noqa: E402
from everymask.config import RunConfig, RuntimeOptions  # noqa: E402
from everymask.errors import EverymaskError  # noqa: E402

CPU = RuntimeOptions(device="cpu", feature_cache_mb=64)
GEN = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))


def expected_shapes(family: str, name: str, changes: dict | None = None) -> dict[str, tuple[int, ...]]:
    cfg = sam_models.architecture(family, name)
    for k, v in (changes or {}).items():
        setattr(cfg, k, v)
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in sam_models._model_class(family)(cfg).state_dict().items()}


# -- the mapping ----------------------------------------------------------------------------

def test_official_tiny_keys_fit_the_transformers_models() -> None:
    from transformers import Sam2Config, Sam2Model

    official = L.read_tsv(L.TINY_TSV)
    model = expected_shapes("sam2", "tiny")
    assert (len(official), len(model)) == (471, 469)
    merged = {f"sam_prompt_encoder.point_embeddings.{i}.weight" for i in range(4)}
    for name, shape in official.items():
        new = convert.rename(name, "sam2")
        if name in merged:
            assert new == f"prompt_encoder.point_embed.{name.split('.')[2]}.weight" and shape == (1, 256)
        else:
            assert model.get(new) == shape, (name, new, shape, model.get(new))
    assert model["prompt_encoder.point_embed.weight"] == (4, 256)
    converted = convert.to_transformers({k: torch.empty(s, device="meta") for k, s in official.items()}, "sam2")
    assert {k: tuple(v.shape) for k, v in converted.items()} == model
    # the image-only model is the video model's image path: the same names, a subset
    with torch.device("meta"):
        image = Sam2Model(Sam2Config(vision_config=sam_models.architecture("sam2", "tiny").vision_config))
    image_shapes = {k: tuple(v.shape) for k, v in image.state_dict().items()}
    assert len(image_shapes) == 309 and all(model[k] == s for k, s in image_shapes.items())


# Written from transformers' convert_sam2_video_to_hf.py / convert_sam_to_hf.py by hand, not from
# convert.py's table: a rename that lands on another real key of the same shape would pass the
# shape checks above, not this one.
SPOT_CHECKS = {
    "sam2": {
        "image_encoder.trunk.blocks.0.mlp.layers.1.weight": "vision_encoder.backbone.blocks.0.mlp.proj_out.weight",
        "image_encoder.trunk.blocks.3.norm1.bias": "vision_encoder.backbone.blocks.3.layer_norm1.bias",
        "image_encoder.trunk.blocks.3.proj.weight": "vision_encoder.backbone.blocks.3.proj.weight",
        "image_encoder.trunk.patch_embed.proj.weight": "vision_encoder.backbone.patch_embed.projection.weight",
        "image_encoder.trunk.pos_embed_window": "vision_encoder.backbone.pos_embed_window",
        "image_encoder.neck.convs.1.conv.bias": "vision_encoder.neck.convs.1.bias",
        "sam_mask_decoder.transformer.layers.0.mlp.layers.1.weight": "mask_decoder.transformer.layers.0.mlp.proj_out.weight",
        "sam_mask_decoder.pred_obj_score_head.layers.1.weight": "mask_decoder.pred_obj_score_head.layers.0.weight",
        "sam_mask_decoder.output_hypernetworks_mlps.2.layers.2.bias": "mask_decoder.output_hypernetworks_mlps.2.proj_out.bias",
        "sam_mask_decoder.iou_prediction_head.layers.0.weight": "mask_decoder.iou_prediction_head.proj_in.weight",
        "sam_mask_decoder.output_upscaling.1.weight": "mask_decoder.upscale_layer_norm.weight",
        "sam_mask_decoder.transformer.layers.1.cross_attn_token_to_image.out_proj.weight":
            "mask_decoder.transformer.layers.1.cross_attn_token_to_image.o_proj.weight",
        "sam_mask_decoder.transformer.norm_final_attn.weight": "mask_decoder.transformer.layer_norm_final_attn.weight",
        "sam_mask_decoder.conv_s0.weight": "mask_decoder.conv_s0.weight",
        "sam_prompt_encoder.mask_downscaling.4.bias": "prompt_encoder.mask_embed.layer_norm2.bias",
        "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": "prompt_encoder.shared_embedding.positional_embedding",
        "memory_encoder.out_proj.weight": "memory_encoder.projection.weight",
        "memory_encoder.mask_downsampler.encoder.12.weight": "memory_encoder.mask_downsampler.final_conv.weight",
        "memory_encoder.mask_downsampler.encoder.7.bias": "memory_encoder.mask_downsampler.layers.2.layer_norm.bias",
        "memory_encoder.fuser.layers.1.gamma": "memory_encoder.memory_fuser.layers.1.scale",
        "memory_encoder.fuser.layers.0.dwconv.weight": "memory_encoder.memory_fuser.layers.0.depthwise_conv.weight",
        "memory_encoder.fuser.layers.0.pwconv2.bias": "memory_encoder.memory_fuser.layers.0.pointwise_conv2.bias",
        "memory_encoder.pix_feat_proj.bias": "memory_encoder.feature_projection.bias",
        "memory_attention.layers.2.cross_attn_image.out_proj.bias": "memory_attention.layers.2.cross_attn_image.o_proj.bias",
        "memory_attention.layers.0.linear1.weight": "memory_attention.layers.0.linear1.weight",
        "memory_attention.norm.weight": "memory_attention.layer_norm.weight",
        "obj_ptr_proj.layers.2.weight": "object_pointer_proj.proj_out.weight",
        "obj_ptr_tpos_proj.bias": "temporal_positional_encoding_projection_layer.bias",
        "no_obj_ptr": "no_object_pointer",
        "no_obj_embed_spatial": "occlusion_spatial_embedding_parameter",
        "maskmem_tpos_enc": "memory_temporal_positional_encoding",
        "no_mem_pos_enc": "no_memory_positional_encoding",
        "mask_downsample.weight": "mask_downsample.weight",
    },
    "sam": {
        "image_encoder.blocks.5.attn.rel_pos_h": "vision_encoder.layers.5.attn.rel_pos_h",
        "image_encoder.blocks.0.attn.qkv.weight": "vision_encoder.layers.0.attn.qkv.weight",
        "image_encoder.blocks.0.mlp.lin2.bias": "vision_encoder.layers.0.mlp.lin2.bias",
        "image_encoder.neck.1.weight": "vision_encoder.neck.layer_norm1.weight",
        "image_encoder.neck.2.weight": "vision_encoder.neck.conv2.weight",
        "mask_decoder.output_hypernetworks_mlps.3.layers.1.weight": "mask_decoder.output_hypernetworks_mlps.3.layers.0.weight",
        "mask_decoder.iou_prediction_head.layers.2.bias": "mask_decoder.iou_prediction_head.proj_out.bias",
        "mask_decoder.transformer.layers.0.norm4.weight": "mask_decoder.transformer.layers.0.layer_norm4.weight",
        "prompt_encoder.point_embeddings.2.weight": "prompt_encoder.point_embed.2.weight",
        "prompt_encoder.mask_downscaling.6.bias": "prompt_encoder.mask_embed.conv3.bias",
    },
}


@pytest.mark.parametrize("family", ["sam2", "sam"])
def test_renames_are_transformers_own(family: str) -> None:
    model = expected_shapes(family, "tiny" if family == "sam2" else "vit-b")
    for official, theirs in SPOT_CHECKS[family].items():
        assert convert.rename(official, family) == theirs
        assert theirs in model


@pytest.mark.parametrize("family,name,version", [("sam2", n, v) for n in L.HIERA for v in ("2.1", "2")]
                         + [("sam", n, "1") for n in L.VIT])
def test_every_published_checkpoint_is_identified_and_fits(family: str, name: str, version: str) -> None:
    shapes = L.sam2_shapes(name, version) if family == "sam2" else L.sam1_published(name)
    state = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    found = convert.identify(state, "x")
    assert (found.family, found.name, found.version) == (family, name, version)
    release = {"tiny": "hiera_tiny", "small": "hiera_small", "base-plus": "hiera_base_plus", "large": "hiera_large"}
    assert found.release == (f"sam{version}_{release[name]}" if family == "sam2" else
                             {"vit-b": "sam_vit_b_01ec64", "vit-l": "sam_vit_l_0b3195", "vit-h": "sam_vit_h_4b8939"}[name])
    converted = {k: tuple(v.shape) for k, v in convert.to_transformers(state, family).items()}
    assert converted == expected_shapes(family, name, found.config_changes)
    if version == "2":  # SAM 2.0: no occlusion embedding, no projection of temporal encodings
        assert found.config_changes == {"enable_temporal_pos_encoding_for_object_pointers": False,
                                        "enable_occlusion_spatial_embedding": False}


def test_transformers_layout_is_not_mistaken_for_official() -> None:
    with torch.device("meta"):
        for family, config in (("sam2", F.tiny_sam2_config()), ("sam", F.tiny_sam1_config())):
            assert convert.identify(sam_models._model_class(family)(config).state_dict(), "x") is None


# -- through --checkpoint ---------------------------------------------------------------------

def toy_sam2(version: str, seed: int = 0) -> torch.nn.Module:
    cfg = F.tiny_sam2_config()
    if version == "2":
        for k, v in convert.SAM20_CONFIG.items():
            setattr(cfg, k, v)
    torch.manual_seed(seed)
    model = sam_models._model_class("sam2")(cfg)
    with torch.no_grad():  # as sam_fixtures.build: keep every object visible under random weights
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(5.0)
        # Meta's model has one random positional matrix; a random transformers model draws two
        model.shared_image_embedding.positional_embedding.copy_(model.prompt_encoder.shared_embedding.positional_embedding)
    return model.eval()


def toy_official_names(version: str) -> list[str]:
    hiera = F.tiny_sam2_config().vision_config.backbone_config
    return list(L.sam2_layout(hiera.hidden_size, hiera.blocks_per_stage, 4, version))  # names only


@pytest.fixture
def toy_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The toy models as if they were published sizes: `--model tiny` / `vit-b` build them."""
    monkeypatch.setattr(sam_models, "architecture",
                        lambda family, name: F.tiny_sam2_config() if family == "sam2" else F.tiny_sam1_config())
    hiera, vit = F.tiny_sam2_config().vision_config.backbone_config, F.tiny_sam1_config().vision_config
    monkeypatch.setitem(convert.SAM2_SIZES, (sum(hiera.blocks_per_stage), hiera.hidden_size), "tiny")
    monkeypatch.setitem(convert.SAM1_SIZES, (vit.num_hidden_layers, vit.hidden_size), "vit-b")


def outputs(b, frames) -> tuple[list, list]:
    masks = b.generator.generate(0, frames[0])
    tracked = [m.rles for _, m in b.propagator.propagate(F.ArraySource(frames), 0, 3, masks.select(list(range(min(3, len(masks))))))]
    return masks.rles, tracked


@pytest.mark.parametrize("version", ["2.1", "2"])
def test_official_sam2_file_round_trips(version: str, toy_sizes, tmp_path: Path, monkeypatch) -> None:
    import tempfile

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    model = toy_sam2(version)
    ref = F.save_folder(model, tmp_path / "ref")
    official = L.from_transformers(model.state_dict(), toy_official_names(version), "sam2")
    assert ("no_obj_embed_spatial" in official) == (version == "2.1")
    pt = tmp_path / f"sam{version}_hiera_toy.pt"
    torch.save({"model": official}, pt)
    loaded = load_backend(RunConfig(backend="sam2", model="tiny", checkpoint=str(pt), **GEN), CPU)
    assert list(temp.iterdir()) == []  # the converted copy is gone once loaded
    got = loaded.propagator.inner.model.state_dict()
    want = model.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    frames = F.clip(4)
    ours = outputs(loaded, frames)
    theirs = outputs(load_backend(RunConfig(backend="sam2", model="tiny", checkpoint=str(ref), **GEN), CPU), frames)
    assert len(ours[0]) > 0 and len(ours[1]) == 3 and ours == theirs


def test_official_sam1_file_round_trips(toy_sizes, tmp_path: Path) -> None:
    sam1, sam2 = F.build("sam"), F.build("sam2")
    shapes = L.sam1_toy(sam1.config)
    official = L.from_transformers(sam1.state_dict(), shapes, "sam")
    # every official name found its tensor, and the shapes Meta's modules give are the model's
    assert {k: tuple(v.shape) for k, v in official.items()} == shapes
    pth = tmp_path / "sam_vit_toy.pth"
    torch.save(official, pth)  # SAM's releases are a plain state dict
    sam2_folder = F.save_folder(sam2, tmp_path / "sam2")
    ckpt = f"{pth}{os.pathsep}{sam2_folder}"
    loaded = load_backend(RunConfig(backend="sam", model="vit-b+tiny", checkpoint=ckpt, **GEN), CPU)
    ref = load_backend(RunConfig(backend="sam", model="vit-b+tiny",
                                 checkpoint=f"{F.save_folder(sam1, tmp_path / 'sam1')}{os.pathsep}{sam2_folder}", **GEN), CPU)
    got, want = loaded.generator.inner.prompter.model.state_dict(), sam1.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    frame = F.clip(1)[0]
    ours, theirs = loaded.generator.generate(0, frame), ref.generator.generate(0, frame)
    assert len(ours) > 0 and ours.rles == theirs.rles and ours.scores.tolist() == theirs.scores.tolist()


def test_damaged_official_file_fails_the_encoder_check(toy_sizes, tmp_path: Path) -> None:
    model = toy_sam2("2.1")
    official = L.from_transformers(model.state_dict(), toy_official_names("2.1"), "sam2")
    official["image_encoder.trunk.blocks.0.attn.qkv.weight"][0, 0] = float("nan")
    pt = tmp_path / "damaged.pt"
    torch.save({"model": official}, pt)
    with pytest.raises(EverymaskError) as e:
        load_backend(RunConfig(backend="sam2", model="tiny", checkpoint=str(pt)), CPU)
    assert str(e.value) == (f"--checkpoint {pt}: the weights load but the image encoder gives NaN or inf values "
                            f"on a test image; the file is damaged or not a released checkpoint")


def test_wrong_official_model_is_a_one_line_error(tmp_path: Path) -> None:
    def file(shapes: dict, name: str, wrap: bool = True) -> Path:
        path = tmp_path / name
        state = L.placeholders(shapes)
        torch.save({"model": state} if wrap else state, path)
        assert path.stat().st_size < 200_000  # names and shapes only
        return path

    tiny = file(L.sam2_shapes("tiny"), "sam2.1_hiera_tiny.pt")
    small20 = file(L.sam2_shapes("small", "2"), "sam2_hiera_small.pt")
    vit_b = file(L.sam1_published("vit-b"), "sam_vit_b_01ec64.pth", wrap=False)
    odd = file({k: v for k, v in L.sam2_shapes("tiny").items() if ".blocks.11." not in k}, "odd.pt")
    cases = [
        (dict(backend="sam2", checkpoint=str(tiny)),
         f"--checkpoint {tiny}: weights do not fit facebook/sam2.1-hiera-large (Meta's sam2.1_hiera_tiny); "
         f"it looks like --model tiny"),
        (dict(backend="sam2", model="tiny", checkpoint=str(small20)),
         f"--checkpoint {small20}: weights do not fit facebook/sam2.1-hiera-tiny (Meta's sam2_hiera_small); "
         f"it looks like --model small"),
        (dict(backend="sam2", model="tiny", checkpoint=str(vit_b)),
         f"--checkpoint {vit_b}: weights do not fit facebook/sam2.1-hiera-tiny (Meta's sam_vit_b_01ec64); "
         f"it looks like --model vit-b, a SAM model"),
        (dict(backend="sam", model="vit-h", checkpoint=str(tiny)),
         f"--checkpoint {tiny}: weights do not fit facebook/sam-vit-huge (Meta's sam2.1_hiera_tiny); "
         f"it looks like --model tiny, a SAM 2 model"),
        (dict(backend="sam2", model="tiny", checkpoint=str(odd)),
         f"--checkpoint {odd}: an official-layout SAM 2 checkpoint of no published size (11 blocks of width 96; "
         f"known: tiny (12 x 96), small (16 x 96), base-plus (24 x 112), large (48 x 144))"),
    ]
    for kw, text in cases:
        with pytest.raises(EverymaskError) as e:
            load_backend(RunConfig(**kw), CPU)
        assert str(e.value) == text


@pytest.mark.slow  # a 39M-parameter model and one 1024x1024 encoder pass (~10 s on a shared CPU)
def test_official_tiny_sized_file_round_trips(tmp_path: Path) -> None:
    """The real hiera-tiny layout (names and shapes of data/*.tsv), random small values."""
    official = L.random_state(L.read_tsv(L.TINY_TSV), seed=3)
    pt = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": official}, pt)
    loaded = sam_models.load_model(sam_models.spec("sam2", "tiny"), str(pt), torch.device("cpu"))
    direct = sam_models._model_class("sam2")(sam_models.architecture("sam2", "tiny")).eval()
    direct.load_state_dict(convert.to_transformers(official, "sam2"), strict=True)
    got, want = loaded.state_dict(), direct.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert torch.equal(got["prompt_encoder.point_embed.weight"][2],
                       official["sam_prompt_encoder.point_embeddings.2.weight"][0])
    # the prompt path (prompt encoder + mask decoder) on fixed embeddings: the same outputs
    g = torch.Generator().manual_seed(0)
    high = [torch.randn(1, 32, 256, 256, generator=g), torch.randn(1, 64, 128, 128, generator=g)]
    emb = torch.randn(1, 256, 64, 64, generator=g)
    points, labels = torch.tensor([[[[300.0, 400.0]], [[700.0, 100.0]]]]), torch.ones(1, 2, 1, dtype=torch.int32)
    results = []
    with torch.inference_mode():
        for m in (loaded, direct):
            sparse, dense = m.prompt_encoder(input_points=points, input_labels=labels, input_boxes=None, input_masks=None)
            low, iou, _, _ = m.mask_decoder(image_embeddings=emb, image_positional_embeddings=m.get_image_wide_positional_embeddings(),
                                            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                            multimask_output=True, high_resolution_features=high)
            results.append((low, iou))
    (a, ai), (b, bi) = results
    assert a.shape == (1, 2, 3, 256, 256) and torch.isfinite(a).all()
    assert torch.equal(a, b) and torch.equal(ai, bi)
