"""Names and shapes of Meta's official SAM 2 / SAM checkpoints, without the files.

The one real listing is `data/sam2.1_hiera_tiny.official_keys.tsv` (Meta's sam2 1.1.0 building
sam2.1_hiera_t.yaml). The other SAM 2 sizes differ only in the Hiera trunk and the neck's input
widths, so their listings are that file with the trunk rebuilt from Meta's Hiera rules (one
block per `stages` entry; a block that starts a stage doubles the width and has a `proj`); SAM
2.0 lacks the two SAM 2.1 additions. SAM's listing follows segment-anything's modules
(image_encoder.py, prompt_encoder.py, mask_decoder.py, transformer.py) with shapes written from
their constructor arguments. Shapes here never come from the mapping under test.
"""
from __future__ import annotations

from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
TINY_TSV = DATA / "sam2.1_hiera_tiny.official_keys.tsv"

# Meta's configs: embed_dim, stages, window_pos_embed_bkg_spatial_size (sam2/configs/sam2.1/*.yaml)
HIERA = {"tiny": (96, [1, 2, 7, 2], 7), "small": (96, [1, 2, 11, 2], 7),
         "base-plus": (112, [2, 3, 16, 3], 14), "large": (144, [2, 6, 36, 4], 7)}
SAM21_ONLY = ("no_obj_embed_spatial", "obj_ptr_tpos_proj.weight", "obj_ptr_tpos_proj.bias")
# build_sam.py: encoder_embed_dim, encoder_depth, encoder_num_heads, encoder_global_attn_indexes
VIT = {"vit-b": (768, 12, 12, [2, 5, 8, 11]), "vit-l": (1024, 24, 16, [5, 11, 17, 23]),
       "vit-h": (1280, 32, 16, [7, 15, 23, 31])}


def read_tsv(path: Path) -> dict[str, tuple[int, ...]]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split("\t")
            out[name] = tuple(int(x) for x in shape.split("x")) if shape else ()
    return out


def sam2_shapes(name: str, version: str = "2.1") -> dict[str, tuple[int, ...]]:
    """Official names and shapes of `sam{version}_hiera_{name}`."""
    width, stages, bkg = HIERA[name]
    return sam2_layout(width, stages, bkg, version)


def sam2_layout(width: int, stages: list[int], bkg: int, version: str = "2.1") -> dict[str, tuple[int, ...]]:
    """The tiny listing with its Hiera trunk and neck rebuilt for `width` and `stages`."""
    tiny = read_tsv(TINY_TSV)
    out = {k: v for k, v in tiny.items() if not k.startswith("image_encoder.")}
    if version != "2.1":
        out = {k: v for k, v in out.items() if k not in SAM21_ONLY}
    t = "image_encoder.trunk."
    trunk = {t + "pos_embed": (1, width, bkg, bkg), t + "pos_embed_window": (1, width, 8, 8),
             t + "patch_embed.proj.weight": (width, 3, 7, 7), t + "patch_embed.proj.bias": (width,)}
    starts = {sum(stages[:i]) for i in range(1, len(stages))}
    dim, i = width, 0
    for _ in range(sum(stages)):
        out_dim = dim * 2 if i in starts else dim
        b = f"{t}blocks.{i}."
        trunk.update({b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
                      b + "attn.qkv.weight": (3 * out_dim, dim), b + "attn.qkv.bias": (3 * out_dim,),
                      b + "attn.proj.weight": (out_dim, out_dim), b + "attn.proj.bias": (out_dim,),
                      b + "norm2.weight": (out_dim,), b + "norm2.bias": (out_dim,),
                      b + "mlp.layers.0.weight": (4 * out_dim, out_dim), b + "mlp.layers.0.bias": (4 * out_dim,),
                      b + "mlp.layers.1.weight": (out_dim, 4 * out_dim), b + "mlp.layers.1.bias": (out_dim,)})
        if out_dim != dim:
            trunk.update({b + "proj.weight": (out_dim, dim), b + "proj.bias": (out_dim,)})
        dim, i = out_dim, i + 1
    for level in range(4):  # FPN neck: level 0 takes the deepest (widest) stage
        c = width * 2 ** (3 - level)
        trunk.update({f"image_encoder.neck.convs.{level}.conv.weight": (256, c, 1, 1),
                      f"image_encoder.neck.convs.{level}.conv.bias": (256,)})
    return {**trunk, **out}


