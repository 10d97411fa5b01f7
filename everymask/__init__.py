"""everymask: segment and track every mask of a video, at every granularity, with stable ids.

    import everymask
    run = everymask.segment_video("clip.mp4", "out/")
    print(run.tracks()[:3])
"""
from ._version import __version__
from .api import open_run, segment_video
from .config import RunConfig, RuntimeOptions
from .errors import EverymaskError
from .masks import Masks
from .run import Run, Track

__all__ = ["segment_video", "open_run", "Run", "Track", "RunConfig", "RuntimeOptions", "EverymaskError",
           "Masks", "__version__"]
