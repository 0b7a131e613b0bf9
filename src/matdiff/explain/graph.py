"""Intermediate variables: the article's first move, done by machine.

"Let u = w ⊙ x, y = sum(u)": every subexpression that depends on the
variable gets a name, and is written in terms of the names of the pieces
below it. Two conventions of the article are kept:

* a dot product `w'*x` is introduced as an element-wise product followed
  by a vector sum reduction (`u = w ⊙ x`, `y = sum(u)`), the form whose
  local derivatives the article teaches (diag(x) and 1');
* scaling by a number (`-v`, `2*u`) is not given a name of its own: it
  stays inside the expression that uses it.

Subexpressions that do not depend on the variable are constants of the
derivation and keep their text (`b` in `z = y + b`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import expr as ir
from ..ir.expr import Expr, rebuild, topo_order
from ..ir.ops import Op

__all__ = ["Intermediate", "decompose", "NAMES", "MAX_INTERMEDIATES"]

NAMES = ("u", "y", "z", "v", "s", "t", "p", "q", "r", "g", "h", "k")
MAX_INTERMEDIATES = 24


@dataclass(frozen=True)
class Intermediate:
    """One named piece: name = expr, expr written over earlier names."""

    name: str
    var: Expr             # the VAR standing for it
    expr: Expr            # its definition over earlier intermediates and the variable
    children: tuple[Expr, ...]  # the VARs in expr that the variable reaches (and x itself)


class _Names:
    def __init__(self, taken: set[str], top: str = "f") -> None:
        self.taken = set(taken)
        self.top = top
        self.k = 0

    def new(self, final: bool = False, wanted: str | None = None) -> str:
        if wanted and wanted not in self.taken:
            self.taken.add(wanted)
            return wanted
        if final and self.top not in self.taken:
            self.taken.add(self.top)
            return self.top
        for name in NAMES:
            if name not in self.taken:
                self.taken.add(name)
                return name
        while f"u{self.k}" in self.taken:
            self.k += 1
        self.taken.add(f"u{self.k}")
        return f"u{self.k}"


def _scaling(node: Expr) -> bool:
    """c * u for a number c: no name of its own."""
    if node.op is not Op.EINSUM:
        return False
    ins, out, _ = node.attr
    tensors = [k for k, a in enumerate(node.args) if a.op is not Op.CONST]
    return len(tensors) == 1 and tuple(ins[tensors[0]]) == tuple(out)


def _dot_product(node: Expr) -> tuple[int, int] | None:
    """The positions of the two vectors of a dot product w'*x (possibly scaled)."""
    if node.op is not Op.EINSUM or node.ndim:
        return None
    ins, _, _ = node.attr
    tensors = [k for k, a in enumerate(node.args) if a.op is not Op.CONST]
    if len(tensors) != 2:
        return None
    a, b = tensors
    if len(ins[a]) == 1 and ins[a] == ins[b]:
        return a, b
    return None


def decompose(root: Expr, x: Expr, top: str = "f",
              named: dict[Expr, str] | None = None) -> list[Intermediate]:
    """The intermediates of root with respect to x, in order (root last, named `top` when
    that name is free); [] if too many. `named`: names the user gave to subexpressions
    (a program's assignments), used for them where free."""
    order = topo_order(root)
    depends: dict[Expr, bool] = {}
    for node in order:
        depends[node] = node is x or any(depends[a] for a in node.args)
    names = _Names({n.name for n in order if n.op is Op.VAR}, top)
    named = named or {}
    out: list[Intermediate] = []
    rep: dict[Expr, Expr] = {}
    handles = {x}

    def introduce(expr: Expr, final: bool, node: Expr | None = None) -> Expr:
        name = names.new(final, named.get(node))
        var = ir.var(name, expr.shape)
        kids = tuple(v for v in ir.variables(expr).values() if v in handles)
        out.append(Intermediate(name, var, expr, kids))
        handles.add(var)
        return var

    for node in order:
        if not depends[node] or node is x:
            rep[node] = node
            continue
        final = node is root
        dot = _dot_product(node)
        if dot is not None:
            a, b = (rep[node.args[k]] for k in dot)
            consts = [c for k, c in enumerate(node.args) if k not in dot]
            u = introduce(ir.einsum([a, b], [[0], [0]], [0]), False)
            rep[node] = introduce(ir.einsum([u] + consts, [[0]] + [[]] * len(consts), []),
                                  final, node)
            continue
        expr = rebuild(node, tuple(rep[a] for a in node.args))
        rep[node] = expr if (_scaling(node) and not final) else introduce(expr, final, node)
        if len(out) > MAX_INTERMEDIATES:
            return []
    return out
