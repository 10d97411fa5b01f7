"""`TrackGraph`: which provisional ids are one track, with cannot-links, shared by runner and finalize.

A track may hold at most one generated mask per key frame: two masks the generator found on the
same frame are two things, even if a chain of matches links them. The graph refuses any join that
would break that, and it is the same object in both places that decide identity:

- the runner asks it before an arrival stops at a key frame (`can_join` / `join`), so an arrival
  only stops when its merge will hold;
- finalize replays the runner's merges in the order they were committed (`replay`), which rebuilds
  exactly the graph the runner had, then adds its own joins (copies, re-identification).

Nodes are added lazily: a node's key frames come from `keys_of(node)`.
"""
from __future__ import annotations

from typing import Callable, Hashable, Iterable, Sequence


class TrackGraph:
    """Union-find over nodes (provisional ids, or window tracks when stitching) with key-frame sets."""

    def __init__(self, keys_of: Callable[[Hashable], Iterable[int]],
                 rank: Callable[[Hashable], object] = lambda n: n) -> None:
        self._keys_of, self._rank = keys_of, rank
        self._parent: dict = {}
        self._keys: dict = {}

    def add(self, node: Hashable) -> None:
        if node not in self._parent:
            self._parent[node] = node
            self._keys[node] = set(self._keys_of(node))

    def find(self, node: Hashable) -> Hashable:
        self.add(node)
        root = node
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[node] != root:
            self._parent[node], node = root, self._parent[node]
        return root

    def keys(self, node: Hashable) -> set[int]:
        """Key frames on which the node's track has a generated mask."""
        return self._keys[self.find(node)]

    def can_join(self, a: Hashable, b: Hashable) -> bool:
        ra, rb = self.find(a), self.find(b)
        return ra == rb or not (self._keys[ra] & self._keys[rb])

    def join(self, a: Hashable, b: Hashable) -> bool:
        """Make a and b one track -> False (and nothing changes) when a cannot-link forbids it.

        The root is the member of lowest rank, so ids do not depend on the order of joins.
        """
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self._keys[ra] & self._keys[rb]:
            return False
        if self._rank(rb) < self._rank(ra):
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._keys[ra] |= self._keys.pop(rb)
        return True

    def replay(self, edges: Iterable[Sequence]) -> None:
        """Apply (a, b, ...) edges in the given order (the order they were decided in)."""
        for edge in edges:
            self.join(edge[0], edge[1])

    def nodes(self) -> list:
        return list(self._parent)

    def roots(self, nodes: Iterable[Hashable]) -> dict:
        return {n: self.find(n) for n in nodes}
