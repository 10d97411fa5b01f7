"""The classic backend: weight-free, CPU only (superpixel hierarchy + dense optical flow)."""
from .backend import load_classic_backend

__all__ = ["load_classic_backend"]
