"""The likely mistakes in a hand-derived derivative, for matdiff.compare.

Each test takes the derivative d, the parsed answer, the points (a _Case) and
the values of the answer (A) and of the derivative (E) at those points, and
returns (mistake, diagnosis) or None. matdiff.comparison tries them in order.
"""

from __future__ import annotations

import itertools

import numpy as np

from .errors import MatdiffError
from .ir.substitute import substitute
from .slips import ATOL, RTOL, all_values_close, values_close
from .slips import terms_of as _terms_of

__all__ = ["TESTS", "RTOL", "ATOL"]



def layout_text(d, expected: str) -> str:
    return ("the answer is the transpose of the derivative: the other layout. The "
            f"derivative of a scalar by a matrix has the shape of {d.wrt} in matdiff's "
            f"shape layout ({expected}); the article's numerator layout transposes it")


def _layout(d, ans, case, A, E, expected):
    if all(e.ndim == 2 and e.shape == e.T.shape for e in E) and \
            all_values_close(A, [e.T for e in E]):
        return "layout", layout_text(d, expected)
    return None


def _sign(d, ans, case, A, E, expected):
    if all_values_close(A, [-e for e in E]):
        return "sign", "the answer is minus the derivative: a sign error"
    if all(e.ndim == 2 for e in E) and all_values_close(A, [-e.T for e in E]):
        return "sign", ("the answer is minus the transpose of the derivative: a sign error, "
                        "and the other layout")
    return None


def _ratio(a: np.ndarray, e: np.ndarray) -> float | None:
    ee = float(np.sum(e * e))
    if ee < 1e-20:
        return None
    return float(np.sum(a * e) / ee)


def _number(c: float) -> str:
    for q in (1, 2, 3, 4, 6, 8):
        if abs(c * q - round(c * q)) < 1e-6 and round(c * q) != 0:
            p = round(c * q)
            return str(p) if q == 1 else f"{p}/{q}"
    return f"{c:.4g}"


def _factor(d, ans, case, A, E, expected):
    cs = [_ratio(a, e) for a, e in zip(A, E)]
    if not all_values_close(A, [(1.0 if c is None else c) * e for c, e in zip(cs, E)]):
        return None
    live = [k for k, c in enumerate(cs) if c is not None]  # where the derivative is not 0
    if not live:
        return None
    cs = [cs[k] for k in live]
    if max(cs) - min(cs) < 1e-6 * max(1.0, abs(cs[0])):
        c = cs[0]
        if abs(c) < 1e-12:
            return None
        return "factor", (f"the answer is {_number(c)} times the derivative: a constant factor "
                          f"{'too many' if abs(c) > 1 else 'missing'} (the derivative is "
                          f"{_number(1 / c)} times the answer)")
    # a size: numel(v) or 1/numel(v), as when a mean is taken for a sum
    every = {name: [float(np.size(case.points[k][name])) for k in live] for name in d.variables}
    for name in d.variables:
        sizes = every[name]
        if len({tuple(sorted(map(str, d.variables[n].shape))) for n, o in every.items()
                if o == sizes}) > 1:
            continue  # another size took the same values at every point: they cannot tell
        for power, word in ((1, "times"), (-1, "divided by")):
            if all(abs(c - s ** power) < 1e-6 * max(1.0, abs(c)) for c, s in zip(cs, sizes)):
                return "factor", (f"the answer is the derivative {word} numel({name}): a "
                                  "size factor, as when a mean is differentiated as a sum "
                                  "(or a sum as a mean)")
    return None


