"""Image-encoder features keyed by frame index, bounded in bytes, with the counters benchmarks read.

The image encoder is most of a SAM 2 frame's cost. A key frame is needed by the mask generator,
by the forward propagation that starts there, by the backward one that ends there and by short
backward continuations; a frame between key frames by one forward and one backward pass. With the
engine's window order, a cache of about three windows of frames makes every frame encode once.
One cache per encoder (SAM 2 and, for `--backend sam`, SAM 1), each owned by the backend.

Keys name the pixels, not just the frame index: (kind of resize, frame, content signature, crop).
A backend reused on a second video must not serve the first video's features for frame t, and
SAM 2's video predictor and its mask generator resize a frame differently (see preprocess.py),
so the two are different encoder inputs. The signature is a hash of the frame's bytes; a
propagation learns it once per (input, frame) (`FrameSignatures`), so a frame it meets again is
served without decoding it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ...bounded_cache import BoundedCache


def nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    return 0


def frame_signature(image: np.ndarray) -> str:
    """Hash of a frame's shape and every byte (blake2b, 128 bits; about 2 ms for 1280 x 720)."""
    h = hashlib.blake2b(str((image.shape, image.dtype.str)).encode(), digest_size=16)
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


class FrameSignatures:
    """(input fingerprint, frame size, frame) -> `frame_signature`, the last `max_entries` of them."""

    def __init__(self, max_entries: int = 1 << 16) -> None:
        self.max_entries = max_entries
        self._known: BoundedCache[tuple, str] = BoundedCache(max_items=max_entries)

    def get(self, source_key: tuple, t: int, load: Callable[[], np.ndarray]) -> tuple[str, np.ndarray | None]:
        """The frame's signature, and the frame itself when it had to be loaded to compute it."""
        key = (source_key, t)
        sig = self._known.get(key)
        if sig is not None:
            return sig, None
        image = load()
        self._known.put(key, sig := frame_signature(image))
        return sig, image


@dataclass
class EncoderCounter:
    """Encoder passes per frame index, over the whole run, whatever cache served them."""

    passes: dict[int, int] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    @property
    def encodes(self) -> int:
        return sum(self.passes.values())

    def passes_per_frame(self) -> float:
        return self.encodes / len(self.passes) if self.passes else 0.0


class FeatureCache:
    """LRU map frame key -> encoder output, at most `max_bytes`; `encode(load())` fills a miss.

    `max_bytes=0` keeps nothing: every `get` encodes, which is the original method's schedule
    (each propagation task encodes its own frames) and what `--schedule original` measures.
    `get(..., frame=t)` counts an encoder pass of frame t; without `frame` (generator crops) it
    counts a `crop_encodes`.
    """

    def __init__(self, encode: Callable[[np.ndarray], Any], max_bytes: int, counter: EncoderCounter | None = None) -> None:
        self._encode = encode
        self.max_bytes = int(max_bytes)
        self.counter = counter or EncoderCounter()
        # an output larger than the whole budget is not kept (max_bytes=0 keeps nothing)
        self._items: BoundedCache[Any, Any] = BoundedCache(max_bytes=self.max_bytes, sizeof=nbytes, keep_newest=False)
        self.crop_encodes = 0

    def get(self, key: Any, load: Callable[[], np.ndarray], frame: int | None = None,
            encode: Callable[[np.ndarray], Any] | None = None) -> Any:
        """Features of `key`; `load` gives the image only on a miss (no decode for a hit);
        `encode` replaces the cache's encoder for this key (another resize of the same frame)."""
        if key in self._items:
            self.counter.hits += 1
            return self._items.get(key)
        self.counter.misses += 1
        value = (encode or self._encode)(load())
        if frame is not None:
            self.counter.passes[frame] = self.counter.passes.get(frame, 0) + 1
        else:
            self.crop_encodes += 1
        self._items.put(key, value)
        return value

    def __contains__(self, key: Any) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._items.nbytes

    def clear(self) -> None:
        self._items.clear()

    def stats(self) -> dict[str, Any]:
        c = self.counter
        return {"encodes": c.encodes, "hits": c.hits, "misses": c.misses, "frames_encoded": len(c.passes),
                "encoder_passes_per_frame": round(c.passes_per_frame(), 4), "crop_encodes": self.crop_encodes,
                "cached_frames": len(self._items), "cached_mb": round(self.bytes / 2**20, 1)}
