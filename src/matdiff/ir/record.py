"""What the stages below the API are handed about a function and its derivative.

The public `Expression` and `Derivative` (api.py) wrap these frozen records;
the explanation (explain/) and the checker's diagnoses (mistakes.py,
slips.py) read the fields and print and evaluate through `printing` and
`evaluate` directly, never through the API's methods (the API sits above
them: docs/contributing.md, Layers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..typing import Orient
from .expr import Expr

__all__ = ["FunctionRecord", "DerivativeRecord"]


@dataclass(frozen=True, eq=False)
class FunctionRecord:
    """A function as parsed: its IR, text, variables, orientation, program and
    declarations (the printed text is written to read back with them)."""

    ir: Expr
    text: str
    variables: Mapping[str, Expr]
    orientation: Orient = None
    program: Any = None            # language.program.Program, when the text was a program
    declarations: Mapping[str, str] = field(default_factory=dict)
    rows: frozenset[str] = frozenset()   # the vector variables that are row vectors

    @property
    def shape(self) -> tuple:
        return self.ir.shape


@dataclass(frozen=True, eq=False)
class DerivativeRecord:
    """d^order function / d wrt^order: the simplified IR and the engine's raw result."""

    ir: Expr
    raw: Expr
    function: FunctionRecord
    wrt: str
    order: int
    variables: Mapping[str, Expr]   # whose values the derivative is evaluated from
    # the function as differentiated: its spelled-out forms (exp(X)./sum(exp(X), 2)) in
    # their stable forms (softmax(X, 2)), and those rewrites (simplify/stable.py)
    stable: Expr | None = None
    stable_log: tuple = ()

    @property
    def shape(self) -> tuple:
        return self.ir.shape
