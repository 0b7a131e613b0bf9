"""A program's lines in their stable forms, for the backward pass and compiled code.

Each line is rewritten by the stable-form rules (simplify/stable.py): `p =
exp(z)/sum(exp(z))` is computed as `softmax(z)`. A log of a name whose line is a
softmax or a sigmoid is written through that line's argument, since the rules see one
line at a time: `p = softmax(z); L = -y'*log(p)` becomes `L = -y'*(z - logsumexp(z))`,
which back-propagates as `dz = sum(y)*p - y` where `y./p` would overflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..ir.expr import Expr, rebuild, topo_order
from ..ir.ops import Op
from ..language.program import Program
from ..simplify import stabilize

__all__ = ["stable_program"]


def stable_program(program: Program) -> Program:
    """The program with each line in its stable form; the program itself if none changes."""
    lines = []
    defined: dict[str, Expr] = {}  # name -> its line's stable form
    for s in program.statements:
        local = _log_of_named(stabilize(s.local), defined)
        lines.append(replace(s, local=local))
        if s.name is not None:
            defined[s.name] = local
    if all(a.local is b.local for a, b in zip(lines, program.statements)):
        return program
    return replace(program, statements=tuple(lines))


def _log_of_named(e: Expr, defined: Mapping[str, Expr]) -> Expr:
    """e with log(p), for a name p whose line the stable rules rewrite under a log
    (p = softmax(z): log(p) -> z - logsumexp(z)), written through p's line."""
    done: dict[Expr, Expr] = {}
    for node in topo_order(e):
        new = rebuild(node, tuple(done[a] for a in node.args))
        if new.op is Op.LOG and new.args[0].op is Op.VAR and new.args[0].name in defined:
            under = defined[new.args[0].name]
            log = Expr(Op.LOG, (under,), None, under.shape)
            rewritten = stabilize(log)
            if rewritten is not log:
                new = rewritten
        done[node] = new
    return done[e]
