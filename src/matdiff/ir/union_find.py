"""Disjoint sets of labels: which index labels a product ties together.

Products tie labels (a delta, a diagonal, a repeated output label); every
stage that merges them (building a product, inlining one into another,
composing block plans) uses this one structure.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

__all__ = ["UnionFind"]


class UnionFind:
    """Union-find over hashable items, with path halving; an item never seen is its own set."""

    __slots__ = ("parent",)

    def __init__(self, items: Iterable[Hashable] = ()) -> None:
        self.parent: dict[Hashable, Hashable] = {x: x for x in items}

    def find(self, x: Hashable) -> Hashable:
        """The representative of x's set."""
        parent = self.parent
        while True:
            p = parent.get(x, x)
            if p == x:
                return x
            g = parent.get(p, p)
            parent[x] = g  # halve the path
            x = g

    def union(self, a: Hashable, b: Hashable) -> Hashable:
        """Merge a's set into b's; the representative of the merged set is b's."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb
        return rb

    def roots(self) -> set[Hashable]:
        """The representatives of the items seen so far."""
        return {self.find(x) for x in list(self.parent)}
