"""Backend registry: name -> `Backend`. Model backends are imported only when asked for, so the
classic backend works without torch installed."""
from __future__ import annotations

from ..config import BACKENDS, RunConfig, RuntimeOptions
from ..errors import EverymaskError
from .base import Backend, MaskDescriber, MaskGenerator, Propagator

__all__ = ["Backend", "MaskDescriber", "MaskGenerator", "Propagator", "load_backend"]


def load_backend(config: RunConfig, options: RuntimeOptions | None = None) -> Backend:
    options = options or RuntimeOptions()
    if config.backend == "classic":
        from .classic import load_classic_backend
        return load_classic_backend(config, options)
    if config.backend in ("sam2", "sam"):
        try:
            from .sam.backend import load_sam_backend
        except ImportError as e:
            raise EverymaskError(
                f"the {config.backend} backend needs torch and transformers ({e.name} is missing): "
                "pip install 'everymask[sam2]', or use --backend classic") from None
        return load_sam_backend(config, options)
    raise EverymaskError(f"backend {config.backend!r} cannot be loaded by name (a test backend needs its Backend "
                         f"object passed in); choose one of {', '.join(BACKENDS)}")
