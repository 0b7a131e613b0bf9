"""The derivation, step by step, as the article does it by hand.

1. introduce intermediate variables (graph.py): `u = w ⊙ x`, `y = sum(u)`;
2. take each local derivative by a named rule (vocabulary.py):
   `∂u/∂w = diag(x)`, `∂y/∂u = 1'`;
3. combine them by the chain rules: `∂y/∂w = ∂y/∂u ∂u/∂w = 1'*diag(x) = x'`,
   with the article's cases where a `step` (the derivative of max(0, z))
   appears: `0' if z ≤ 0, x' if z > 0`;
4. substitute the intermediates back and simplify, naming each identity the
   simplifier used;
5. state the result in matdiff's layout (the tensor d.evaluate returns).

Derivatives in steps 2 and 3 are shown in the article's numerator layout
(the gradient of a scalar is a row); each is computed by the engine and
simplified, so every line is a true equation.
"""

from __future__ import annotations

from ..derive import differentiate
from ..ir import expr as ir
from ..ir.chain import chain_product
from ..ir.expr import Expr, rebuild, topo_order
from ..ir.ops import Op
from ..ir.record import DerivativeRecord, FunctionRecord
from ..ir.substitute import substitute
from ..printing import form as F
from ..printing import print_derivative
from ..printing.layout import layout_transposes
from ..printing.matrix import kind_of
from ..simplify import simplify, simplify_logged
from .check import Claim
from .graph import decompose
from .step import ArticlePrinter, Shower, Step, show
from .vocabulary import chain_rule, local_rule

__all__ = ["Step", "derive_steps", "ArticlePrinter", "MAX_SIMPLIFY_STEPS"]

MAX_SIMPLIFY_STEPS = 12


def _kind(e: Expr) -> str:
    return kind_of(e.shape)


def _latex(name: str) -> str:
    from ..printing.latex import latex_name

    return latex_name(name)


def _partial(top: str, bottom: str) -> tuple[str, str]:
    from ..printing.latex import latex_name  # W_out is W_{out}: one subscript, valid LaTeX

    return (f"∂{top}/∂{bottom}",
            f"\\frac{{\\partial {latex_name(top)}}}{{\\partial {latex_name(bottom)}}}")


def _steps_of(e: Expr) -> list[Expr]:
    return [n for n in topo_order(e) if n.op is Op.STEP]


def _numerator(f_kind: str, x_kind: str) -> bool:
    """Whether the numerator layout shows the shape-convention tensor transposed."""
    return layout_transposes(f_kind, x_kind, "numerator")


def _cases(sh, total: Expr, lhs: tuple[str, str], f_kind: str, x_kind: str,
           claim: Claim) -> Step | None:
    """The article's cases for a derivative with one scalar step(z) factor."""
    steps = _steps_of(total)
    if len(steps) != 1 or steps[0].ndim:
        return None
    (s,) = steps
    zero = simplify(substitute(total, {s: ir.const(0.0)}))
    one = simplify(substitute(total, {s: ir.const(1.0)}))
    z_text, z_tex = show(sh.form(s.args[0]))
    a_text, a_tex = show(sh.jacobian(zero, f_kind, x_kind))
    b_text, b_tex = show(sh.jacobian(one, f_kind, x_kind))
    after = f"{a_text} if {z_text} ≤ 0;  {b_text} if {z_text} > 0"
    after_tex = (f"\\begin{{cases}} {a_tex}, & {z_tex} \\leq 0 \\\\ {b_tex}, & {z_tex} > 0 "
                 "\\end{cases}")
    claim = Claim(value=claim.value, transposed=claim.transposed,
                  cases=(s.args[0], a_text, b_text, zero, one))
    return Step(kind="cases", rule="max(0, z) cases", lhs=lhs[0], before="", after=after,
                note="step(z) is 0 for z ≤ 0 and 1 for z > 0", lhs_latex=lhs[1],
                after_latex=after_tex, claim=claim)


