"""One step of a derivation, and how its forms are shown (text that parses back, LaTeX).

Shared by derive.py (intermediates and the chain rules) and differential.py
(a scalar by a matrix through differentials).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.expr import Expr
from ..printing import LatexPrinter, TextPrinter
from ..printing import form as F
from ..printing.layout import arrange
from ..printing.matrix import resettle, to_form
from .check import Claim

__all__ = ["Step", "ArticlePrinter"]


@dataclass(frozen=True)
class Step:
    """One step: the rule's name, what it computes, the expression before and after."""

    kind: str            # introduce | local | chain | cases | substitute | simplify | result
    rule: str            # the rule, in the article's vocabulary
    lhs: str             # what the step defines or computes: "u", "∂u/∂w"
    before: str          # the expression the rule starts from ("" for a definition)
    after: str           # the expression it gives
    note: str = ""
    lhs_latex: str = ""
    before_latex: str = ""
    after_latex: str = ""
    # what the step asserts, for check_steps (not shown)
    claim: Claim | None = field(default=None, compare=False, repr=False)


class ArticlePrinter(TextPrinter):
    """The input language with the article's ⊙ and ⊘ (both parse back); the identity is
    `eye` and the ones vector `vector(1)`, as the language spells them."""

    def _print_had(self, f, parts):
        return " ⊙ ".join(parts)

    def _print_ediv(self, f, parts):
        return f"{parts[0]} ⊘ {parts[1]}"


def show(form: F.Form) -> tuple[str, str]:
    return ArticlePrinter().doprint(form), LatexPrinter().doprint(form)


class Shower:
    """Forms of IR in the context of the derivation's variables (for numel(x))."""

    def __init__(self, variables: dict[str, Expr], inputs: dict[str, Expr] | None = None,
                 declare: dict[str, str] | None = None) -> None:
        self.variables = dict(variables)
        # sizes are written through the inputs (vector(1, size(X, 1))), never through an
        # intermediate a step defines later
        self.inputs = dict(inputs if inputs is not None else variables)
        self.declare = dict(declare or {})  # the user's: how the steps will be read back

    def form(self, e: Expr) -> F.Form:
        return to_form(e, self.inputs, self.declare)

    def jacobian(self, e: Expr, f_kind: str, x_kind: str) -> F.Form:
        return arrange(e, f_kind, x_kind, "numerator", self.inputs, self.declare)

    def composed(self, form: F.Form) -> F.Form:
        """A form built of shown pieces (a chain rule's product), its sizes decided for the
        whole text: `eye*X`, not `eye(numel(y))*X`."""
        return resettle(form, self.inputs, self.declare)
