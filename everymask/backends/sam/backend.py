"""The `sam2` and `sam` backends: wiring of models, feature caches, generator and propagator.

- `sam2`: SAM 2.1 automatic mask generation on key frames and SAM 2.1 video propagation, both on
  one `Sam2VideoModel` (its image path is SAM 2's image model), so one image encoding per frame
  serves both.
- `sam`: SAM (ViT) automatic mask generation on key frames, as the original method did, and SAM 2.1
  propagation. `--model vit-h` names the SAM model; `--model vit-h+tiny` also names the SAM 2
  propagator (default: large). `--checkpoint A` is the SAM checkpoint; `A:B` (os.pathsep) adds B
  for SAM 2.

`--schedule shared` keeps encoder features in a cache bounded by `--feature-cache-mb`, so a frame
is encoded once whatever needs it; `--schedule original` keeps none, so every task encodes its
own frames as the original method did (same masks, more encoder passes). SAM 2's mask generator
and video predictor resize a frame differently, so a key frame is encoded once for each (see
features.py); every other frame once.
"""
from __future__ import annotations

import gc
import os
import time
from typing import Any, Callable, Iterator

import numpy as np
import safetensors  # noqa: F401 - imported here so a missing extra fails in the registry's ImportError
import torch
import transformers  # noqa: F401 - handler with a one-line "pip install 'everymask[sam2]'" message

from ...config import RunConfig, RuntimeOptions
from ...masks import Masks
from ...video.base import FrameSource
from ..base import Backend
from .amg import AmgSettings, AutomaticMaskGenerator, Sam1Prompter, Sam2Prompter
from .features import EncoderCounter, FeatureCache, FrameSignatures, frame_signature
from .models import autocast, load_model, pick_device, spec
from .propagate import Sam2Propagator, encode_video_frame


class _Timed:
    """Wall-clock seconds per stage (encoder, generate, propagate) for stats and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable, device: torch.device) -> Callable:
        def timed(*args: Any) -> Any:
            t0 = time.perf_counter()
            out = fn(*args)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            return out
        return timed


class _TimedGenerator:
    def __init__(self, inner: AutomaticMaskGenerator, timer: _Timed) -> None:
        self.inner, self.timer = inner, timer
        self.frames = 0

    def generate(self, frame_index: int, image: np.ndarray, prior: Masks | None = None) -> Masks:
        t0 = time.perf_counter()
        out = self.inner.generate(frame_index, image, prior)
        self.timer.seconds["generate"] = self.timer.seconds.get("generate", 0.0) + time.perf_counter() - t0
        self.frames += 1
        return out


class _TimedPropagator:
    def __init__(self, inner: Sam2Propagator, timer: _Timed) -> None:
        self.inner, self.timer = inner, timer

    def propagate(self, source: FrameSource, start: int, stop: int, seeds: Masks) -> Iterator[tuple[int, Masks]]:
        it = self.inner.propagate(source, start, stop, seeds)
        while True:  # time only our own work, not the consumer's between yields
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.timer.seconds["propagate"] = self.timer.seconds.get("propagate", 0.0) + time.perf_counter() - t0
                return
            self.timer.seconds["propagate"] = self.timer.seconds.get("propagate", 0.0) + time.perf_counter() - t0
            yield item


def _split_sam_model(model: str) -> tuple[str, str]:
    sam1, _, sam2 = (model or "").partition("+")
    return sam1, sam2


def load_sam_backend(config: RunConfig, options: RuntimeOptions) -> Backend:
    """Load the models named by `config` on the device of `options`; errors a user can fix are
    `EverymaskError`s (unknown model, no weights offline, bad checkpoint, absent device)."""
    device = pick_device(options.device)
    if config.backend == "sam2":
        ms2 = spec("sam2", config.model)
        sam1_model, ms1 = None, None
        sam2_model = load_model(ms2, config.checkpoint, device)
    else:
        name1, name2 = _split_sam_model(config.model)
        ckpts = config.checkpoint.split(os.pathsep) if config.checkpoint else []
        ms1, ms2 = spec("sam", name1), spec("sam2", name2)
        sam1_model = load_model(ms1, ckpts[0] if ckpts else "", device)
        sam2_model = load_model(ms2, ckpts[1] if len(ckpts) > 1 else "", device)

    return make_backend(config, options, device, sam2_model, ms2.hub_id, sam1_model, ms1.hub_id if ms1 else "")


def _image_features(cache: FeatureCache) -> Callable[[Any, Callable[[], np.ndarray]], Any]:
    """The generator's `features(key, load)` (key: frame index, or (frame, crop box)) on `cache`,
    keyed by the pixels so another video's frame t is never served."""
    def features(key: Any, load: Callable[[], np.ndarray]) -> Any:
        image = load()   # the generator holds the frame already: no decode
        frame, crop = (key, ()) if isinstance(key, int) else (key[0], tuple(key[1:]))
        return cache.get(("image", frame, frame_signature(image), crop), lambda: image,
                         frame=None if crop else frame)
    return features


