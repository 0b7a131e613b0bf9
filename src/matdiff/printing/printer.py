"""The printer base class: one method per form kind, called bottom-up.

A subclass (text, LaTeX) defines `_print_<kind>(form, parts)` for every
kind in precedence.PRECEDENCE, where `parts` are the operands' strings,
already bracketed where the shared precedence table says so. Printing is a
loop over a post-order of the form tree, never recursion, so a 10,000-node
expression prints without touching the recursion limit; shared subtrees
print once.
"""

from __future__ import annotations

import re

from ..errors import MatdiffError
from .form import Form
from .precedence import ADD, ATOM, MUL, PRECEDENCE, needs_brackets, precedence

__all__ = ["Printer", "number_text", "MAX_LENGTH"]

# An expression whose shared subexpressions repeat (x1 = x0 + A*x0, x2 = x1 + A*x1, ...)
# can be small as a graph and astronomically long as text; refuse past this length.
MAX_LENGTH = 5_000_000


def number_text(v: float) -> str:
    """2.0 -> "2", 0.5 -> "0.5", 1e-20 -> "1e-20": short and parseable."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.12g}"


class Printer:
    """Dispatch by form kind; subclasses supply the spelling."""

    raw_parts: list[str] = []  # the operands' strings before bracketing, for the method called

    def bracket(self, s: str) -> str:
        return f"({s})"

    def size_factors(self, f: Form) -> tuple[str, ...]:
        """The factors a size form prints as (a product of several binds like one)."""
        raise NotImplementedError

    def precedence(self, f: Form) -> int:
        """f's binding strength as this printer spells it."""
        if f.kind == "size":
            factors = self.size_factors(f)
            if len(factors) == 1 and (" + " in factors[0] or " - " in factors[0]):  # n + m
                return ADD
            if len(factors) > 1 or re.match(r"\d+[ *]", factors[0]):  # 2*numel(x)
                return MUL
        return precedence(f)

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
                parts.append(self.bracket(s) if needs_brackets(f, a, k, self.precedence(a))
                             else s)
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

    # ------------------------------------------------------------ index notation

    def _print_index(self, f: Form, parts: list[str]) -> str:
        names, body, result = f.value
        return self.index_result(result, names, self.index_item(body, f, parts))

    def index_item(self, node: tuple, f: Form, parts: list[str]) -> str:
        """One item of an index-notation body; subclasses spell it with index_* hooks."""
        kind = node[0]
        if kind == "num":
            return number_text(node[1])
        if kind == "entry":
            _, k, names = node
            s, arg = parts[k], f.args[k]
            if not names:
                return s if self.precedence(arg) >= ATOM else self.bracket(s)  # (x'*y)*x[k]
            return self.index_entry(s, arg, names)
        if kind == "delta":
            return self.index_delta(node[1], node[2])
        if kind == "prod":
            if node[1] and node[1][0][0] == "num" and node[1][0][1] in (1.0, -1.0):
                rest = self.index_item(("prod", node[1][1:]), f, parts)
                return ("-" if node[1][0][1] < 0 else "") + rest
            items = [self.index_item(x, f, parts) for x in node[1]]
            items = [self.bracket(s) if x[0] == "add" else s for x, s in zip(node[1], items)]
            return self.index_product(items)
        if kind == "sum":
            return self.index_sum(node[1], self.index_item(node[2], f, parts))
        if kind == "add":
            out = ""
            for k, (sign, item) in enumerate(node[1]):
                s = self.index_item(item, f, parts)
                out += (" - " if sign < 0 else " + ") + s if k else ("-" if sign < 0 else "") + s
            return out
        if kind == "call":
            return self.index_call(node[1], [self.index_item(x, f, parts) for x in node[2]])
        if kind == "at":  # conv2(X[p,q], δ[r,k]*δ[s,l])[i,j]: an entry of a call's result
            inner = self.index_item(node[1], f, parts)
            return self.index_entry(inner, Form("call", (), node[1][1], "m"), list(node[2]))
        if kind == "block":  # blocks stacked along the axis named
            return self.index_block(node[1], [self.index_item(x, f, parts) for x in node[2]])
        if kind == "pow":
            base, ex = (self.index_item(x, f, parts) for x in node[1:])
            if node[1][0] not in ("entry", "num"):
                base = self.bracket(base)
            return self.index_pow(base, ex)
        raise ValueError(f"unknown index item {kind}")  # pragma: no cover

    @classmethod
    def missing_kinds(cls) -> list[str]:
        """Form kinds without a print method (the op-table test wants none)."""
        return [k for k in PRECEDENCE if not hasattr(cls, f"_print_{k}")]