def sam1_shapes(width: int, depth: int, heads: int, global_blocks: list[int], window: int = 14, grid: int = 64,
                patch: int = 16, dim: int = 256, mlp: int = 2048, iou_hidden: int = 256) -> dict[str, tuple[int, ...]]:
    """Official names and shapes of a SAM (segment-anything) checkpoint: ViT width/depth/heads,
    prompt/decoder width `dim`, two-way transformer MLP width `mlp`."""
    e, out = "image_encoder.", {}
    out[e + "pos_embed"] = (1, grid, grid, width)
    out[e + "patch_embed.proj.weight"] = (width, 3, patch, patch)
    out[e + "patch_embed.proj.bias"] = (width,)
    for i in range(depth):
        b, span = f"{e}blocks.{i}.", grid if i in global_blocks else window
        out.update({b + "norm1.weight": (width,), b + "norm1.bias": (width,),
                    b + "attn.qkv.weight": (3 * width, width), b + "attn.qkv.bias": (3 * width,),
                    b + "attn.proj.weight": (width, width), b + "attn.proj.bias": (width,),
                    b + "attn.rel_pos_h": (2 * span - 1, width // heads), b + "attn.rel_pos_w": (2 * span - 1, width // heads),
                    b + "norm2.weight": (width,), b + "norm2.bias": (width,),
                    b + "mlp.lin1.weight": (4 * width, width), b + "mlp.lin1.bias": (4 * width,),
                    b + "mlp.lin2.weight": (width, 4 * width), b + "mlp.lin2.bias": (width,)})
    out.update({e + "neck.0.weight": (dim, width, 1, 1), e + "neck.1.weight": (dim,), e + "neck.1.bias": (dim,),
                e + "neck.2.weight": (dim, dim, 3, 3), e + "neck.3.weight": (dim,), e + "neck.3.bias": (dim,)})
    p = "prompt_encoder."
    out[p + "pe_layer.positional_encoding_gaussian_matrix"] = (2, dim // 2)
    out.update({f"{p}point_embeddings.{i}.weight": (1, dim) for i in range(4)})
    out.update({p + "not_a_point_embed.weight": (1, dim), p + "no_mask_embed.weight": (1, dim),
                p + "mask_downscaling.0.weight": (4, 1, 2, 2), p + "mask_downscaling.0.bias": (4,),
                p + "mask_downscaling.1.weight": (4,), p + "mask_downscaling.1.bias": (4,),
                p + "mask_downscaling.3.weight": (16, 4, 2, 2), p + "mask_downscaling.3.bias": (16,),
                p + "mask_downscaling.4.weight": (16,), p + "mask_downscaling.4.bias": (16,),
                p + "mask_downscaling.6.weight": (dim, 16, 1, 1), p + "mask_downscaling.6.bias": (dim,)})
    d = "mask_decoder."

    def attention(prefix: str, inner: int) -> dict[str, tuple[int, ...]]:
        a = {f"{prefix}.{n}_proj.weight": (inner, dim) for n in "qkv"}
        a.update({f"{prefix}.{n}_proj.bias": (inner,) for n in "qkv"})
        a.update({f"{prefix}.out_proj.weight": (dim, inner), f"{prefix}.out_proj.bias": (dim,)})
        return a

    for i in range(2):
        l_ = f"{d}transformer.layers.{i}."
        out.update(attention(l_ + "self_attn", dim))
        out.update(attention(l_ + "cross_attn_token_to_image", dim // 2))
        out.update(attention(l_ + "cross_attn_image_to_token", dim // 2))
        out.update({l_ + "mlp.lin1.weight": (mlp, dim), l_ + "mlp.lin1.bias": (mlp,),
                    l_ + "mlp.lin2.weight": (dim, mlp), l_ + "mlp.lin2.bias": (dim,)})
        out.update({f"{l_}norm{n}.{w}": (dim,) for n in range(1, 5) for w in ("weight", "bias")})
    out.update(attention(d + "transformer.final_attn_token_to_image", dim // 2))
    out.update({d + "transformer.norm_final_attn.weight": (dim,), d + "transformer.norm_final_attn.bias": (dim,),
                d + "iou_token.weight": (1, dim), d + "mask_tokens.weight": (4, dim),
                d + "output_upscaling.0.weight": (dim, dim // 4, 2, 2), d + "output_upscaling.0.bias": (dim // 4,),
                d + "output_upscaling.1.weight": (dim // 4,), d + "output_upscaling.1.bias": (dim // 4,),
                d + "output_upscaling.3.weight": (dim // 4, dim // 8, 2, 2), d + "output_upscaling.3.bias": (dim // 8,)})
    for m in range(4):
        h = f"{d}output_hypernetworks_mlps.{m}.layers."
        out.update({h + "0.weight": (dim, dim), h + "0.bias": (dim,), h + "1.weight": (dim, dim), h + "1.bias": (dim,),
                    h + "2.weight": (dim // 8, dim), h + "2.bias": (dim // 8,)})
    h = d + "iou_prediction_head.layers."
    out.update({h + "0.weight": (iou_hidden, dim), h + "0.bias": (iou_hidden,), h + "1.weight": (iou_hidden, iou_hidden),
                h + "1.bias": (iou_hidden,), h + "2.weight": (4, iou_hidden), h + "2.bias": (4,)})
    return out


def sam1_published(name: str) -> dict[str, tuple[int, ...]]:
    width, depth, heads, global_blocks = VIT[name]
    return sam1_shapes(width, depth, heads, global_blocks)


def sam1_toy(config) -> dict[str, tuple[int, ...]]:  # config: transformers SamConfig
    v, m = config.vision_config, config.mask_decoder_config
    return sam1_shapes(v.hidden_size, v.num_hidden_layers, v.num_attention_heads, list(v.global_attn_indexes),
                       window=v.window_size, grid=v.image_size // v.patch_size, patch=v.patch_size,
                       dim=m.hidden_size, mlp=m.mlp_dim, iou_hidden=m.iou_head_hidden_dim)


def placeholders(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Zero tensors of these shapes that all view one float, so a 39M-parameter layout saves as a
    file of a few kilobytes (enough for the checks that read names and shapes only)."""
    one = torch.zeros(1)
    return {k: one.expand(s) if s else one[0] for k, s in shapes.items()}


def random_state(shapes: dict[str, tuple[int, ...]], seed: int = 0, std: float = 0.02) -> dict[str, torch.Tensor]:
    """Small random values (finite outputs through any depth), deterministic per seed."""
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) * std for k, s in shapes.items()}


def from_transformers(state: dict[str, torch.Tensor], names, family: str) -> dict[str, torch.Tensor]:
    """The inverse of the mapping under test, for a transformers model of any size: each official
    name in `names` that lands on a key of `state` takes that tensor (a SAM 2 point embedding
    takes its row of the merged table); names this model does not have are left out."""
    from everymask.backends.sam.convert import rename

    out = {}
    for name in names:
        if family == "sam2" and name.startswith("sam_prompt_encoder.point_embeddings."):
            row = int(name.split(".")[2])
            out[name] = state["prompt_encoder.point_embed.weight"][row:row + 1].clone()
        elif rename(name, family) in state:
            out[name] = state[rename(name, family)].clone()
    return out
