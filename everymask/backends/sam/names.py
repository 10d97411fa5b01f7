"""Model names, hub ids, defaults and the hub-cache lookup, without importing torch.

`everymask models` and the error messages need only these, so they stay usable (and fast) on a
machine without the `sam2` extra installed.
"""
from __future__ import annotations

import os
from pathlib import Path

SAM2_MODELS = {
    "tiny": "facebook/sam2.1-hiera-tiny",
    "small": "facebook/sam2.1-hiera-small",
    "base-plus": "facebook/sam2.1-hiera-base-plus",
    "large": "facebook/sam2.1-hiera-large",
}
SAM1_MODELS = {
    "vit-b": "facebook/sam-vit-base",
    "vit-l": "facebook/sam-vit-large",
    "vit-h": "facebook/sam-vit-huge",
}
# The default is the largest model of each family: the original method ran SAM 2.1 hiera-large for
# propagation (and SAM vit-h for key frames), its best tracker by a clear margin on SA-V/MOSE, and
# the default must not depend on the machine (a run resumed elsewhere must mean the same model).
# `--model tiny` is the CPU choice: about 6x less encoder work than large.
DEFAULT_SAM2 = "large"
DEFAULT_SAM1 = "vit-h"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")



def hub_cache_dir() -> Path:
    """The hub cache huggingface_hub itself uses, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def find_cached(hub_id: str, cache: Path | None = None) -> Path | None:
    """The cached snapshot folder of `hub_id` that has a config and safetensors weights, or None."""
    cache = cache or hub_cache_dir()
    repo = cache / ("models--" + hub_id.replace("/", "--"))
    candidates = []
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidates.append(repo / "snapshots" / ref.read_text().strip())
    if (repo / "snapshots").is_dir():
        candidates += sorted((repo / "snapshots").iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for snap in candidates:
        if (snap / "config.json").is_file() and any((snap / f).is_file() for f in WEIGHT_FILES):
            return snap
    return None