def _vector_step_note(sh, total: Expr) -> str:
    vectors = [s for s in _steps_of(total) if s.ndim]
    if not vectors:
        return ""
    z_text = ArticlePrinter().doprint(sh.form(vectors[0].args[0]))
    return (f"step({z_text}) is an indicator per entry: the cases z ≤ 0 and z > 0 are taken "
            "entry by entry, inside the sum over samples (one indicator per sample), not once "
            "for the whole sum")


def derive_steps(d: DerivativeRecord) -> list[Step]:
    """The steps of the derivation of d (see the module docstring).

    A derivative of order k > 1 is the Jacobian of the derivative of order k - 1
    (a Hessian is the Jacobian of the gradient g): that derivative is stated, then
    differentiated with the same kind of steps.
    """
    function = d.function
    x = function.variables[d.wrt]
    stable = _stable_steps(d)
    if d.order == 1:
        text = function.text if not stable else None
        return stable + (_derivation(d, d.stable, text, "f") or _summary_steps(d))
    g = simplify(_lower(d))
    sh = Shower(function.variables, declare=_declared(function))
    text, tex = show(sh.form(g))
    if d.order == 2:
        what = "gradient" if not function.ir.ndim else "Jacobian"
    else:
        what = f"derivative of order {d.order - 1}"
    lhs = _partial("f", d.wrt) if d.order == 2 else (
        f"∂^{d.order - 1}f/∂{d.wrt}^{d.order - 1}",
        f"\\frac{{\\partial^{d.order - 1} f}}{{\\partial {d.wrt}^{d.order - 1}}}")
    first = Step(kind="lower", rule=what, lhs="g", before=lhs[0], after=text,
                 note=f"in the shape layout; ∂^{d.order}f/∂{d.wrt}^{d.order} is its Jacobian "
                 f"∂g/∂{d.wrt}",
                 lhs_latex="g", before_latex=lhs[1], after_latex=tex,
                 claim=Claim(value=g, of=_lower(d, d.order - 2), wrt=x, texts=((text, g),)))
    inner = _derivation(d, g, None, "g")
    return stable + [first] + (inner or _summary_steps(d))


def _stable_steps(d) -> list[Step]:
    """The rewrites of the function to its stable form (exp(X)./sum(exp(X), 2) ->
    softmax(X, 2)), the form the derivation differentiates."""
    if not d.stable_log:
        return []
    return _rewrite_steps(Shower(d.function.variables), d.stable_log)


def _derivation(d: DerivativeRecord, root: Expr, text: str | None, top: str
                ) -> list[Step] | None:
    """The steps of ∂root/∂x by intermediates and chain rules; None when there are none.

    Four phases: introduce the intermediates, their local derivatives, the chain
    rule through them (or differentials, through 3-tensors), the closing steps.
    """
    function = d.function
    x = function.variables[d.wrt]
    if x not in ir.variables(root).values():
        return None
    named = {}
    program = function.program
    if program is not None and root in (function.ir, d.stable):  # a program: its own names
        named = {s.inlined: s.name for s in program.statements if s.name}
        top = named.get(root, top)
    inters = decompose(root, x, top, named)
    if not inters:
        return None
    sh = Shower({**function.variables, **{it.name: it.var for it in inters}},
                function.variables, _declared(function))
    full, steps = _introductions(sh, inters, text)
    first_local = len(steps)
    local, shown, local_steps = _local_steps(sh, inters)
    total, total_form, chain_steps = _chain_steps(sh, inters, local, shown, full, x)
    steps += local_steps + chain_steps
    if any(f.orient == "t" for f in [*shown.values(), *total_form.values()]):
        # a scalar by a matrix through 3-tensors: differentials keep the matrix form
        from .differential import differential_steps

        instead = differential_steps(sh, inters, local, total, full, x)
        if instead is not None:
            steps[first_local:] = instead
    top_it = inters[-1]
    steps.extend(_closing_steps(d, root, inters, full, total[top_it.var], top_it.name))
    return steps


