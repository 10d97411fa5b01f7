"""The one bounded LRU: recency, both bounds, oversized entries, counters."""
import numpy as np
import pytest

from everymask.bounded_cache import BoundedCache


def test_count_bound_evicts_least_recently_used():
    cache = BoundedCache(max_items=2, sizeof=len)
    cache.put("a", [1])
    cache.put("b", [2])
    assert cache.get("a") == [1]  # a is now the most recent: b goes next
    cache.put("c", [3])
    assert list(cache) == ["a", "c"] and cache.get("b") is None
    assert cache.stats() == {"hits": 1, "misses": 1, "evictions": 1, "entries": 2, "bytes": 0}


def test_byte_bound_and_replacing_a_key():
    cache = BoundedCache(max_bytes=250)
    for i in range(4):
        cache.put(i, np.zeros(100, np.uint8))
    assert list(cache) == [2, 3] and cache.nbytes == 200 and cache.evictions == 2
    cache.put(3, np.zeros(40, np.uint8))  # replaces: counts its new size once
    assert list(cache) == [2, 3] and cache.nbytes == 140
    assert cache.pop(2).nbytes == 100 and cache.nbytes == 40 and cache.evictions == 2


def test_both_bounds_apply():
    cache = BoundedCache(max_items=3, max_bytes=25, sizeof=len)
    for key, size in [("a", 10), ("b", 10), ("c", 1), ("d", 1)]:
        cache.put(key, "x" * size)
    assert list(cache) == ["b", "c", "d"] and cache.nbytes == 12  # a out by count
    cache.put("e", "x" * 20)
    assert list(cache) == ["c", "d", "e"] and cache.nbytes == 22  # b out by bytes


def test_oversized_entry_kept_alone_or_not_stored():
    keep = BoundedCache(max_bytes=50, sizeof=len)
    keep.put("small", "x" * 10)
    keep.put("big", "x" * 100)
    assert list(keep) == ["big"] and keep.nbytes == 100
    drop = BoundedCache(max_bytes=50, sizeof=len, keep_newest=False)
    drop.put("small", "x" * 10)
    drop.put("big", "x" * 100)
    assert list(drop) == ["small"] and drop.nbytes == 10
    nothing = BoundedCache(max_bytes=0, sizeof=len, keep_newest=False)
    nothing.put("a", "x")
    assert len(nothing) == 0


def test_bad_bound():
    with pytest.raises(ValueError, match="max_items must be >= 1 or None, not 0"):
        BoundedCache(max_items=0)
