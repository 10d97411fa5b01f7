"""`.pt` / `.pth` / `.bin` checkpoints -> a transformers state dict, loaded with `weights_only=True`.

`weights_only=True` makes torch's unpickler refuse every global that is not a tensor or a plain
container, so a malicious pickle fails to load instead of running code.

Two layouts load: a transformers state dict (keys as `save_pretrained` writes them) as is, and
Meta's official releases (`sam2.1_hiera_*.pt` and `sam2_hiera_*.pt`, which hold
`{"model": state_dict}`; `sam_vit_*.pth`, a plain state dict) renamed to the transformers layout.
The renames are those of transformers' own conversion scripts (`convert_sam2_video_to_hf.py`,
`convert_sam_to_hf.py`, not shipped in its wheel), kept here as data: substring renames applied
in order, then the layers of small sequential stacks whose index becomes a name. Two tensors
change beyond their name: SAM 2's four point embeddings become one table, and the prompt
encoder's random positional-encoding matrix is also the model-wide one. No tensor is split or
transposed (both libraries keep fused `qkv`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import EverymaskError

# -- the mapping ----------------------------------------------------------------------------

# Substring renames, applied in this order to every key (later entries see earlier results).
# the prompt encoder's mask path and the mask decoder's heads: the same in SAM and SAM 2
_DECODER_RENAMES: tuple[tuple[str, str], ...] = (
    ("iou_prediction_head.layers.0", "iou_prediction_head.proj_in"),
    ("iou_prediction_head.layers.1", "iou_prediction_head.layers.0"),
    ("iou_prediction_head.layers.2", "iou_prediction_head.proj_out"),
    ("mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"),
    ("mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"),
    ("mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"),
    ("mask_downscaling.0", "mask_embed.conv1"),
    ("mask_downscaling.1", "mask_embed.layer_norm1"),
    ("mask_downscaling.3", "mask_embed.conv2"),
    ("mask_downscaling.4", "mask_embed.layer_norm2"),
    ("mask_downscaling.6", "mask_embed.conv3"),
)
SAM2_RENAMES: tuple[tuple[str, str], ...] = _DECODER_RENAMES + (
    ("dwconv", "depthwise_conv"),
    ("pwconv", "pointwise_conv"),
    ("fuser", "memory_fuser"),
    ("point_embeddings", "point_embed"),
    ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    ("obj_ptr_tpos_proj", "temporal_positional_encoding_projection_layer"),
    ("no_obj_embed_spatial", "occlusion_spatial_embedding_parameter"),
    ("sam_prompt_encoder", "prompt_encoder"),
    ("sam_mask_decoder", "mask_decoder"),
    ("maskmem_tpos_enc", "memory_temporal_positional_encoding"),
    ("gamma", "scale"),
    ("image_encoder.neck", "vision_encoder.neck"),
    ("image_encoder", "vision_encoder.backbone"),
    ("pix_feat_proj", "feature_projection"),
    ("patch_embed.proj", "patch_embed.projection"),
    ("no_mem_embed", "no_memory_embedding"),
    ("no_mem_pos_enc", "no_memory_positional_encoding"),
    ("obj_ptr", "object_pointer"),
    (".norm", ".layer_norm"),
    ("trunk.", ""),
    ("memory_encoder.out_proj", "memory_encoder.projection"),
    ("out_proj", "o_proj"),
) + tuple((f"neck.convs.{i}.conv.", f"neck.convs.{i}.") for i in range(4))  # FPN convs lose a level
SAM1_RENAMES: tuple[tuple[str, str], ...] = _DECODER_RENAMES + (
    ("point_embeddings", "point_embed"),
    ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
    ("image_encoder", "vision_encoder"),
    ("neck.0", "neck.conv1"),
    ("neck.1", "neck.layer_norm1"),
    ("neck.2", "neck.conv2"),
    ("neck.3", "neck.layer_norm2"),
    ("patch_embed.proj", "patch_embed.projection"),
    (".norm", ".layer_norm"),
    ("blocks", "layers"),
)

# Small stacks whose layers transformers names: after the renames above, `HEAD` + `layers.I.`
# (`encoder.I.` for the mask downsampler) becomes `HEAD` + names[I] + `.`.
_MLP2 = ("proj_in", "proj_out")
_MLP3 = ("proj_in", "layers.0", "proj_out")  # first and last named, the middle one stays in a list
# Meta's mask downsampler is one Sequential of (conv, layer norm, GELU) x 4 and a final 1x1 conv
_DOWNSAMPLER = tuple(n for k in range(4) for n in (f"layers.{k}.conv", f"layers.{k}.layer_norm", "")) + ("final_conv",)
SAM2_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"(?P<head>vision_encoder\.backbone\.blocks\.\d+\.mlp\.)layers\.(?P<i>\d+)\.", _MLP2),
    (r"(?P<head>mask_decoder\.transformer\.layers\.\d+\.mlp\.)layers\.(?P<i>\d+)\.", _MLP2),
    (r"(?P<head>mask_decoder\.pred_obj_score_head\.)layers\.(?P<i>\d+)\.", _MLP3),
    (r"(?P<head>mask_decoder\.output_hypernetworks_mlps\.\d+\.)layers\.(?P<i>\d+)\.", _MLP3),
    (r"(?P<head>object_pointer_proj\.)layers\.(?P<i>\d+)\.", _MLP3),
    (r"(?P<head>memory_encoder\.mask_downsampler\.)encoder\.(?P<i>\d+)\.", _DOWNSAMPLER),
)
SAM1_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"(?P<head>mask_decoder\.output_hypernetworks_mlps\.\d+\.)layers\.(?P<i>\d+)\.", _MLP3),
)
# Meta's SAM keeps its pixel normalisation constants as buffers; transformers' processor owns them
SAM1_DROPPED = ("pixel_mean", "pixel_std")
POSITIONAL = "prompt_encoder.shared_embedding.positional_embedding"
SHARED_POSITIONAL = "shared_image_embedding.positional_embedding"


def rename(key: str, family: str) -> str:
    """One official key -> its transformers name."""
    renames, layers = (SAM2_RENAMES, SAM2_LAYERS) if family == "sam2" else (SAM1_RENAMES, SAM1_LAYERS)
    for old, new in renames:
        key = key.replace(old, new)
    for pattern, names in layers:
        key = re.sub(pattern, lambda m: f"{m['head']}{names[int(m['i'])]}.", key)
    return key


def to_transformers(state: dict[str, torch.Tensor], family: str) -> dict[str, torch.Tensor]:
    """An official state dict under transformers' names, with the two merged/copied tensors."""
    out = {rename(k, family): v for k, v in state.items() if k not in SAM1_DROPPED}
    if family == "sam2":  # SAM 2 in transformers keeps the 4 point-label embeddings as rows of one table
        rows = [out.pop(f"prompt_encoder.point_embed.{i}.weight") for i in range(4)]
        out["prompt_encoder.point_embed.weight"] = torch.cat(rows, dim=0)
    out[SHARED_POSITIONAL] = out[POSITIONAL]
    return out


