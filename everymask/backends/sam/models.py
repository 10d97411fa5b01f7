"""Model names -> Hugging Face hub ids, finding the weights, and loading them without unpickling.

Every way in (a hub id in the local cache, a download, a hub-style folder, a lone `.safetensors`,
a `.pt` state dict, Meta's official `.pt`/`.pth` renamed by `convert`) ends in the same place: a
folder with `config.json` and safetensors weights, checked key by key and shape by shape against
the architecture *before* transformers sees it. That check matters because `from_pretrained` only
warns about missing keys and fills them with random numbers: a wrong file would otherwise run and
produce plausible-looking garbage.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

import torch

from ...errors import EverymaskError

from .names import (DEFAULT_SAM1, DEFAULT_SAM2, SAM1_MODELS, SAM2_MODELS, WEIGHT_FILES, find_cached,
                        hub_cache_dir)


@dataclass(frozen=True)
class ModelSpec:
    family: str          # "sam2" | "sam"
    name: str            # tiny ... vit-h, or "custom" for a checkpoint with its own config
    hub_id: str


def spec(family: str, name: str) -> ModelSpec:
    """Resolve a `--model` name within a family, naming the choices when it is unknown."""
    table = SAM2_MODELS if family == "sam2" else SAM1_MODELS
    name = name or (DEFAULT_SAM2 if family == "sam2" else DEFAULT_SAM1)
    if name not in table:
        other = SAM1_MODELS if family == "sam2" else SAM2_MODELS
        hint = ""
        if name in other:
            hint = " (that is a SAM model: use --backend sam)" if family == "sam2" else \
                f" (that is a SAM 2.1 model: use --backend sam2, or --model vit-h+{name} to propagate with it)"
        raise EverymaskError(f"--model {name!r} is not a {'SAM 2.1' if family == 'sam2' else 'SAM'} model{hint}; "
                             f"choose one of {', '.join(table)}")
    return ModelSpec(family, name, table[name])


def architecture(family: str, name: str):  # -> PretrainedConfig
    """The published architecture of a named model, for random-weight timing and for checkpoints
    that come as a lone weights file with no config."""
    from transformers import SamConfig, SamVisionConfig, Sam2HieraDetConfig, Sam2VideoConfig, Sam2VisionConfig

    if family == "sam":
        dims = {"vit-b": (768, 12, 12, [2, 5, 8, 11]), "vit-l": (1024, 24, 16, [5, 11, 17, 23]),
                "vit-h": (1280, 32, 16, [7, 15, 23, 31])}[name]
        return SamConfig(vision_config=SamVisionConfig(hidden_size=dims[0], num_hidden_layers=dims[1],
                                                       num_attention_heads=dims[2], global_attn_indexes=dims[3]))
    hiera: dict[str, Any] = {
        "tiny": {},
        "small": {"blocks_per_stage": [1, 2, 11, 2], "global_attention_blocks": [7, 10, 13]},
        "base-plus": {"hidden_size": 112, "embed_dim_per_stage": [112, 224, 448, 896],
                      "num_attention_heads_per_stage": [2, 4, 8, 16], "blocks_per_stage": [2, 3, 16, 3],
                      "global_attention_blocks": [12, 16, 20], "window_positional_embedding_background_size": [14, 14]},
        "large": {"hidden_size": 144, "embed_dim_per_stage": [144, 288, 576, 1152],
                  "num_attention_heads_per_stage": [2, 4, 8, 16], "blocks_per_stage": [2, 6, 36, 4],
                  "global_attention_blocks": [23, 33, 43], "window_size_per_stage": [8, 4, 16, 8]},
    }[name]
    channels = list(reversed(hiera.get("embed_dim_per_stage", [96, 192, 384, 768])))
    vision = Sam2VisionConfig(backbone_config=Sam2HieraDetConfig(**hiera), backbone_channel_list=channels)
    return Sam2VideoConfig(vision_config=vision)


# -- device ---------------------------------------------------------------------------------

def pick_device(requested: str) -> torch.device:
    """`auto` takes CUDA, then Apple MPS, then CPU; an explicit device that is absent is an error."""
    requested = (requested or "auto").lower()
    cuda, mps = torch.cuda.is_available(), bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if requested == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if requested == "cpu" or requested.startswith("cuda") and cuda or requested == "mps" and mps:
        return torch.device(requested)
    if requested.startswith("cuda") or requested == "mps":
        raise EverymaskError(f"--device {requested}: no such device here (torch sees "
                             f"{'cuda' if cuda else 'no cuda'}, {'mps' if mps else 'no mps'}); use --device cpu or auto")
    raise EverymaskError(f"--device {requested!r} is invalid: choose auto, cpu, cuda or mps")


def autocast(device: torch.device) -> ContextManager:
    """bf16 autocast on CUDA (SAM 2 was trained for it, about 2x faster); fp32 everywhere else,
    because CPU bf16 matmuls are slow on most CPUs and MPS bf16 support is partial."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


