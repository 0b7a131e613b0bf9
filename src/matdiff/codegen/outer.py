"""Broadcast products of three or more axes, in the layout and form that run fastest.

An outer product (`x (x) A`, `-inv(A) (x) inv(A)`) or a product that only
broadcasts (`A[:, :, None] * B`) writes every entry of its result once; what
it costs is how the library walks that result. Measured on NumPy 2.4 (one
thread; benchmarks/README.md, "The peer's problems"):

* NumPy's ufunc copies a broadcast product through its 8192-entry buffer
  unless the innermost contiguous run of the result is longer than a third of
  that buffer (2730 entries): then it streams at the speed of writing memory
  (0.2-0.3 ns an entry), else it is 2-3x slower (0.7-0.8 ns).
* `np.einsum` of the same product does not take that path (0.37-0.45 ns an
  entry at every run length from 100), but costs 1.5 us more a call, and it
  zeroes the result before it accumulates into it, so the streaming ufunc
  beats it by 2x when the run is long.

So the product is written in the layout with the longest contiguous run (the
operand with the longest trailing run of axes the other lacks goes innermost,
as `np.multiply.outer` lays it out), by the ufunc when that run is long and by
einsum when it is short; the caller views it in the order it wants (a
transposed view, as einsum's own result would be). Below EINSUM_FROM entries
the broadcast is left as the caller writes it. PyTorch's broadcasting has no
such buffer (its einsum measured no faster): it gets the same layout (0.83-0.99
of the time of the result's order for the inverse's Jacobian at n = 10-40) and
keeps `*`. A library that compiles the whole function (JAX) picks its own
layout and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

__all__ = ["LONG_RUN", "EINSUM_FROM", "outer_form"]

Label = Hashable
LONG_RUN = 2731      # a contiguous innermost run this long: NumPy's ufunc streams it
EINSUM_FROM = 2048   # entries from which einsum's fixed cost is repaid (and layouts matter)


def outer_form(la: list[Label], lb: list[Label], want: list[Label] | None,
               numel: Callable[[list[Label]], int], library: str
               ) -> tuple[str, list[Label]] | None:
    """("einsum" or "broadcast", the product's axis order) for `a * b` broadcast (no label
    summed) in `library` ("numpy"; "eager": another library run call by call; anything
    else: None), or None when the caller's plain broadcast is as good (fewer than three
    axes, a small result)."""
    labels = list(dict.fromkeys(la + lb))
    if library not in ("numpy", "eager") or len(labels) < 3 or numel(labels) < EINSUM_FROM:
        return None
    if want is None or set(want) != set(labels):
        want = labels
    order, run = _layout(la, lb, want, numel)
    return ("einsum" if library == "numpy" and run < LONG_RUN else "broadcast"), order


def _layout(la: list[Label], lb: list[Label], want: list[Label], numel
            ) -> tuple[list[Label], int]:
    """(the product's axis order with the longest contiguous innermost run, that run's length).

    Operands are taken as row-major in their own label order. The inner one's trailing
    labels that the other lacks are the run; between equal runs, the order nearer `want`.
    """
    pos = {x: p for p, x in enumerate(want)}
    best = None
    for outer, inner in ((la, lb), (lb, la)):
        tail: list[Label] = []
        for x in reversed(inner):
            if x in outer:
                break
            tail.insert(0, x)
        order = list(outer) + [x for x in inner if x not in outer]
        swaps = sum(pos[x] > pos[y] for k, x in enumerate(order) for y in order[k + 1:])
        key = (-numel(tail), swaps)
        if best is None or key < best[0]:
            best = (key, order, numel(tail))
    return best[1], best[2]
