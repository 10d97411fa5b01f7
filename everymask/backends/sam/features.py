"""Image-encoder features keyed by frame index, bounded in bytes, with the counters benchmarks read.

The image encoder is most of a SAM 2 frame's cost. A key frame is needed by the mask generator,
by the forward propagation that starts there, by the backward one that ends there and by short
backward continuations; a frame between key frames by one forward and one backward pass. With the
engine's window order, a cache of about three windows of frames makes every frame encode once.
One cache per encoder (SAM 2 and, for `--backend sam`, SAM 1), each owned by the backend.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch


def nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    return 0


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
    Keys are frame indices (or (frame, crop box) for generator crops: those count as `crop_encodes`).
    """

    def __init__(self, encode: Callable[[np.ndarray], Any], max_bytes: int, counter: EncoderCounter | None = None) -> None:
        self._encode = encode
        self.max_bytes = int(max_bytes)
        self.counter = counter or EncoderCounter()
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self.crop_encodes = 0

    def get(self, key: Any, load: Callable[[], np.ndarray]) -> Any:
        """Features of `key`; `load` gives the image only on a miss (no decode for a hit)."""
        if key in self._items:
            self._items.move_to_end(key)
            self.counter.hits += 1
            return self._items[key][0]
        self.counter.misses += 1
        value = self._encode(load())
        if isinstance(key, int):
            self.counter.passes[key] = self.counter.passes.get(key, 0) + 1
        else:
            self.crop_encodes += 1
        size = nbytes(value)
        if size <= self.max_bytes:
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, old) = self._items.popitem(last=False)
                self.bytes -= old
        return value

    def __contains__(self, key: Any) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def stats(self) -> dict[str, Any]:
        c = self.counter
        return {"encodes": c.encodes, "hits": c.hits, "misses": c.misses, "frames_encoded": len(c.passes),
                "encoder_passes_per_frame": round(c.passes_per_frame(), 4), "crop_encodes": self.crop_encodes,
                "cached_frames": len(self._items), "cached_mb": round(self.bytes / 2**20, 1)}
