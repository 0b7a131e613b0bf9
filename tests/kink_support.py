"""A derivative with its kink indicators replaced by a constant: the classic wrong answer
(the neuron's gradient without its step) that compare must never call equal."""

from __future__ import annotations

from matdiff.ir import expr as ir
from matdiff.ir.expr import rebuild, topo_order


def without(e, value: float, indicators):
    """e with every node whose op is in `indicators` replaced by `value`."""
    out = {}
    for node in topo_order(e):
        out[node] = ir.const(value, node.shape) if node.op in indicators else \
            rebuild(node, tuple(out[a] for a in node.args))
    return out[e]
