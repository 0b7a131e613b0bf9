"""A log seen through the names of earlier lines, so the backward pass runs through the stable form.

    s = softmax(z)                       s = softmax(z)
    L = -y'*log(s)              ->       L = -y'*(z - logsumexp(z))

Reverse mode differentiates each line on its own, so `log(s)` of a name sends `y./s`
back through s: infinite once s underflows (a logit gap past ~708 in float64, ~88 in
float32), though the loss and its gradient `sum(y)*softmax(z) - y` are finite. Before
the sweep, the argument of every log that uses a name is written out through the lines
that define it (up to DEPTH lines deep: `log(1 - p)` of `p = sigmoid(z)`, `log(sum(e))`
of `e = exp(z)`); where a stable-form identity then applies (`log(softmax(z)) = z -
logsumexp(z)`, ...), the log is replaced by that form, each part of it that an earlier
line computes written by that line's name. The line's value is unchanged, so the
forward program printed beside the backward pass stays true; a line no longer used
(`s`) receives no error signal.

`stabilize` is any function returning its argument, the same object, when no identity
applies: the simplifier's stable-form rules (simplify/stable.py), one set of identities
for a line and for the lines seen through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..ir.expr import Expr, rebuild, topo_order
from ..ir.ops import Op
from ..ir.substitute import substitute
from ..language.program import Program, intermediate_leaf

__all__ = ["through_lines", "StableLog", "DEPTH", "CONSUMERS"]

DEPTH = 3  # how many lines deep a log's argument is written out
# the ops whose argument is written out through the lines: the ones whose chain rule
# divides by a value that may underflow (log's 1./s)
CONSUMERS = frozenset({Op.LOG})


@dataclass(frozen=True)
class StableLog:
    """In the line named `line` (None: the closing expression), `log` became `form`."""

    line: str | None
    log: Expr
    form: Expr


def through_lines(program: Program, stabilize: Callable[[Expr], Expr]
                  ) -> tuple[Program, list[StableLog]]:
    """The program with each log of a name in the stable form its defining lines allow
    (the program itself when there is none), and those rewrites."""
    defined: dict[Expr, Expr] = {}   # an earlier line's leaf -> its right-hand side
    named: dict[Expr, Expr] = {}     # an earlier line's right-hand side -> its leaf
    inlined: dict[Expr, Expr] = {}   # an earlier line's leaf -> its value over the inputs
    statements = []
    done: list[StableLog] = []
    for s in program.statements:
        found: dict[Expr, Expr] = {}
        local = _through(s.local, defined, named, stabilize, found) if defined else s.local
        if local is not s.local:
            done += [StableLog(s.name, log, form) for log, form in found.items()]
            s = replace(s, local=local, inlined=substitute(local, inlined))
        statements.append(s)
        if s.name is not None:
            leaf = intermediate_leaf(s.name, s.local.shape)
            defined[leaf] = s.local
            inlined[leaf] = s.inlined
            if s.local.args:
                named.setdefault(s.local, leaf)
    if not done:
        return program, done
    return replace(program, statements=tuple(statements)), done


def _through(root: Expr, defined: dict[Expr, Expr], named: dict[Expr, Expr],
             stabilize: Callable[[Expr], Expr], found: dict[Expr, Expr]) -> Expr:
    memo: dict[Expr, Expr] = {}
    for node in topo_order(root):
        new = rebuild(node, tuple(memo[a] for a in node.args)) if node.args else node
        if new.op in CONSUMERS and stabilize(new) is new:  # no stable form in its own line
            form = _seen(new, defined, named, stabilize)
            if form is not None:
                found[new] = form
                new = form
        memo[node] = new
    return memo[root]


def _seen(node: Expr, defined: dict[Expr, Expr], named: dict[Expr, Expr],
          stabilize: Callable[[Expr], Expr]) -> Expr | None:
    """The stable form of node (a log) with its argument written out through up to DEPTH
    lines, its parts that earlier lines compute written by their names (None: none)."""
    memo: dict[Expr, Expr] = {}
    (arg,) = node.args
    for _ in range(DEPTH):
        if not any(n in defined for n in topo_order(arg)):
            return None
        arg = substitute(arg, defined, memo)
        # as written: no constructor rewrite
        seen = Expr(node.op, (arg,), node.attr, node.shape)
        found = stabilize(seen)
        if found is not seen:
            return _by_name(found, named)
    return None


def _by_name(root: Expr, named: dict[Expr, Expr]) -> Expr:
    """root with every largest part that an earlier line computes replaced by its name."""
    memo: dict[Expr, Expr] = {}

    def visit(e: Expr) -> Expr:
        if e in named:
            return named[e]
        if not e.args:
            return e
        if e not in memo:
            memo[e] = rebuild(e, tuple(visit(a) for a in e.args))
        return memo[e]

    return visit(root)
