"""The classic backend: weight-free, CPU only, always available (tests, demo, no-GPU users).

Wiring only. The generator (`segment.py`) and the propagator (`flow.py`) share
one superpixel cache: the superpixels cut at a key frame for mask generation are the ones that
propagated masks snap to when they arrive there, which is what makes their IoU match exact.
"""
from __future__ import annotations

from typing import Any

from ...config import RunConfig, RuntimeOptions
from ..base import Backend
from .describe import ColourDescriber
from .flow import FlowCache, FlowPropagator
from .segment import SegmentGenerator
from .superpixels import SuperpixelCache

# Frames larger than this on the long side are analysed (flow, superpixels) at this size and the
# results scaled back: 640 px keeps a 3 px structure of a 720p frame about 1.5 px wide.
WORK_SIDE = 640


def load_classic_backend(config: RunConfig, options: RuntimeOptions | None = None) -> Backend:
    """-> `Backend` whose `stats()` reports flows computed, cache hits and seconds per stage."""
    import cv2

    cv2.setRNGSeed(0)
    superpixels = SuperpixelCache(capacity=24, work_side=WORK_SIDE)
    # the farthest back the schedule reuses a flow pair: a backward cascade carries masks at most
    # carry_keys key frames back from the window being done; past that, keeping flows only costs memory
    reuse_pairs = (config.carry_keys + 2) * config.step if config.carry_keys else 0
    flows = FlowCache(max_bytes=256 << 20, work_side=WORK_SIDE, max_pairs=reuse_pairs)
    generator = SegmentGenerator(config, superpixels)
    propagator = FlowPropagator(flows, superpixels)

    def stats() -> dict[str, Any]:
        return {
            "generate_calls": generator.calls,
            "generate_s": round(generator.seconds, 3),
            "propagate_frames": propagator.frames,
            "propagate_s": round(propagator.seconds, 3),
            "flows_computed": flows.computed,
            "flow_cache_hits": flows.hits,
            "flow_s": round(flows.seconds, 3),
            "superpixels_computed": superpixels.computed,
            "superpixel_cache_hits": superpixels.hits,
            "superpixel_s": round(superpixels.seconds, 3),
        }

    return Backend(name="classic", generator=generator, propagator=propagator, stats=stats, close=flows.close,
                   describer=ColourDescriber())
