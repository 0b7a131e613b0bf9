"""The one precedence table shared by every printer, and the bracket rule.

Levels follow the language (docs/language.md), tightest first: atoms, postfix
transpose, powers, unary minus, the product operators, sums. A child is
bracketed when it binds more loosely than its place requires; a few
readability rules add brackets the grammar does not need (a matrix product
mixed with an element-wise one, a scalar product inside a longer product).
"""

from __future__ import annotations

from .form import Form

__all__ = ["PRECEDENCE", "ATOM", "POSTFIX", "POW", "NEG", "MUL", "ADD", "precedence",
           "needs_brackets"]

ATOM = 100
POSTFIX = 90
POW = 80
NEG = 70
MUL = 60
ADD = 50

PRECEDENCE: dict[str, int] = {
    "sym": ATOM, "num": ATOM, "call": ATOM, "ones": ATOM, "eye": ATOM, "size": ATOM,
    "index": ATOM, "block": ATOM, "empty": ATOM,
    "t": POSTFIX,
    "pow": POW,
    "neg": NEG,
    "mul": MUL, "had": MUL, "ediv": MUL, "sdiv": MUL,
    "add": ADD,
}

# products of these kinds are bracketed inside one another, for the reader
_MIXING = {
    "mul": {"mul", "had", "ediv", "sdiv"},
    "had": {"mul", "ediv", "sdiv"},
    "ediv": {"mul", "sdiv"},
    "sdiv": {"had", "ediv"},
}


def precedence(f: Form) -> int:
    """The binding strength of f as printed."""
    if f.kind == "ones" and f.value not in (0.0, 1.0):
        return MUL  # vector(2) prints as 2 times a vector in LaTeX; harmless in text
    return PRECEDENCE[f.kind]


def needs_brackets(parent: Form, child: Form, position: int, c: int | None = None) -> bool:
    """Whether `child`, the operand at `position` of `parent`, must be bracketed.

    `c` is the child's precedence as the printer spells it, when that differs
    from the table (a size printed as a product of several factors).
    """
    p = PRECEDENCE[parent.kind]
    c = precedence(child) if c is None else c
    kind = parent.kind
    if kind == "t":
        return c < POSTFIX
    if kind == "pow":
        return c <= POW if position == 0 else c < POW
    if kind == "neg":
        return c < MUL
    if kind == "add":
        return c < ADD
    if kind in _MIXING:
        if child.kind in _MIXING[kind]:
            return True
        if kind in ("ediv", "sdiv") and position == 1:
            return c <= p
        return c < p
    return False  # calls and atoms bracket their own arguments
