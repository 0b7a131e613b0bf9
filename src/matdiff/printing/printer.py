"""The printer base class: one method per form kind, called bottom-up.

A subclass (text, LaTeX) defines `_print_<kind>(form, parts)` for every
kind in precedence.PRECEDENCE, where `parts` are the operands' strings,
already bracketed where the shared precedence table says so. Printing is a
loop over a post-order of the form tree, never recursion, so a 10,000-node
expression prints without touching the recursion limit; shared subtrees
print once.
"""

from __future__ import annotations

from ..errors import MatdiffError
from .form import Form
from .precedence import PRECEDENCE, needs_brackets

__all__ = ["Printer", "format_number", "MAX_LENGTH"]

# An expression whose shared subexpressions repeat (x1 = x0 + A*x0, x2 = x1 + A*x1, ...)
# can be small as a graph and astronomically long as text; refuse past this length.
MAX_LENGTH = 5_000_000


def format_number(v: float) -> str:
    """2.0 -> "2", 0.5 -> "0.5", 1e-20 -> "1e-20": short and parseable."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.12g}"


class Printer:
    """Dispatch by form kind; subclasses supply the spelling."""

    raw_parts: list[str] = []  # the operands' strings before bracketing, for the method called

    def bracket(self, s: str) -> str:
        return f"({s})"

    def doprint(self, root: Form) -> str:
        done: dict[int, str] = {}
        stack: list[tuple[Form, bool]] = [(root, False)]
        while stack:
            f, ready = stack.pop()
            if id(f) in done:
                continue
            if not ready:
                stack.append((f, True))
                stack.extend((a, False) for a in reversed(f.args) if id(a) not in done)
                continue
            parts = []
            self.raw_parts = [done[id(a)] for a in f.args]
            for k, a in enumerate(f.args):
                s = self.raw_parts[k]
                parts.append(self.bracket(s) if needs_brackets(f, a, k) else s)
            method = getattr(self, f"_print_{f.kind}", None)
            if method is None:  # pragma: no cover - tests check every kind has a method
                raise NotImplementedError(f"{type(self).__name__} cannot print {f.kind}")
            text = method(f, parts)
            if len(text) > MAX_LENGTH:
                raise MatdiffError(
                    f"the printed form is longer than {MAX_LENGTH:,} characters: the "
                    "expression repeats shared subexpressions too often to write out")
            done[id(f)] = text
        return done[id(root)]

    def _print_add(self, f: Form, parts: list[str]) -> str:
        """a + b, with a negated term written as a subtraction: a - b."""
        out = parts[0]
        for term, s in zip(f.args[1:], parts[1:]):
            out += f" - {s[1:]}" if term.kind == "neg" else f" + {s}"
        return out

    @classmethod
    def missing_kinds(cls) -> list[str]:
        """Form kinds without a print method (the op-table test wants none)."""
        return [k for k in PRECEDENCE if not hasattr(cls, f"_print_{k}")]