# -- which official model a file is ---------------------------------------------------------

# (image-encoder blocks, patch-embedding width) -> `--model` name; SAM 2.0 and 2.1 share them
SAM2_SIZES = {(12, 96): "tiny", (16, 96): "small", (24, 112): "base-plus", (48, 144): "large"}
SAM1_SIZES = {(12, 768): "vit-b", (24, 1024): "vit-l", (32, 1280): "vit-h"}
KINDS = {"sam2": "SAM 2", "sam": "SAM"}
# the file names Meta publishes, for messages
RELEASES = {"tiny": "hiera_tiny", "small": "hiera_small", "base-plus": "hiera_base_plus", "large": "hiera_large",
            "vit-b": "sam_vit_b_01ec64", "vit-l": "sam_vit_l_0b3195", "vit-h": "sam_vit_h_4b8939"}
# SAM 2.1 added a learned occlusion embedding and projected temporal encodings of object pointers;
# a SAM 2.0 file has neither, and transformers builds the 2.0 model with these two switches off
SAM20_CONFIG = {"enable_temporal_pos_encoding_for_object_pointers": False, "enable_occlusion_spatial_embedding": False}


@dataclass(frozen=True)
class Official:
    """What an official checkpoint is: `family` "sam2" | "sam", `name` as `--model` spells it."""
    family: str
    name: str
    version: str                    # "2.1", "2" (SAM 2.0) or "1" (SAM)
    config_changes: dict            # switches on top of the published architecture of `name`

    @property
    def release(self) -> str:
        """Meta's file name, e.g. sam2.1_hiera_tiny, sam_vit_h_4b8939."""
        return RELEASES[self.name] if self.family == "sam" else f"sam{self.version}_{RELEASES[self.name]}"

    @property
    def kind(self) -> str:
        return KINDS[self.family]