# -- finding weights ------------------------------------------------------------------------

def download(hub_id: str, cache: Path) -> Path | None:
    """Fetch config and safetensors weights when the network allows; None when offline or failing."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hub_id, cache_dir=str(cache), allow_patterns=["config.json", "*.safetensors",
                                                                                     "*.safetensors.index.json"]))
    except Exception:  # any network / auth / disk failure ends in the one-line error below
        return None


def locate(ms: ModelSpec, checkpoint: str = "") -> Path:
    """A folder holding config.json + safetensors for the model (for a lone file: a temp folder)."""
    if checkpoint:
        return from_checkpoint(ms, Path(checkpoint).expanduser())
    cache = hub_cache_dir()
    found = find_cached(ms.hub_id, cache) or download(ms.hub_id, cache)
    if found is None or not (found / "config.json").is_file():
        raise EverymaskError(f"no weights for {ms.hub_id}: not in the Hugging Face cache {cache} and it could not "
                             f"be downloaded; connect once to download it, or pass --checkpoint PATH "
                             f"(a hub folder or a .safetensors file)")
    return found


def from_checkpoint(ms: ModelSpec, path: Path) -> Path:
    """`--checkpoint`: a hub folder, a lone `.safetensors`, or a `.pt`/`.pth`/`.bin` state dict."""
    if not path.exists():
        raise EverymaskError(f"--checkpoint {path}: no such file or folder")
    if path.is_dir():
        if not (path / "config.json").is_file() or not any((path / f).is_file() for f in WEIGHT_FILES):
            raise EverymaskError(f"--checkpoint {path}: a checkpoint folder needs config.json and model.safetensors")
        return path
    config = path.parent / "config.json"
    if path.suffix == ".safetensors":
        cfg = _read_json(config) if config.is_file() else architecture(ms.family, ms.name).to_dict()
        return _folder_for(cfg, weights=path)
    if path.suffix in (".pt", ".pth", ".bin"):
        return _from_state_dict(ms, path, config)
    raise EverymaskError(f"--checkpoint {path}: unknown kind of file; give a hub folder, a .safetensors file "
                         f"or a .pt state dict")


def _from_state_dict(ms: ModelSpec, path: Path, config: Path) -> Path:
    """A `.pt` state dict, in transformers' layout or Meta's official one (renamed by `convert`)."""
    from .convert import identify, load_pt, save_safetensors, to_transformers

    where = f"--checkpoint {path}"
    state = load_pt(path)
    official = identify(state, where)
    if official is None:
        cfg = _read_json(config) if config.is_file() else architecture(ms.family, ms.name).to_dict()
    else:
        if (official.family, official.name) != (ms.family, ms.name):
            other = "" if official.family == ms.family else f", a {official.kind} model"
            raise EverymaskError(f"{where}: weights do not fit {ms.hub_id} (Meta's {official.release}); "
                                 f"it looks like --model {official.name}{other}")
        state = to_transformers(state, official.family)
        cfg = {**architecture(ms.family, ms.name).to_dict(), **official.config_changes}
    folder = Path(tempfile.mkdtemp(prefix="everymask-ckpt-"))
    save_safetensors(state, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EverymaskError(f"{path}: not a readable model config ({e})") from None


def _folder_for(config: dict, weights: Path) -> Path:
    """A temp folder with the config and a link to the weights, so a lone file loads as a folder."""
    folder = Path(tempfile.mkdtemp(prefix="everymask-ckpt-"))
    (folder / "config.json").write_text(json.dumps(config))
    try:
        (folder / "model.safetensors").symlink_to(weights.resolve())
    except OSError:  # file systems without symlinks
        shutil.copyfile(weights, folder / "model.safetensors")
    return folder


# -- loading --------------------------------------------------------------------------------

def _checkpoint_shapes(folder: Path, where: str) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    index = folder / "model.safetensors.index.json"
    files = sorted(set(_read_json(index)["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    shapes: dict[str, tuple[int, ...]] = {}
    for name in files:
        try:
            with safe_open(str(folder / name), framework="pt") as f:
                for key in f.keys():
                    shapes[key] = tuple(f.get_slice(key).get_shape())
        except Exception as e:  # safetensors raises its own error types for non-safetensors bytes
            raise EverymaskError(f"{where}: not a safetensors weights file ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:120] if str(e) else 'unreadable'})") from None
    return shapes


def _guess_size(family: str, shapes: dict[str, tuple[int, ...]]) -> str:
    """Which published model a weights file is, from its width and depth, for the error message."""
    for name in (SAM2_MODELS if family == "sam2" else SAM1_MODELS):
        cfg = architecture(family, name)
        with torch.device("meta"):
            expected = _model_class(family)(cfg).state_dict()
        if all(shapes.get(k) == tuple(v.shape) for k, v in expected.items() if k in shapes) and \
                sum(k in shapes for k in expected) >= len(expected) - 2:
            return name
    return ""


def _model_class(family: str):
    from transformers import Sam2VideoModel, SamModel

    return Sam2VideoModel if family == "sam2" else SamModel


def validate(folder: Path, ms: ModelSpec, where: str) -> Any:
    """Check config type and every weight's name and shape against the architecture; return config."""
    from transformers import AutoConfig

    raw = _read_json(folder / "config.json")
    want = "sam2_video" if ms.family == "sam2" else "sam"
    if raw.get("model_type") != want:
        kind = raw.get("model_type", "no model_type")
        extra = " (an image-only SAM 2 checkpoint has no video memory: use a sam2.1-hiera video checkpoint)" \
            if kind == "sam2" else ""
        raise EverymaskError(f"{where}: a {kind} checkpoint where a {want} one was expected{extra}")
    config = AutoConfig.from_pretrained(str(folder))
    shapes = _checkpoint_shapes(folder, where)
    with torch.device("meta"):
        expected = _model_class(ms.family)(config).state_dict()
    tied = {"prompt_encoder.shared_embedding.positional_embedding", "shared_image_embedding.positional_embedding"}
    missing = [k for k in expected if k not in shapes and k not in tied]
    wrong = [k for k, v in expected.items() if k in shapes and shapes[k] != tuple(v.shape)]
    known = sum(k in expected for k in shapes)
    family = "SAM 2.1 video" if ms.family == "sam2" else "SAM"
    if known < max(1, len(shapes) // 2):
        raise EverymaskError(f"{where}: not a {family} checkpoint ({len(shapes) - known} of {len(shapes)} "
                             f"weights have names a {family} model does not have)")
    if wrong or missing or len(shapes) > len(expected):
        size = _guess_size(ms.family, shapes)
        hint = (f"it looks like --model {size}" if size and size != ms.name else
                "give the --model it was trained as, or a hub folder with its own config.json")
        if wrong:
            k = wrong[0]
            what = f"{k} has shape {list(shapes[k])}, expected {list(expected[k].shape)}"
        elif missing:
            what = f"{len(missing)} weights missing (e.g. {missing[0]})"
        else:
            what = f"{len(shapes) - known} extra weights"
        raise EverymaskError(f"{where}: weights do not fit {ms.hub_id} ({what}); {hint}")
    return config


def load_model(ms: ModelSpec, checkpoint: str, device: torch.device) -> torch.nn.Module:
    """Locate, validate and load one model in eval mode on `device` (fp32 weights)."""
    folder = locate(ms, checkpoint)
    where = f"--checkpoint {checkpoint}" if checkpoint else f"{ms.hub_id} in {folder}"
    config = validate(folder, ms, where)
    model = _model_class(ms.family).from_pretrained(str(folder), config=config, use_safetensors=True,
                                                    local_files_only=True, dtype=torch.float32)
    model = model.to(device).eval()
    if folder.name.startswith("everymask-ckpt-") and folder.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)  # a converted copy: as large as the model, read once
    if checkpoint and Path(checkpoint).suffix in (".pt", ".pth", ".bin"):
        check_encoder(model, ms.family, where)
    return model


