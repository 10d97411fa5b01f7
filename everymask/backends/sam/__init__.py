"""The `sam2` and `sam` model backends (transformers' SAM / SAM 2, our own pre/post-processing)."""
