"""everymask: segment and track every mask of a video, at every granularity, with stable ids."""
from .config import RunConfig
from .errors import EverymaskError
from .masks import Masks

__version__ = "0.1.0"
__all__ = ["RunConfig", "EverymaskError", "Masks", "__version__"]
