"""The small type aliases every stage shares, defined once.

    Dim           one dimension: a symbol ("n") or a size (3)
    Shape         a tuple of dimensions; () is a scalar
    Orient        how a vector value reads on the surface: "row" for a row
                  vector such as x'*A (evaluated as a 1-D array), None otherwise
    Declarations  name -> declaration text ({"A": "symmetric matrix"}), or None

This module imports nothing of matdiff, so any layer may read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

__all__ = ["Dim", "Shape", "Orient", "Declarations"]

Dim = str | int
Shape = tuple[Dim, ...]
Orient = Literal["row", "col"] | None
Declarations = Mapping[str, str] | None