def identify(state: dict[str, torch.Tensor], where: str) -> Official | None:
    """The official model a state dict in Meta's layout is, from its depth and width; None when
    the keys are not Meta's (a transformers state dict)."""
    if "image_encoder.trunk.patch_embed.proj.weight" in state:
        family, prefix, sizes = "sam2", "image_encoder.trunk.blocks.", SAM2_SIZES
        width = state["image_encoder.trunk.patch_embed.proj.weight"].shape[0]
    elif "image_encoder.patch_embed.proj.weight" in state:
        family, prefix, sizes = "sam", "image_encoder.blocks.", SAM1_SIZES
        width = state["image_encoder.patch_embed.proj.weight"].shape[0]
    else:
        return None
    depth = len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})
    name = sizes.get((depth, int(width)))
    if name is None:
        kind = KINDS[family]
        known = ", ".join(f"{n} ({d} x {w})" for (d, w), n in sizes.items())
        raise EverymaskError(f"{where}: an official-layout {kind} checkpoint of no published size ({depth} blocks "
                             f"of width {width}; known: {known})")
    if family == "sam":
        return Official("sam", name, "1", {})
    if "no_obj_embed_spatial" in state:
        return Official("sam2", name, "2.1", {})
    return Official("sam2", name, "2", dict(SAM20_CONFIG))


# -- reading a file without unpickling code ---------------------------------------------------

def load_pt(path: Path) -> dict[str, torch.Tensor]:
    """A `.pt`/`.pth`/`.bin` state dict of tensors (unwrapping Meta's `{"model": ...}`), read with
    `weights_only=True` so that nothing in the file can run."""
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch's weights-only unpickler raises UnpicklingError, RuntimeError, ...
        text = str(e)
        found = re.search(r"(?i)unsupported global:? (?:GLOBAL )?[\w.]+|unsupported operand \d+|unsupported class [\w.]+", text)
        why = found.group(0) if found else (text.strip().splitlines() or [type(e).__name__])[0][:120]
        raise EverymaskError(f"--checkpoint {path}: refused to load: not a plain tensor state dict, it would "
                             f"need to run or import code ({why}); nothing from it was executed") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EverymaskError(f"--checkpoint {path}: not a state dict of tensors")
    return obj


def save_safetensors(state: dict[str, torch.Tensor], out: Path) -> None:
    """Write `state` as safetensors; tensors that share storage (the copied positional matrix) are
    cloned, as safetensors refuses shared memory."""
    from safetensors.torch import save_file

    seen: set[int] = set()
    flat = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else id(v)
        flat[k] = v.contiguous() if ptr not in seen else v.clone().contiguous()
        seen.add(ptr)
    save_file(flat, str(out))
