"""`BoundedCache`: the one LRU map of the package, bounded by entries and/or bytes, with counters.

Decoded frames, superpixels, optical flows and encoder features are all "keep the recent ones,
never grow with the video": one small class does the bookkeeping (recency, sizes, eviction,
hit/miss counts that benchmarks read), so each cache keeps only what is particular to it.
`cachetools.LRUCache` bounds one measure only, refuses a value larger than the bound and counts
nothing, which is why this is ours.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Generic, Iterator, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def nbytes_of(value: Any) -> int:
    """Bytes of an array (anything with `.nbytes`); the default size of an entry."""
    return int(value.nbytes)


class BoundedCache(Generic[K, V]):
    """Key -> value, least recently used first out once `max_items` or `max_bytes` is exceeded.

    `None` for a bound means "no bound of that kind". `keep_newest`: the entry just put stays even
    when it alone exceeds `max_bytes` (its caller is about to read it back); without it such an
    entry is not stored at all, so `max_bytes=0` keeps nothing.
    """

    def __init__(self, max_items: int | None = None, max_bytes: int | None = None, *,
                 sizeof: Callable[[V], int] = nbytes_of, keep_newest: bool = True) -> None:
        if max_items is not None and max_items < 1:
            raise ValueError(f"max_items must be >= 1 or None, not {max_items}")
        self.max_items, self.max_bytes = max_items, max_bytes
        self._sizeof, self._keep_newest = sizeof, keep_newest
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = self.evictions = 0

    def get(self, key: K) -> V | None:
        """The value of `key` (now the most recent), or None; counts a hit or a miss."""
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item[0]

    def put(self, key: K, value: V) -> None:
        """Insert or replace `key`, then evict the least recent entries past either bound."""
        self.pop(key)
        size = self._sizeof(value) if self.max_bytes is not None else 0
        if not self._keep_newest and self.max_bytes is not None and size > self.max_bytes:
            return
        self._items[key] = (value, size)
        self._bytes += size
        floor = 1 if self._keep_newest else 0
        while len(self._items) > floor and self._over():
            _, (_, old) = self._items.popitem(last=False)
            self._bytes -= old
            self.evictions += 1

    def _over(self) -> bool:
        return ((self.max_items is not None and len(self._items) > self.max_items)
                or (self.max_bytes is not None and self._bytes > self.max_bytes))

    def pop(self, key: K) -> V | None:
        """Remove `key` (not counted as an eviction); its value or None."""
        item = self._items.pop(key, None)
        if item is None:
            return None
        self._bytes -= item[1]
        return item[0]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held (0 when the cache has no byte bound: sizes are then not measured)."""
        return self._bytes

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "entries": len(self._items), "bytes": self._bytes}