def check_encoder(model: torch.nn.Module, family: str, where: str) -> None:
    """One encoder pass on a fixed image after loading a `.pt` file: names and shapes can all fit
    while a tensor holds NaN/inf or the wrong values for its place, and that shows here as a
    wrong shape or non-finite features rather than as plausible-looking masks later."""
    vision = model.config.vision_config
    size = int(model.config.image_size if family == "sam2" else vision.image_size)
    device = next(model.parameters()).device
    image = torch.linspace(-2.0, 2.0, 3 * size * size, device=device).reshape(1, 3, size, size)
    with torch.inference_mode():
        if family == "sam2":  # the stride-16 level, flattened: (H*W) x 1 x C
            got = model.get_image_features(image, return_dict=True).fpn_hidden_states[-1]
            h, w = vision.backbone_feature_sizes[-1]
            want: tuple[int, ...] = (h * w, 1, vision.fpn_hidden_size)
        else:
            got = model.get_image_embeddings(image)
            side = size // vision.patch_size
            want = (1, vision.output_channels, side, side)
    if tuple(got.shape) != want or not bool(torch.isfinite(got).all()):
        what = f"shape {list(got.shape)}, expected {list(want)}" if tuple(got.shape) != want else "NaN or inf values"
        raise EverymaskError(f"{where}: the weights load but the image encoder gives {what} on a test image; "
                             f"the file is damaged or not a released checkpoint")
