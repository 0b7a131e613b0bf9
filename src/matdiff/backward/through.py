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
applies (the simplifier's stable-form rules, or `stable_log` below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..ir import expr as ir
from ..ir.expr import Expr, rebuild, split_coefficient, topo_order
from ..ir.ops import Op
from ..ir.substitute import substitute
from ..language.program import Program, intermediate_leaf

__all__ = ["through_lines", "StableLog", "stable_log", "LOG_RULES", "DEPTH", "CONSUMERS"]

DEPTH = 3  # how many lines deep a log's argument is written out
# the ops whose argument is written out through the lines: the ones whose chain rule
# divides by a value that may underflow (log's 1./s)
CONSUMERS = frozenset({Op.LOG})


def _spread(value: Expr, like: Expr, axis: int | None) -> Expr:
    """value (a scalar, or one entry per row/column) spread to like's shape along axis."""
    if axis is None:
        labels = list(range(like.ndim))
        return ir.einsum([value], [[]], labels, dict(zip(labels, like.shape)))
    return ir.einsum([value], [[1 - axis]], [0, 1], {0: like.shape[0], 1: like.shape[1]})


def _logsoftmax(a: Expr) -> Expr | None:
    """log(softmax(z)) = z - logsumexp(z), along the softmax's axis."""
    if a.op is not Op.SOFTMAX:
        return None
    z, axis = a.args[0], a.attr
    shape = () if axis is None else (z.shape[1 - axis],)
    return ir.sub(z, _spread(ir.matrix_fn(Op.LOGSUMEXP, z, shape, axis), z, axis))


def _logsumexp(a: Expr) -> Expr | None:
    """log(sum(exp(z))) = logsumexp(z); log(sum(exp(Z), 2)) = logsumexp(Z, 2)."""
    if a.op is not Op.EINSUM or len(a.args) != 1 or a.args[0].op is not Op.EXP:
        return None
    (lab,), out, _ = a.attr
    z = a.args[0].args[0]
    if len(set(lab)) != len(lab):
        return None
    if not out and z.ndim == 1:
        return ir.matrix_fn(Op.LOGSUMEXP, z, ())
    if z.ndim == 2 and len(out) == 1 and out[0] in lab:
        axis = 1 if out[0] == lab[0] else 0  # the rows kept: each row summed
        return ir.matrix_fn(Op.LOGSUMEXP, z, (z.shape[1 - axis],), axis)
    return None


def _log_exp(a: Expr) -> Expr | None:
    """log(exp(z)) = z."""
    return a.args[0] if a.op is Op.EXP else None


def _log_sigmoid(a: Expr) -> Expr | None:
    """log(sigmoid(u)) = -softplus(-u); log(1 - sigmoid(u)) = -softplus(u)."""
    w = None
    if a.op is Op.SIGMOID:
        w = a.args[0]
    elif a.op is Op.ADD and len(a.args) == 2:
        (c, s), (one, k) = sorted((split_coefficient(t) for t in a.args),
                                  key=lambda p: p[1].op is Op.CONST)
        if c == -1.0 and s.op is Op.SIGMOID and k.op is Op.CONST and one * k.attr == 1.0:
            w = ir.neg(s.args[0])
    return None if w is None else ir.neg(ir.unary(Op.SOFTPLUS, ir.neg(w)))


def _logdet(a: Expr) -> Expr | None:
    """log(det(K)) = logdet(K)."""
    return ir.matrix_fn(Op.LOGDET, a.args[0], ()) if a.op is Op.DET else None


# the identities log(f(...)) = stable form, each given the log's argument (the same ones
# as the simplifier's stable-form rules: logsoftmax, logsumexp, log-exp, log-sigmoid, logdet)
LOG_RULES: list[Callable[[Expr], Expr | None]] = [
    _logsoftmax, _logsumexp, _log_exp, _log_sigmoid, _logdet]


def stable_log(e: Expr) -> Expr:
    """e, a log, in its stable form by the first of LOG_RULES that applies (else e itself)."""
    if e.op is Op.LOG:
        for rule in LOG_RULES:
            found = rule(e.args[0])
            if found is not None:
                return found
    return e


@dataclass(frozen=True)
class StableLog:
    """In the line named `line` (None: the closing expression), `log` became `form`."""

    line: str | None
    log: Expr
    form: Expr


def through_lines(program: Program, stabilize: Callable[[Expr], Expr] = stable_log
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