def _video_features(cache: FeatureCache, encode: Callable[[np.ndarray], Any]) -> Callable[..., Any]:
    """The propagator's `features(source_key, t, load)` on `cache`, frames resized as SAM 2's
    video predictor does; a frame's signature is computed once per input, so a hit decodes nothing."""
    signatures = FrameSignatures()

    def features(source_key: tuple, t: int, load: Callable[[], np.ndarray]) -> Any:
        sig, image = signatures.get(source_key, t, load)
        return cache.get(("video", t, sig), load if image is None else (lambda: image), frame=t, encode=encode)
    return features


def make_backend(config: RunConfig, options: RuntimeOptions, device: torch.device, sam2_model: torch.nn.Module,
                 sam2_name: str, sam1_model: torch.nn.Module | None = None, sam1_name: str = "") -> Backend:
    """Wire already-loaded models into a `Backend` (the benchmark passes random real-size models)."""
    timer = _Timed()
    amp = lambda: autocast(device)  # noqa: E731 - a fresh context manager per use
    cache_bytes = int(options.feature_cache_mb) * 2**20 if config.schedule == "shared" else 0
    sam2_prompter = Sam2Prompter(sam2_model, device)
    sam2_cache = FeatureCache(timer.wrap("encode_sam2", sam2_prompter.encode, device), cache_bytes, EncoderCounter())
    batch = 64 if device.type == "cuda" else 32
    settings = AmgSettings.from_config(config, points_per_batch=batch)
    if sam1_model is not None:
        prompter: Any = Sam1Prompter(sam1_model, device)
        # SAM features serve only the key frame's generator: nothing to share, keep none.
        gen_cache = FeatureCache(timer.wrap("encode_sam1", prompter.encode, device), 0, EncoderCounter())
    else:
        prompter, gen_cache = sam2_prompter, sam2_cache
    generator = _TimedGenerator(AutomaticMaskGenerator(prompter, settings, _image_features(gen_cache), amp), timer)
    propagator = Sam2Propagator(sam2_model, device, _video_features(sam2_cache, timer.wrap(
        "encode_sam2", lambda image: encode_video_frame(sam2_model, device, image), device)), amp, max_batch=batch)
    timed_prop = _TimedPropagator(propagator, timer)

    def stats() -> dict[str, Any]:
        out: dict[str, Any] = {
            "backend": config.backend, "device": str(device), "schedule": config.schedule,
            "sam2_model": sam2_name, "encoder_passes_per_frame": sam2_cache.stats()["encoder_passes_per_frame"],
            "sam2_encoder": sam2_cache.stats(), "generated_frames": generator.frames,
            "propagated_frames": len(propagator.frames_visited), "propagated_masks": propagator.masks_stepped,
            "seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
        }
        if sam1_model is not None:
            out["sam_model"] = sam1_name
            out["sam_encoder"] = gen_cache.stats()
        return out

    def close() -> None:
        sam2_cache.clear()
        gen_cache.clear()
        propagator.model = None  # type: ignore[assignment]
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    return Backend(name=config.backend, generator=generator, propagator=timed_prop, stats=stats, close=close)
