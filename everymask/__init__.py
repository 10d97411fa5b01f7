"""everymask: segment and track every mask of a video, at every granularity, with stable ids.

    import everymask
    run = everymask.segment_video("clip.mp4", "out/")
    print(run.tracks()[:3])
"""
from .api import Run, Track, open_run, segment_video
from .config import RunConfig, RuntimeOptions
from .errors import EverymaskError
from .masks import Masks

__version__ = "0.1.0"
__all__ = ["segment_video", "open_run", "Run", "Track", "RunConfig", "RuntimeOptions", "EverymaskError",
           "Masks", "__version__"]