def _introductions(sh: Shower, inters: list, text: str | None
                   ) -> tuple[dict[Expr, Expr], list[Step]]:
    """A step defining each intermediate, and each written in the variables (`full`)."""
    steps: list[Step] = []
    full: dict[Expr, Expr] = {}
    for it in inters:
        full[it.var] = substitute(it.expr, full)
        written, tex = show(sh.form(it.expr))
        before = ""
        if len(inters) == 1 and text and _one_line(text) and text.strip() != written:
            before = text.strip()  # f = tr(A*X*B) = sum((B*A) ⊙ X'): where the form comes from
        texts = ((before, it.expr), (written, it.expr)) if before else ((written, it.expr),)
        steps.append(Step(kind="introduce", rule="introduce an intermediate variable",
                          lhs=it.name, before=before, after=written, lhs_latex=it.name,
                          after_latex=tex,
                          claim=Claim(value=it.expr, defines=it.var, texts=texts)))
    return full, steps


def _local_steps(sh: Shower, inters: list) -> tuple[dict, dict, list[Step]]:
    """Each intermediate's derivative by each of its children: (local, their forms, steps).

    A local derivative names the pieces it mentions: ∂u/∂z = diag(u) - u*u' for
    u = softmax(z).
    """
    local: dict[tuple[Expr, Expr], Expr] = {}
    shown: dict[tuple[Expr, Expr], F.Form] = {}
    steps: list[Step] = []
    names = {it.expr: it.var for it in inters[:-1]}
    for it in inters:
        for c in it.children:
            L = simplify(substitute(differentiate(it.expr, c), names))
            local[(it.var, c)] = L
            shown[(it.var, c)] = sh.jacobian(L, _kind(it.var), _kind(c))
            rule, note = local_rule(it.expr, c)
            lhs = _partial(it.name, c.name)
            after = show(shown[(it.var, c)])
            texts = [(after[0], L)]
            before = ("", "")
            terms = _product_terms(it.expr, c, names)
            if terms:
                forms = sorted((sh.jacobian(t, _kind(it.var), _kind(c)) for t in terms),
                               key=lambda f: f.tcount)
                if all(f.orient != "t" for f in forms):
                    before = show(F.add(forms))
                    if before[0] != after[0]:
                        texts.insert(0, (before[0], L))
                    else:
                        before = ("", "")
            note = _join(note, _differential(it.name, it.var, c, shown[(it.var, c)]))
            claim = Claim(value=L, of=it.expr, wrt=c, texts=tuple(texts),
                          transposed=_numerator(_kind(it.var), _kind(c)))
            steps.append(Step(kind="local", rule=rule, lhs=lhs[0], before=before[0],
                              after=after[0], note=note, lhs_latex=lhs[1],
                              before_latex=before[1], after_latex=after[1], claim=claim))
    return local, shown, steps


def _chain_steps(sh: Shower, inters: list, local: dict, shown: dict,
                 full: dict[Expr, Expr], x: Expr) -> tuple[dict, dict, list[Step]]:
    """The chain rule through each intermediate: (total derivatives, their forms, steps)."""
    total: dict[Expr, Expr] = {x: ir.delta(list(x.shape))}
    total_form: dict[Expr, F.Form] = {}
    steps: list[Step] = []
    for it in inters:
        terms = [chain_product(local[(it.var, c)], total[c], it.var, c, x) for c in it.children]
        J, log = simplify_logged(ir.add(terms))
        total[it.var] = J
        total_form[it.var] = sh.jacobian(J, _kind(it.var), _kind(x))
        if it.children == (x,):
            continue  # the local derivative is already the total one
        rule, note = chain_rule(len(it.children), [c.shape for c in it.children] + [x.shape])
        used = list(dict.fromkeys(_identity(f.rule) for f in log))
        if used:
            note += "; simplified by " + "; ".join(used)
        lhs = _partial(it.name, x.name)
        symbolic = [(_partial(it.name, c.name), _partial(c.name, x.name)) for c in it.children]
        before = " + ".join(f"{a[0]} {b[0]}" for a, b in symbolic)
        before_tex = " + ".join(f"{a[1]} {b[1]}" for a, b in symbolic)
        product = _product_form(it, x, shown, total_form)
        product = product and sh.composed(product)
        after = show(total_form[it.var])
        texts = [(after[0], J)]
        if product is not None:
            p_text, p_tex = show(product)
            if p_text != after[0]:
                before, before_tex = f"{before} = {p_text}", f"{before_tex} = {p_tex}"
                texts.insert(0, (p_text, J))
        claim = Claim(value=J, of=full[it.var], wrt=x, texts=tuple(texts),
                      transposed=_numerator(_kind(it.var), _kind(x)))
        steps.append(Step(kind="chain", rule=rule, lhs=lhs[0], before=before, after=after[0],
                          note=note, lhs_latex=lhs[1], before_latex=before_tex,
                          after_latex=after[1], claim=claim))
        cases = _cases(sh, J, lhs, _kind(it.var), _kind(x), claim)
        if cases is not None:
            steps.append(cases)
    return total, total_form, steps


