"""The IR: the op list and immutable, hash-consed nodes with shapes.

    ops.py          every operator, declared once (the op spec)
    expr.py         the nodes and their canonicalising constructors
    properties.py   facts about a node several stages ask
    substitute.py   replace nodes and rebuild
    union_find.py   the union-find that ties index labels
"""

from .expr import Expr, Shape, topo_order, variables
from .ops import SPECS, Op

__all__ = ["Expr", "Shape", "Op", "SPECS", "topo_order", "variables"]
