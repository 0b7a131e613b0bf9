"""A scalar's derivative by a matrix, through differentials, as the Matrix Cookbook does.

The Jacobian of a vector by a matrix has three axes: in the chain rule's form
every step would be index notation. The differential keeps the matrix form:
each intermediate's differential is written from its pieces' differentials
(`du = dW*x`, `ds = (diag(s) - s*s')*dz`), each is carried back to `dW`, and
the scalar's differential, written `df = tr(M*dW)`, gives the derivative:
`∂f/∂W = M` in the numerator layout, its transpose in the shape of W.

    differential_steps(sh, inters, local, total, full, x)   the steps, or None
"""

from __future__ import annotations

from ..ir import expr as ir
from ..ir.expr import Expr
from ..ir.ops import Op
from ..printing import form as F
from ..simplify import simplify
from .check import Claim
from .step import Step, show
from .vocabulary import local_rule

__all__ = ["differential_steps"]


def _apply(local: Expr, dc: Expr, n: Expr, c: Expr) -> Expr:
    """∂n/∂c applied to the differential dc: a tensor of n's shape."""
    N = [("n", k) for k in range(n.ndim)]
    C = [("c", k) for k in range(c.ndim)]
    dims = dict(zip(N, n.shape)) | dict(zip(C, c.shape))
    return ir.einsum([local, dc], [N + C, C], N, dims)


# the identities of the rules in differential form (the matrix functions' own rules are)
_IN_DIFFERENTIALS = {
    "matrix product rule": "d(A*U*b) = A*dU*b: the other factors held fixed",
    "sum rule": "d(a + b) = da + db, d(a - b) = da - db",
    "element-wise function": "d f(u) = f'(u) ⊙ du, entry by entry",
    "element-wise binary operator": "d(w ⊙ x) = dw ⊙ x + w ⊙ dx",
    "power rule": "d(u.^p) = p*u.^(p - 1) ⊙ du",
    "vector sum reduction": "d sum(u) = sum(du)",
    "max(0, z) cases": "d max(0, z) = step(z) ⊙ dz: each entry's own case",
    "scalar expansion": "d(x*z) = x*dz + z*dx",
    "product rule": "d(u*v) = du*v + u*dv: one term per piece",
    "constant factor rule": "d(c*u) = c*du",
    "trace rule": "d tr(M*X) = tr(M*dX)",
    "transpose rule": "d(X') = (dX)'",
}


def _rule(it) -> tuple[str, str]:
    if len(it.children) == 1:
        rule, note = local_rule(it.expr, it.children[0])
    elif it.expr.op is Op.ADD:
        rule, note = "sum rule", ""
    elif it.expr.op is Op.EINSUM:
        rule, note = "product rule", ""
    else:
        rule, note = local_rule(it.expr, it.children[0])
    return rule, _IN_DIFFERENTIALS.get(rule, note)


def differential_steps(sh, inters, local, total, full, x: Expr):
    """The derivation of a scalar by the matrix x in differentials; None where it does
    not apply (x not a matrix, f not a scalar, a name dX taken, a form with no matrix
    notation)."""
    root = inters[-1]
    if x.ndim != 2 or root.var.ndim:
        return None
    names = {v: f"d{v.name}" for v in [x] + [it.var for it in inters]}
    if set(names.values()) & set(sh.variables):
        return None
    d = {v: ir.var(name, v.shape) for v, name in names.items()}
    shower = type(sh)({**sh.variables, **{v.name: v for v in d.values()}}, sh.inputs,
                      sh.declare)
    carried: dict[Expr, Expr] = {x: d[x]}
    steps = []
    for it in inters:
        own = simplify(ir.add([_apply(local[(it.var, c)], d[c], it.var, c)
                               for c in it.children]))
        back = simplify(ir.add([_apply(local[(it.var, c)], carried[c], it.var, c)
                                for c in it.children]))
        carried[it.var] = back
        own_form, back_form = shower.form(own), shower.form(back)
        if own_form.orient == "t" or back_form.orient == "t":
            return None
        own_text, back_text = show(own_form), show(back_form)
        before = own_text if own_text[0] != back_text[0] else ("", "")
        rule, note = _rule(it)
        texts = ((before[0], back), (back_text[0], back)) if before[0] else \
            ((back_text[0], back),)
        claim = Claim(value=back, defines=d[it.var], of=full[it.var], wrt=x, direction=d[x],
                      texts=texts)
        steps.append(Step(kind="differential", rule=rule, lhs=names[it.var], before=before[0],
                          after=back_text[0], note=note,
                          lhs_latex=f"\\mathrm{{d}}{it.name}", before_latex=before[1],
                          after_latex=back_text[1], claim=claim))
    jac = sh.jacobian(total[root.var], "s", "m")  # the numerator layout: n x m
    if jac.orient != "m":
        return None
    dx = F.sym(names[x], "m")
    trace = show(F.call("tr", [F.mul([jac, dx])], "s"))
    m = show(jac)
    steps.append(Step(kind="differential", rule="trace rule", lhs=names[root.var], before="",
                      after=trace[0],
                      note=f"a scalar is its own trace, and tr(A*B) = tr(B*A): d{root.name} = "
                      f"tr(M*d{x.name})", lhs_latex=f"\\mathrm{{d}}{root.name}",
                      after_latex=trace[1],
                      claim=Claim(value=carried[root.var], of=full[root.var], wrt=x,
                                  direction=d[x], texts=((trace[0], carried[root.var]),))))
    steps.append(Step(kind="read", rule="read off the differential",
                      lhs=f"∂{root.name}/∂{x.name}", before="",
                      after=m[0], note=f"d{root.name} = tr(M*d{x.name}) for every d{x.name} gives "
                      f"∂{root.name}/∂{x.name} = M in the numerator layout (its transpose "
                      f"has the shape of {x.name})",
                      lhs_latex=f"\\frac{{\\partial {root.name}}}{{\\partial {x.name}}}",
                      after_latex=m[1],
                      claim=Claim(value=total[root.var], of=full[root.var], wrt=x,
                                  texts=((m[0], total[root.var]),), transposed=True)))
    return steps
