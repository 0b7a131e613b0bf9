"""The rewrite engine: named rules applied bottom-up to a fixed point, logged.

A rule is registered with its name, the identity it applies (shown in the
step-by-step explanation) and the ops it looks at. One pass rebuilds the
expression bottom-up (a loop over topo_order, never recursion), trying the
rules of each node's op until none fires; passes repeat until nothing
changes. Every firing is logged as (rule, before, after), the log that
matdiff.explain turns into "simplify" steps.

Rules must not grow the expression: each one either shrinks it (as
canon.size counts) or moves it towards a canonical arrangement, which is
what guarantees that the fixed point is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..ir.expr import Expr, rebuild, topo_order
from ..ir.ops import Op
from .canon import Keys

__all__ = ["Rewrite", "Fired", "Context", "REWRITES", "rule", "run", "MAX_PASSES"]

MAX_PASSES = 40
MAX_LOCAL = 20  # rule firings at one node within one pass


@dataclass(frozen=True)
class Rewrite:
    """A named rewrite rule: the identity it applies, the ops it looks at, and the function."""

    name: str
    identity: str
    ops: tuple[Op, ...]
    apply: Callable[[Expr, Context], Expr | None]


@dataclass(frozen=True)
class Fired:
    """One rewrite: which rule, and the subexpression before and after."""

    rule: Rewrite
    before: Expr
    after: Expr


@dataclass
class Context:
    """What rules share during one simplification."""

    keys: Keys = field(default_factory=Keys)
    # keys for trial rewrites that are then dropped: keys number nodes in the order met, and
    # that order arranges factors, so a probe must not number nodes in `keys`
    probe: Keys = field(default_factory=Keys)
    log: list[Fired] = field(default_factory=list)
    disabled: frozenset[str] = frozenset()
    rejected: set = field(default_factory=set)  # (rule name, node) pairs known not to help
    budget: int = 100_000  # search steps the costly rules (factor) may still spend
    rules: list[Rewrite] | None = None  # the rule set to apply (None: REWRITES)


REWRITES: list[Rewrite] = []


def rule(name: str, identity: str, *ops: Op, into: list[Rewrite] | None = None):
    """Register a rewrite rule: `identity` reads like `A*x + A'*x -> (A + A')*x`.

    `into` is the rule set it joins (REWRITES, the simplifier's, by default)."""
    def register(fn: Callable[[Expr, Context], Expr | None]):
        (REWRITES if into is None else into).append(Rewrite(name, identity, tuple(ops), fn))
        return fn
    return register


def _by_op(disabled: frozenset[str], rules: list[Rewrite]) -> dict[Op, list[Rewrite]]:
    table: dict[Op, list[Rewrite]] = {}
    for r in rules:
        if r.name in disabled:
            continue
        for op in r.ops:
            table.setdefault(op, []).append(r)
    return table


def _pass(root: Expr, ctx: Context, table: dict[Op, list[Rewrite]]) -> Expr:
    mapped: dict[Expr, Expr] = {}
    for node in topo_order(root):
        new = rebuild(node, tuple(mapped[a] for a in node.args))
        for _ in range(MAX_LOCAL):
            for r in table.get(new.op, ()):
                out = r.apply(new, ctx)
                if out is not None and out is not new:
                    ctx.log.append(Fired(r, new, out))
                    new = out
                    break
            else:
                break
        mapped[node] = new
    return mapped[root]


def run(e: Expr, ctx: Context | None = None) -> Expr:
    """Apply the rules to a fixed point (at most MAX_PASSES passes)."""
    ctx = ctx or Context()
    table = _by_op(ctx.disabled, REWRITES if ctx.rules is None else ctx.rules)
    for _ in range(MAX_PASSES):
        new = _pass(e, ctx, table)
        if new is e:
            break
        e = new
    return e