def _case_split(d, ans, case, A, E, expected):
    from .ir import expr as ir
    from .ir.expr import topo_order
    from .ir.ops import Op

    steps = [n for n in topo_order(d.ir) if n.op is Op.STEP and n.ndim]
    if not steps or any(n.op is Op.STEP and n.shape in {s.shape for s in steps}
                        for n in topo_order(ans.ir)):
        return None  # an answer with an indicator per sample took no one case for all
    ones = {s: ir.const(1.0, s.shape) for s in steps}
    linear = dict(ones)  # the linear branch: max(0, z) is z when every sample is active
    for n in topo_order(d.ir):
        if n.op is Op.MAX and any(a.op is Op.CONST and a.attr == 0.0 for a in n.args):
            linear[n] = next(a for a in n.args if a.op is not Op.CONST)
    variants = {
        "linear": case.expected(substitute(d.ir, linear)),
        "active": case.expected(substitute(d.ir, ones)),
        "inactive": case.expected(substitute(d.ir, {s: ir.const(0.0, s.shape) for s in steps})),
    }
    per_point = []
    for k, (a, e) in enumerate(zip(A, E)):
        if values_close(a, e):
            per_point.append(set(variants))
            continue
        per_point.append({name for name, v in variants.items() if values_close(a, v[k])})
    if not all(per_point) or all("active" in p for p in per_point):
        return None  # every sample active everywhere: relu's derivative left out (chain factor)
    z = ", ".join(sorted({_text(d, s.args[0]) for s in steps}))
    return "case split", ("the answer takes one case of max(0, z) for the whole sum: as if "
                          "every sample were active (or every one inactive), or with one "
                          f"indicator for all of them. The indicator step({z}) is taken per "
                          "sample, entry by entry, inside the sum over samples")


def _text(d, e) -> str:
    from .slips import shown_text as shown

    return shown(d.variables, e)


def _chain_factor(d, ans, case, A, E, expected):
    """Each local derivative of the chain (square, so it can be left out) replaced by
    the identity: does the answer equal that incomplete chain?"""
    if d.order != 1:
        return None
    from .derive import differentiate
    from .explain.graph import decompose
    from .ir import expr as ir
    from .ir.chain import chain_product
    from .simplify import simplify

    x = d.variables.get(d.wrt)
    if x is None:
        return None  # the gradient by an intermediate of a program
    inters = decompose(d.function.ir, x)
    if not inters or len(inters) > 12:
        return None
    full = {}
    for it in inters:
        full[it.var] = substitute(it.expr, full)
    local = {(it.var, c): differentiate(it.expr, c) for it in inters for c in it.children}
    by_var = {it.var: it for it in inters}
    for skip, L in local.items():
        n, c = skip
        if n.shape != c.shape or n.ndim > 1 or \
                (n.ndim and _spec_kind(by_var[n].expr) != "elementwise"):
            continue  # only an element-wise function's factor can be "left out" as such
        total = {x: ir.delta(list(x.shape))}
        for it in inters:
            terms = []
            for ch in it.children:
                loc = ir.delta(list(n.shape)) if (it.var, ch) == skip else local[(it.var, ch)]
                terms.append(chain_product(loc, total[ch], it.var, ch, x))
            total[it.var] = ir.add(terms)
        J = simplify(substitute(total[inters[-1].var], full))
        if all_values_close(A, case.expected(J)):
            it = next(i for i in inters if i.var is n)
            shown = _text(d, simplify(substitute(L, full)))
            return "chain factor", (
                f"the answer leaves out one factor of the chain rule: ∂{it.name}/∂{c.name} = "
                f"{shown}, the derivative of {it.name} = {_text(d, full[n])} by its argument")
    return None


def _spec_kind(e) -> str:
    from .ir.ops import SPECS

    return SPECS[e.op].kind


def _transposed_variable(d, ans, case, A, E, expected):
    for name, v in d.variables.items():
        if len(v.shape) != 2 or v.attr[1]:
            continue
        pts = [{**p, name: p[name].T} for p in case.points]
        if any(p[name].shape[0] != p[name].shape[1] for p in case.points):
            continue
        try:
            swapped = case.answer(pts)
        except MatdiffError:
            continue
        if all_values_close(swapped, E):
            return "transpose", (f"the answer has {name} where the derivative has {name}' "
                                 f"(or the other way round): a transpose of {name} is "
                                 "misplaced")
    return None


