"""`.pt` / `.pth` / `.bin` state dicts -> safetensors, loaded with `torch.load(weights_only=True)`.

`weights_only=True` makes torch's unpickler refuse every global that is not a tensor or a plain
container, so a malicious pickle fails to load instead of running code. What loads must already
be a transformers-style state dict (keys as `save_pretrained` writes them); the original
releases' `{"model": ...}` files use other key names and are refused with a pointer to the
converted hub checkpoints, rather than converted by a half-tested key map.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from ...errors import EverymaskError


def pt_to_safetensors(path: Path, out: Path, family: str) -> None:
    """Load a torch state dict without unpickling code and write it as safetensors at `out`."""
    from safetensors.torch import save_file

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch's weights-only unpickler raises UnpicklingError, RuntimeError, ...
        text = str(e)
        found = re.search(r"(?i)unsupported global:? (?:GLOBAL )?[\w.]+|unsupported operand \d+|unsupported class [\w.]+", text)
        why = found.group(0) if found else (text.strip().splitlines() or [type(e).__name__])[0][:120]
        raise EverymaskError(f"--checkpoint {path}: refused to load: not a plain tensor state dict, it would "
                             f"need to run or import code ({why}); nothing from it was executed") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        raise EverymaskError(f"--checkpoint {path}: an original-release {family} checkpoint; use the converted "
                             f"Hugging Face weights (a hub folder or .safetensors) instead")
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EverymaskError(f"--checkpoint {path}: not a state dict of tensors")
    save_file({k: v.contiguous() for k, v in obj.items()}, str(out))