def _one_line(text: str) -> bool:
    return not any(ch in text for ch in "\n;=")


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _identity(rule) -> str:
    """A rewrite rule for a note: its name, and its identity unless that is index notation."""
    if "δ" in rule.identity or "[" in rule.identity:
        return rule.name
    return f"{rule.name} ({rule.identity})"


def _product_terms(e: Expr, c: Expr, names: dict[Expr, Expr]) -> list[Expr]:
    """The product rule's terms of ∂e/∂c when c is a factor of e more than once: one
    term per occurrence, the other occurrences held fixed."""
    if e.op is not Op.EINSUM:
        return []
    at = [k for k, a in enumerate(e.args) if a is c]
    if len(at) < 2:
        return []
    held = ir.var(f"_held_{c.name}", c.shape, bool(c.attr[1]))
    terms = []
    for k in at:
        args = tuple(held if (j in at and j != k) else a for j, a in enumerate(e.args))
        t = differentiate(rebuild(e, args), c)
        terms.append(simplify(substitute(substitute(t, {held: c}), names)))
    return terms


def _differential(name: str, f: Expr, x: Expr, jac: F.Form) -> str:
    """For a scalar f of a matrix X: df = tr(M*dX), the Matrix Cookbook's way to read
    a gradient off a differential (M is ∂f/∂X in the numerator layout)."""
    if f.ndim or x.ndim != 2 or jac.orient != "m":
        return ""
    dx = F.sym(f"d{x.name}", "m")
    trace = ArticlePrinter().doprint(F.call("tr", [F.mul([jac, dx])], "s"))
    m = ArticlePrinter().doprint(jac)
    return (f"d{name} = {trace} for every d{x.name}, so ∂{name}/∂{x.name} = {m} "
            f"(the numerator layout; the gradient in the shape of {x.name} is its transpose)")


def _declared(function: FunctionRecord) -> dict[str, str]:
    """The user's declarations: the steps print as they will be read back (a row vector r
    as r)."""
    return dict(function.declarations)


def _printed(d: DerivativeRecord, notation: str, layout: str = "shape") -> str:
    """d as the API prints it (Derivative.printed), through printing directly."""
    f = d.function
    return print_derivative(d.ir, f.ir, d.wrt, d.order, layout, notation, f.orientation,
                            f.variables, f.declarations, f.rows)


def _product_form(it, x, shown, total_form) -> F.Form | None:
    """∂n/∂c ∂c/∂x as a product of the printed forms, when they are matrices and the
    chain contracts one axis (c a vector or a scalar: a matrix c sums over two axes,
    which no matrix product of its Jacobians shows)."""
    if it.var.ndim + x.ndim > 2:  # a 3- or 4-tensor: X*inv(S) would be a matrix product,
        return None               # where ∂(u*X)/∂S for a scalar u is their outer product
    parts = []
    for c in it.children:
        if c.ndim > 1:  # a matrix in between contracts two axes: no matrix product says that
            return None
        a = shown[(it.var, c)]
        b = total_form.get(c) if c is not x else None
        if a.orient == "t" or (b is not None and b.orient == "t") or (c is not x and c.ndim > 1):
            return None
        try:
            parts.append(_product([a, b]) if b is not None else a)
        except ValueError:
            return None
    return F.add(parts) if len(parts) > 1 else parts[0]


