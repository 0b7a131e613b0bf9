"""The IR: the op list (ops.py) and immutable, hash-consed nodes with shapes (expr.py)."""

from .expr import Expr, Shape, topo_order, variables
from .ops import SPECS, Op

__all__ = ["Expr", "Shape", "Op", "SPECS", "topo_order", "variables"]
