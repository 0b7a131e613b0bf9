"""The simplifier: named rewrite rules applied to a fixed point, with a log.

The engine (engine.py) applies the rules of rules.py (local identities:
symmetric transposes, like terms, powers, the sigmoid and softmax
identities), cancel.py (cancellation: powers of one base, inverses,
reductions along the same axes) and factor.py (the distributive law, both ways) bottom-up
until nothing changes. Matrix notation itself (`A'*x`, `diag(x)`, `eye`)
is recovered by the printers from the simplified products.

    simplify(e)          the simplified expression
    simplify_logged(e)   (simplified, [Fired(rule, before, after), ...])
    stabilize(e)         a function spelled through exp and log, in the stable functions
                         (softmax, logsumexp, sigmoid, tanh, softplus, logdet): stable.py
"""

from __future__ import annotations

from ..ir.expr import Expr
from . import adjoint as _adjoint  # noqa: F401  (registers the rules)
from . import cancel as _cancel  # noqa: F401  (registers the local rules, then cancellation)
from . import factor as _factor  # noqa: F401  (then the costly distributive law)
from .engine import REWRITES, Context, Fired, Rewrite, run
from .stable import stabilize, stabilize_logged

__all__ = ["simplify", "simplify_logged", "stabilize", "stabilize_logged", "REWRITES",
           "Rewrite", "Fired"]


def simplify(e: Expr) -> Expr:
    """e rewritten by the named rules to a fixed point (same value wherever e is defined)."""
    return run(e)


def simplify_logged(e: Expr) -> tuple[Expr, list[Fired]]:
    """The simplified expression and the rules that fired, in order."""
    ctx = Context()
    out = run(e, ctx)
    return out, list(ctx.log)