def _product(factors: list[F.Form]) -> F.Form:
    """The product of the factors as the steps before showed them: a minus sign goes in
    front (`-(1/t^2)*(...)`), not into a factor's terms, so each factor reads as before."""
    sign = 1
    plain = []
    for f in factors:
        while f.kind == "neg":
            sign, f = -sign, f.args[0]
        plain.append(f)
    out = F.mul(plain)
    if F.is_num(out, 0.0):  # a zero factor: 0*diag(x)*X keeps the product's shape and size
        kind = "s"
        for f in plain:
            kind = F.product_kind(kind, f.orient) or kind
        if kind in ("c", "m", "r"):
            rest = [f for f in plain if not F.is_num(f)]
            out = F.Form("mul", (F.num(0.0), *rest), None, kind, None,
                         sum(f.tcount for f in rest))
    if out.kind == "neg":
        sign, out = -sign, out.args[0]
    return F.Form("neg", (out,), None, out.orient, None, out.tcount) if sign < 0 else out


def _layouts(d) -> tuple[str, str]:
    f_kind = _kind(d.function.ir)
    if f_kind == "c" and d.function.orientation == "row":
        f_kind = "r"
    return f_kind, _kind(d.function.variables[d.wrt])


def _closing_steps(d, root: Expr, inters, full, total_root: Expr, root_name: str
                   ) -> list[Step]:
    """Substitute the intermediates back, simplify with named identities, state the result."""
    steps: list[Step] = []
    # the intermediates are gone: sizes by the variables
    sh = Shower(d.function.variables, declare=_declared(d.function))
    substituted = substitute(total_root, full)
    x = d.function.variables[d.wrt]
    f_kind, x_kind = _layouts(d) if d.order == 1 else (_kind(root), _kind(x))
    transposed = _numerator(f_kind, x_kind)
    if len(inters) > 1:
        defs = ", ".join(f"{it.name} = {ArticlePrinter().doprint(sh.form(full[it.var]))}"
                         for it in inters[:-1])
        lhs = _partial(root_name, d.wrt)
        text, tex = show(sh.jacobian(substituted, f_kind, x_kind))
        claim = Claim(value=substituted, of=root, wrt=x, texts=((text, substituted),),
                      transposed=transposed)
        steps.append(Step(kind="substitute", rule="substitute the intermediates back",
                          lhs=lhs[0], before="", after=text, note=defs, lhs_latex=lhs[1],
                          after_latex=tex, claim=claim))
    steps.extend(_simplify_steps(sh, substituted))
    note = _vector_step_note(sh, d.ir)
    return steps + _result_steps(d, note, root, root_name if d.order == 1 else "f")


def _simplify_steps(sh, e: Expr) -> list[Step]:
    return _rewrite_steps(sh, simplify_logged(e)[1])


def _rewrite_steps(sh, log) -> list[Step]:
    """One step per logged rewrite, in order (those in index notation left out)."""
    steps: list[Step] = []
    seen: set = set()
    for fired in log:
        key = (fired.rule.name, fired.before, fired.after)
        if key in seen:
            continue
        seen.add(key)
        if len(steps) == MAX_SIMPLIFY_STEPS:
            steps.append(Step(kind="simplify", rule="simplify", lhs="", before="", after="…",
                              note=f"{len(log) - MAX_SIMPLIFY_STEPS} more rewrites"))
            break
        fb, fa = sh.form(fired.before), sh.form(fired.after)
        if fb.orient == "t" or fa.orient == "t":
            continue  # a rewrite in index notation: the simplifier's bookkeeping, not a lesson
        b, a = show(fb), show(fa)
        if b[0] == a[0]:
            continue  # a rewrite the printing already shows (A' is A for a symmetric A)
        claim = Claim(value=fired.after, before=fired.before,
                      texts=((b[0], fired.before), (a[0], fired.after)))
        steps.append(Step(kind="simplify", rule=fired.rule.name, lhs="", before=b[0],
                          after=a[0], note=fired.rule.identity, before_latex=b[1],
                          after_latex=a[1], claim=claim))
    return steps


