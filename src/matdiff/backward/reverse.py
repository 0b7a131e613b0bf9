"""Reverse mode over a program: the backward pass as named assignments.

Statements are visited from the function back to the first. Each
intermediate `v` gets an error signal `dv` (the gradient of the function
with respect to v's value), the sum of what every statement using v sends
back: the vector-Jacobian product of that statement, found by
differentiating <dw, rhs(w)> with respect to v in forward mode over the one
small right-hand side (so every op's rule is the engine's own), with `dw` a
placeholder leaf. A statement whose right-hand side uses several names that
need gradients names its error signal on a line of its own (`dz1 = ...`);
one that passes it to a single name has it substituted there, so the
backward pass reads like the textbook's: one error signal per layer.

Each line is small and simplified on its own, so the cost grows linearly
with the length of the program.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..derive import differentiate
from ..errors import MatdiffError
from ..ir import expr as ir
from ..ir.expr import Expr, topo_order
from ..ir.ops import Op
from ..ir.substitute import substitute
from ..language.program import Program, Statement, intermediate_leaf
from ..simplify import simplify, stabilize
from .through import through_lines

__all__ = ["BackwardLine", "BackwardPass", "backward_pass"]


@dataclass(frozen=True)
class BackwardLine:
    """`name = expr`: an error signal (of intermediate `of`) or a gradient (of input `of`)."""

    name: str
    expr: Expr
    of: str
    kind: str           # "signal" or "gradient"
    statement: Statement  # the forward statement whose chain rule this line applies
    uses: tuple[str, ...] = ()  # the names of the forward statements sending into it


@dataclass
class BackwardPass:
    program: Program
    wrt: tuple[str, ...]
    lines: list[BackwardLine] = field(default_factory=list)
    gradient_names: dict[str, str] = field(default_factory=dict)  # wrt -> line name
    # the logs of names written in their stable forms before the sweep (through.py)
    stable_logs: list = field(default_factory=list)

    def line(self, name: str) -> BackwardLine:
        return next(ln for ln in self.lines if ln.name == name)

    def inlined(self) -> tuple[dict[str, Expr], dict[Expr, str]]:
        """Every gradient as one expression over the inputs (forward values substituted),
        and the name of each named node (z1, dz1, dW1) for generated code.

        Shared error signals stay shared nodes, so compiled code computes them once.
        """
        env: dict[Expr, Expr] = {}
        names: dict[Expr, str] = {}
        leaves = self.program.leaves
        for s in self.program.statements:
            if s.name is not None:
                env[leaves[s.name]] = s.inlined
                if s.inlined.args:
                    names.setdefault(s.inlined, s.name)
        memo: dict[Expr, Expr] = {}
        out: dict[str, Expr] = {}
        for ln in self.lines:
            value = substitute(ln.expr, env, memo)
            env[intermediate_leaf(ln.name, ln.expr.shape)] = value
            if value.args:
                names.setdefault(value, ln.name)
            if ln.kind == "gradient":
                out[ln.of] = value
        return {w: out[w] for w in self.wrt}, names


def _leaf_names(e: Expr) -> set[str]:
    return {n.name for n in topo_order(e) if n.op is Op.VAR}


def _fresh_names(program: Program) -> set[str]:
    return set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", program.text)) | set(program.leaves)


def _vjp(signal: Expr | None, rhs: Expr, leaf: Expr) -> Expr:
    """<signal, d rhs / d leaf>: what rhs sends back to leaf (signal None: the function)."""
    if signal is None:
        return differentiate(rhs, leaf)
    labels = list(range(rhs.ndim))
    return differentiate(ir.einsum([signal, rhs], [labels, labels], []), leaf)


def backward_pass(program: Program, wrt: Sequence[str]) -> BackwardPass:
    """The backward program computing the gradient of the program's function for each wrt.

    A log of a name is first written in the stable form its defining lines allow
    (through.py: `log(s)` of `s = softmax(z)` as `z - logsumexp(z)`), so no error signal
    passes through `y./s`; the pass's `program` is that program (same values).
    """
    program, stable_logs = through_lines(program, stabilize)
    _check_scalar(program)
    wrt = tuple(wrt)
    _check_inputs(program, wrt)
    return _Sweep(program, wrt, stable_logs).run()


def _check_scalar(program: Program) -> None:
    out = program.output
    if out.local.ndim != 0:
        shape = " x ".join(str(d) for d in out.local.shape)
        what = f"'{out.name}'" if out.name else "the last line"
        raise MatdiffError(f"a gradient needs a scalar function; {what} of the program has shape "
                           f"{shape} (end the program at a scalar, or name one with of=)")


def _check_inputs(program: Program, wrt: tuple[str, ...]) -> None:
    for w in wrt:
        if w not in program.inputs:
            if w in program.intermediates:
                raise MatdiffError(f"'{w}' is an intermediate of the program; gradients are with "
                                   f"respect to inputs (its error signal d{w} appears in the "
                                   "backward pass when a gradient needs it)")
            known = ", ".join(program.inputs) or "none"
            raise MatdiffError(f"'{w}' is not an input of the program (its inputs: {known})")


class _Sweep:
    """One reverse sweep over a program's statements, last to first.

    Each statement receives its error signal (the sum of what its consumers
    sent), sends its part to each name it uses that leads to a wrt, and a wrt's
    gradient is emitted once the earliest statement using it has sent its part.
    """

    def __init__(self, program: Program, wrt: tuple[str, ...],
                 stable_logs: Any) -> None:
        self.program = program
        self.statements = program.statements
        self.leaves = program.leaves
        self.wrt = wrt
        # which names lead to a wrt (their gradient is needed), and what each line uses
        self.depends: dict[str, bool] = {w: True for w in wrt}
        self.uses_of: list[set[str]] = []
        for s in self.statements:
            names = _leaf_names(s.local)
            self.uses_of.append(names)
            if s.name is not None:
                self.depends[s.name] = any(self.depends.get(n, False) for n in names)
        self.taken = _fresh_names(program)
        self.contributions: dict[str, list[tuple[Expr, str]]] = {}
        self.remaining = {w: sum(w in u for u in self.uses_of) for w in wrt}
        self.result = BackwardPass(program, wrt, stable_logs=stable_logs)

    def run(self) -> BackwardPass:
        out = self.program.output
        for k in range(len(self.statements) - 1, -1, -1):
            self._statement(k, self.statements[k], out)
        for w in self.wrt:  # a declared input the function does not use: a zero gradient
            if w not in self.result.gradient_names:
                name = self.fresh(w)
                self.result.gradient_names[w] = name
                self.emit(name, w, "gradient", ir.zeros(self.leaves[w].shape), out, ())
        return self.result

    def _statement(self, k: int, s: Statement, out: Statement) -> None:
        """Statement k's signal, sent on to the names it uses that lead to a wrt."""
        targets = [n for n in sorted(self.uses_of[k]) if self.depends.get(n, False)]
        if s is out:
            signal, signal_expr = None, None
        else:
            signal_expr, senders = self.total(s.name, s.local.shape)
            if not self.depends.get(s.name, False) or ir.is_zero(signal_expr):
                self.finish(k, s)
                return
            if len(targets) > 1 and signal_expr.op is not Op.VAR:
                name = self.fresh(s.name)
                signal = intermediate_leaf(name, s.local.shape)
                self.emit(name, s.name, "signal", signal_expr, s, senders)
                signal_expr = None
            else:
                signal = ir.var("\u0394" + s.name, s.local.shape)  # a placeholder, substituted
        for t in targets:
            piece = _vjp(signal, s.local, self.leaves[t])
            if signal_expr is not None:
                piece = substitute(piece, {signal: signal_expr})
            self.contributions.setdefault(t, []).append(
                (simplify(piece), s.name or "the function"))
        self.finish(k, s)

    def fresh(self, name: str) -> str:
        cand = "d" + name
        while cand in self.taken:
            cand += "_"
        self.taken.add(cand)
        return cand

    def emit(self, name: str, of: str, kind: str, expr: Expr, s: Statement,
             uses: tuple[str, ...]) -> None:
        self.result.lines.append(BackwardLine(name, expr, of, kind, s, uses))

    def total(self, name: str, shape) -> tuple[Expr, tuple[str, ...]]:
        """The sum of what was sent to `name`, and who sent it."""
        terms = self.contributions.pop(name, [])
        if not terms:
            return ir.zeros(shape), ()
        expr = terms[0][0] if len(terms) == 1 else simplify(ir.add([t for t, _ in terms]))
        return expr, tuple(dict.fromkeys(u for _, u in terms))

    def finish(self, k: int, s: Statement) -> None:
        """Emit each wrt gradient once the earliest statement using it has sent its part."""
        for t in sorted(self.uses_of[k] & self.remaining.keys()):
            self.remaining[t] -= 1
            if self.remaining[t] == 0:
                expr, uses = self.total(t, self.leaves[t].shape)
                name = self.fresh(t)
                self.result.gradient_names[t] = name
                self.emit(name, t, "gradient", expr, s, uses)