def _symmetrized(points, variables):
    out = []
    for p in points:
        q = dict(p)
        for name in variables:
            a = q[name]
            if np.ndim(a) == 2 and a.shape[0] == a.shape[1]:
                q[name] = (a + a.T) / 2
        out.append(q)
    return out


def _symmetric(d, ans, case, A, E, expected):
    square = [n for n, v in d.variables.items() if len(v.shape) == 2 and not v.attr[1]
              and all(np.shape(p[n])[0] == np.shape(p[n])[1] for p in case.points)]
    if not square:
        return None
    # the fewest matrices that, made symmetric, make the answer right: one, else all
    subsets = [list(c) for k in range(1, len(square) + 1)
               for c in itertools.combinations(square, k)][:15]
    for names in subsets:
        pts = _symmetrized(case.points, names)
        try:
            if not all_values_close(case.answer(pts), case.expected(values=pts)):
                continue
        except MatdiffError:
            return None
        shown = ", ".join(names)
        verb = "is" if len(names) == 1 else "are"
        first = names[0]
        return "symmetric", (f"the answer is right when {shown} {verb} symmetric, not in "
                             f"general: for a general {first}, {first} and {first}' are "
                             f"different (declare {'it' if len(names) == 1 else 'them'} "
                             "\"symmetric matrix\" if so)")
    return None


def _terms(d, ans, case, A, E, expected):
    from .simplify import simplify

    want = [simplify(t) for t in _terms_of(d.raw)] + [simplify(t) for t in _terms_of(d.ir)]
    unique = list(dict.fromkeys(want))[:10]
    if len(unique) < 2 and not _terms_of(ans.ir)[1:]:
        return None
    values = [case.expected(t) for t in unique]
    for size in (1, 2):
        for pick in itertools.combinations(range(len(unique)), size):
            rest = [e - sum(values[i][k] for i in pick) for k, e in enumerate(E)]
            if all_values_close(A, rest):
                names = " and ".join(_text(d, unique[i]) for i in pick)
                return "missing term", (f"the answer leaves out {names}: the derivative is "
                                        "the sum of its terms (the product rule gives one "
                                        "term per factor that holds the variable)")
    for i, t in enumerate(unique):
        if all_values_close(A, [e - 2 * values[i][k] for k, e in enumerate(E)]):
            return "term sign", f"the term {_text(d, t)} has the wrong sign"
    mine = list(dict.fromkeys(_terms_of(ans.ir)))[:10]
    if len(mine) >= 2:
        for t in mine:
            try:
                tv = _answer_term(case, ans, t)
            except MatdiffError:
                continue
            if all_values_close([a - v for a, v in zip(A, tv)], E):
                return "extra term", (f"the term {_text(ans, t)} of the answer does not belong: "
                                      "without it the answer is right")
    return None


def _answer_term(case, ans, t):
    from .evaluate import evaluate

    out = []
    for p, a in zip(case.points, case.answer()):
        v = np.asarray(evaluate(t, p, ans.variables, check_symmetric=False), float)
        out.append(np.broadcast_to(v, a.shape) if v.ndim == 0 else v)
    return out


def _assumed(points, name: str, make) -> list:
    rng = np.random.default_rng(len(points))
    return [{**p, name: make(rng, np.shape(p[name]))} for p in points]


def _rows(rng, shape):
    p = rng.uniform(0.5, 1.5, shape)
    return p / p.sum(axis=-1, keepdims=True)


def _cols(rng, shape):
    p = rng.uniform(0.5, 1.5, shape)
    return p / p.sum(axis=0, keepdims=True)


def _signs(rng, shape):
    return rng.choice([-1.0, 1.0], shape)