def _result_steps(d, note: str = "", of: Expr | None = None, name: str = "f") -> list[Step]:
    """The result in the numerator layout of the steps, then, if it differs, once in
    matdiff's shape layout (what d.evaluate returns). `of`: what the last derivation
    differentiated (for a Hessian, the gradient)."""
    if d.order == 1:
        lhs = _partial(name, d.wrt)
    else:
        lhs = (f"∂^{d.order}f/∂{d.wrt}^{d.order}",
               f"\\frac{{\\partial^{d.order} f}}{{\\partial {_latex(d.wrt)}^{d.order}}}")
    x = d.function.variables[d.wrt]
    if of is None:
        of = d.stable if d.order == 1 else _lower(d)
    text, tex = _printed(d, "text"), _printed(d, "latex")
    shape_claim = Claim(value=d.ir, of=of, wrt=x, texts=((text, d.ir),))
    if d.order == 1:
        row, row_tex = _printed(d, "text", "numerator"), _printed(d, "latex", "numerator")
        if row != text:
            claim = Claim(value=d.ir, of=of, wrt=x, texts=((row, d.ir),), transposed=True)
            return [
                Step(kind="result", rule="result", lhs=lhs[0], before="", after=row,
                     note="in the numerator layout of the steps", lhs_latex=lhs[1],
                     after_latex=row_tex, claim=claim),
                Step(kind="layout", rule="shape layout", lhs=f"({lhs[0]})'", before="",
                     after=text,
                     note="; ".join(x for x in ("the same derivative transposed into matdiff's "
                                                "shape layout (shape(f) + shape(wrt)): what "
                                                "d.evaluate returns", note) if x),
                     lhs_latex=f"\\left({lhs[1]}\\right)^\\top", after_latex=tex,
                     claim=shape_claim)]
    layout_note = "in matdiff's shape layout: what d.evaluate returns"
    if d.order > 1:
        layout_note = "the Jacobian of g, ∂g/∂" + d.wrt + ", " + layout_note[3:]
    return [Step(kind="result", rule="result", lhs=lhs[0], before="", after=text,
                 note="; ".join(x for x in (layout_note, note) if x), lhs_latex=lhs[1],
                 after_latex=tex, claim=shape_claim)]


def _lower(d, order: int | None = None) -> Expr:
    """The derivative of order d.order - 1, or of `order` (the function for 0), unsimplified."""
    e = d.stable
    x = d.function.variables[d.wrt]
    for _ in range(d.order - 1 if order is None else order):
        e = differentiate(e, x)
    return e


def _summary_steps(d) -> list[Step]:
    """Without intermediates (x itself, higher orders, long expressions): the engine's
    derivative, the identities that simplify it, and the result."""
    sh = Shower(d.function.variables, declare=_declared(d.function))
    text, tex = show(sh.form(d.raw))
    what = "differentiate" if d.order == 1 else f"differentiate {d.order} times"
    lhs = _result_steps(d)[-1]
    x = d.function.variables[d.wrt]
    claim = Claim(value=d.raw, of=_lower(d), wrt=x, texts=((text, d.raw),))
    steps = [Step(kind="derivative", rule=what, lhs=lhs.lhs, before="", after=text,
                  note="forward mode over the expression, one rule per operation",
                  lhs_latex=lhs.lhs_latex, after_latex=tex, claim=claim)]
    steps.extend(_simplify_steps(sh, d.raw))
    return steps + _result_steps(d, _vector_step_note(sh, d.ir))