ASSUMPTIONS = (
    # (which variables, values, what it means, the declaration)
    (2, _rows, "each row of {n} sums to 1 (one-hot or probability rows, as a classifier's "
               "targets are)", "one-hot rows"),
    (2, _cols, "each column of {n} sums to 1 (one-hot or probability columns)",
     "one-hot columns"),
    (1, _rows, "the entries of {n} sum to 1 (a one-hot or probability vector)",
     "one-hot vector"),
    (1, _signs, "{n}.^2 = 1, that is for labels in {{-1, 1}}", "labels(-1, 1)"),
)


def _assumption(d, ans, case, A, E, expected):
    """Right only under an assumption about a variable that is not declared: rows that sum
    to 1 (one-hot targets), labels in {-1, 1}. Say which, and how to declare it."""
    from .ir.properties import is_signs, label_of

    for name, v in d.variables.items():
        if label_of(v) is not None or is_signs(v) or (len(v.shape) == 2 and v.attr[1]) or \
                name == d.wrt:
            continue
        for ndim, make, meaning, declaration in ASSUMPTIONS:
            if len(v.shape) != ndim:
                continue
            pts = _assumed(case.points, name, make)
            try:
                if not all_values_close(case.answer(pts), case.expected(values=pts)):
                    continue
            except MatdiffError:
                continue
            recheck = getattr(case, "recheck", None)
            if recheck is None or not recheck({name: declaration}):
                continue  # suggested only when the answer is right with it, checked anew
            return "assumption", (
                f"the answer is right when {meaning.format(n=name)}; for a general {name}, "
                f"as it is declared now, the derivative is {expected}. If {name} is such, "
                f"declare it: {name}: {declaration} (declare={{'{name}': '{declaration}'}}, "
                f"--declare {name}=\"{declaration}\")")
    return None


def _convention(d, ans, case, A, E, expected):
    """The gradient by a symmetric matrix in the other textbook convention: G + G' -
    diag(diag(G)), differentiating by the distinct entries of S."""
    x = d.variables.get(d.wrt)
    if d.order != 1 or x is None or len(x.shape) != 2 or not x.attr[1] or d.function.shape:
        return None
    other = [e + e.T - np.diag(np.diag(e)) for e in E]
    if not all_values_close(A, other):
        return None
    s = d.wrt
    return "convention", (
        f"the answer is the gradient in the other textbook convention for a symmetric {s}: "
        f"G + G' - diag(diag(G)) with G = {expected}. matdiff's G is the gradient with the "
        f"trace inner product: df = tr(G'*d{s}) for every change d{s}, symmetric ones "
        f"included. The other convention differentiates by the "
        f"n(n+1)/2 distinct entries of {s} as independent variables, each off-diagonal one "
        f"standing for both {s}[i,j] and {s}[j,i], so its off-diagonal entries are twice "
        "G's (the Matrix Cookbook's section on structured matrices gives it). They agree "
        "on the diagonal")


def _slips():
    from .slips import inner_factor, inside, power, term_factor, variable

    return term_factor, inside, power, inner_factor, variable


TESTS = (_layout, _sign, _factor, _assumption, _convention, _case_split, *_slips()[:3],
         _chain_factor, _slips()[3], _transposed_variable, _symmetric, _terms, _slips()[4])


def _unturned_kernel(d, ans, case, A, E, expected):
    """The derivative with its rot180 left out: the answer correlates with the kernel as it
    is, where a convolution's input gradient needs it turned half a turn."""
    from .ir.expr import topo_order
    from .ir.ops import Op

    turns = [n for n in topo_order(d.ir) if n.op is Op.ROT180]
    if not turns or not all_values_close(A, case.expected(substitute(d.ir, {n: n.args[0]
                                                                   for n in turns}))):
        return None
    return "flip", ("the answer correlates with the kernel as it is; the gradient of a "
                    "convolution wrt its input is the full correlation with the kernel turned "
                    "half a turn, rot180(K) (each input entry meets the kernel's entries in "
                    "reverse order)")


TESTS = (*TESTS, _unturned_kernel)
