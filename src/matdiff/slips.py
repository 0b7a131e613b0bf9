"""One slip in one place: the answer with one edit applied equals the derivative.

A wrong answer is usually right but for one slip in one place: a term without
its 1/N, the 2 of 2*reg*W, the sign of one term, a sign inside sigmoid, the
inner factor y of the chain rule. Each test here tries every edit of one kind
at every place of the answer and names the slip only when the answer with that
one edit applied equals the derivative at every point of the comparison, so a
diagnosis shown is a fix verified. The tests take the arguments of the tests in
matdiff.mistakes and return (mistake, diagnosis) or None.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from .errors import MatdiffError
from .ir import expr as ir
from .ir.expr import Expr, topo_order
from .ir.ops import SPECS, Op
from .ir.substitute import substitute

__all__ = ["FOLD", "fold", "terms_of", "term_factor", "variable", "power", "inside", "inner_factor",
           "answer_terms", "where_they_differ"]

RTOL, ATOL = 1e-6, 1e-9
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
CONSTANTS = (2.0, 0.5, 3.0, 1 / 3, 4.0, 0.25)
POWERS = (-1.0, 1.0, -0.5, 0.5)
LINEAR = frozenset({Op.EINSUM, Op.ADD, Op.VAR, Op.CONST, Op.SIZE})
C = "__slip_factor"          # a scalar leaf standing for a candidate factor
# a candidate edit that cannot be evaluated is not the slip: skip it, never fail the verdict
SLIP_ERRORS = (MatdiffError, ValueError, ArithmeticError, IndexError, TypeError, KeyError)


def values_close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return bool(np.all(np.isfinite(a) == np.isfinite(b))
                and np.allclose(np.nan_to_num(a), np.nan_to_num(b), rtol=RTOL,
                                atol=ATOL + RTOL * scale))


def all_values_close(xs, ys) -> bool:
    return len(xs) == len(ys) and all(values_close(a, b) for a, b in zip(xs, ys))


@dataclass(frozen=True)
class Factor:
    """k * size^power: a constant (size None) or a size such as 1/size(X, 1)."""

    k: float
    size: str | None = None
    power: float = 0.0
    whole: bool = False     # size is an expression of the derivative (det(X)), not a size

    def text(self) -> str:
        k = _nice(self.k) or f"{self.k:.4g}"
        if self.size is None:
            return k
        s = _atom(self.size) if abs(self.power) == 1 else f"sqrt({self.size})"
        if self.power < 0:
            return f"{k}/{s}"
        return s if k == "1" else f"{k}*{s}"

    def inverse(self) -> Factor:
        return Factor(1 / self.k, self.size, -self.power, self.whole)

    def fix(self) -> str:
        """What multiplying by this factor repairs: 'lacks the factor 1/size(X, 1)'."""
        sign = "has the wrong sign" if self.k < 0 else ""
        f = Factor(abs(self.k), self.size, self.power, self.whole)
        if f.size is None and abs(f.k - 1) < 1e-12:
            return sign
        too_many = (f.power < 0 and f.k <= 1) if self.whole else \
            ((f.power > 0 and f.k <= 1) or (f.power == 0 and f.k < 1) or
             (f.power < 0 and f.k < 1))
        size = f"has a factor {f.inverse().text()} too many" if too_many else \
            f"lacks the factor {f.text()}"
        return f"{sign} and {size}" if sign else size


def _nice(c: float) -> str | None:
    for q in (1, 2, 3, 4, 6, 8):
        p = round(c * q)
        if p != 0 and abs(c * q - p) < 1e-6 * max(1.0, abs(c * q)) and abs(p) <= 16:
            return str(p) if q == 1 else f"{p}/{q}"
    return None


def _exact(c: float) -> float:
    p, _, q = (_nice(c) or "").partition("/")
    return float(p) / float(q or 1) if p else c


def _sizes(d, case, prefer: tuple[str, ...] = ()) -> list[tuple[str, list[float]]]:
    """The sizes a factor may hold: each dimension, spelled numel(v) or size(V, k), and
    each matrix's numel, with their values at each point."""
    spellings: dict = {}
    for name, v in d.variables.items():
        for k, dim in enumerate(v.shape):
            if not isinstance(dim, int):
                text = f"numel({name})" if len(v.shape) == 1 else f"size({name}, {k + 1})"
                spellings.setdefault(dim, []).append(
                    (text, [float(np.shape(p[name])[k]) for p in case.points]))
    out = []
    for options in spellings.values():  # the spelling the answer or derivative uses
        out.append(next((o for text in prefer for o in options if o[0] in text), options[0]))
    for name, v in d.variables.items():
        if len(v.shape) == 2:
            out.append((f"numel({name})", [float(np.size(p[name])) for p in case.points]))
    return out


def _twin(values, sizes) -> bool:
    """Another size took the same value at every point: the points cannot tell which
    one a factor holds, so neither is named."""
    return sum(1 for _, other in sizes if list(other) == list(values)) > 1


def _explain(cs: list[float], sizes) -> Factor | None:
    """The factor whose value at each point is cs: a nice constant, or a nice constant
    times a power of a size."""
    if max(cs) - min(cs) < 1e-6 * max(1.0, abs(cs[0])):
        return Factor(_exact(cs[0])) if _nice(cs[0]) else None
    for text, values in sizes:
        if len(set(values)) < 2 or _twin(values, sizes):
            continue
        for power in POWERS:
            ks = [c / s ** power for c, s in zip(cs, values)]
            if max(ks) - min(ks) < 1e-6 * max(1.0, abs(ks[0])) and _nice(ks[0]):
                return Factor(_exact(ks[0]), text, power)
    return None


def _scalar_factor(d, case, cs, live) -> Factor | None:
    """A scalar of the derivative (det(X), sigmoid(w'*x)) whose value, or its inverse, at
    each point is cs times a nice constant: the factor left out (or put in) whole."""
    scalars = [n for n in topo_order(d.ir) if not n.ndim and n.op not in
               (Op.CONST, Op.SIZE, Op.VAR)][:12]
    for n in scalars:
        try:
            values = case.expected(n)
        except SLIP_ERRORS:
            continue
        vs = [float(np.asarray(values[k])) for k in live]
        if any(abs(v) < 1e-12 for v in vs) or len({round(v, 9) for v in vs}) < 2:
            continue
        for power in (1.0, -1.0):
            ks = [c / v ** power for c, v in zip(cs, vs)]
            if max(ks) - min(ks) < 1e-6 * max(1.0, abs(ks[0])) and _nice(ks[0]):
                return Factor(_exact(ks[0]), shown_text(d.variables, n), power, whole=True)
    return None


def _candidates(sizes, n: int) -> list[tuple[Factor, list[float]]]:
    """Factors to try inside a function: -1, small constants, powers of each size."""
    out = [(Factor(k), [k] * n) for k in (-1.0, *CONSTANTS)]
    for text, values in sizes:
        if len(set(values)) < 2 or _twin(values, sizes):
            continue
        for power in POWERS:
            out.append((Factor(1.0, text, power), [s ** power for s in values]))
    return out


# ---------------------------------------------------------------- values

def _evaluate(case, ans, e: Expr, extra: dict | None = None, points=None) -> list[np.ndarray]:
    """e (an expression over the answer's variables) at each point, broadcast to the
    answer's shape when it is a scalar."""
    from .evaluate import evaluate

    variables = dict(ans.variables)
    if extra:
        variables[C] = ir.var(C, ())
    out = []
    for k, (p, a) in enumerate(zip(points or case.points, case.answer(points))):
        values = dict(p) if not extra else {**p, C: np.float64(extra[k])}
        told = {s for v in ans.variables.values() for s in v.shape}
        dims = {s: n for s, n in zip(ans.shape, np.shape(a)) if isinstance(s, str)
                and s not in told} if len(ans.shape) == np.ndim(a) else {}
        with np.errstate(all="ignore"):
            v = np.asarray(evaluate(e, values, variables, check_symmetric=False, dims=dims),
                           float)
        out.append(np.broadcast_to(v, np.shape(a)) if v.ndim == 0 else v)
    return out


def _repairs(case, ans, e: Expr, E) -> bool:
    """Whether the answer rewritten as e equals the derivative at every point (the first
    point tried alone first: most candidate fixes fail there, cheaply), and at the points
    that visit e's own kinks when it has one the comparison's points were not drawn for."""
    try:
        return (values_close(_evaluate(case, ans, e, None, case.points[:1])[0], E[0])
                and all_values_close(_evaluate(case, ans, e), E)
                and _repairs_at_its_kinks(case, ans, e))
    except SLIP_ERRORS:
        return False


def _repairs_at_its_kinks(case, ans, e: Expr, k: float | None = None) -> bool:
    """A fix that moves a kink (step(B*p - B*y) made step((B*p).*z - B*y)) may be wrong
    only where its new kink and the derivative's disagree, or only at the entry a max
    picks, which the points drawn for the answer need not visit: checked again at
    points drawn for it. `k`: the value of the candidate factor C, when e has one."""
    points = getattr(case, "points_for", None)
    if points is None:
        return True
    pts = points(e, ans.variables)
    if pts is None:
        return True   # no kink the comparison's points were not drawn for
    extra = None if k is None else [k] * len(pts)
    return all_values_close(_evaluate(case, ans, e, extra, pts), case.expected(values=pts))


def answer_terms(e: Expr) -> list[Expr]:
    """The top-level terms of a sum (e itself when it is not one)."""
    if e.op is Op.ADD:
        return [t for a in e.args for t in answer_terms(a)]
    return [e]


# Expressions that stand for names the answer may use (a program's intermediates, the
# earlier lines of a backward pass), set while one answer is judged: diagnoses print them
# as those names.
FOLD: ContextVar[dict | None] = ContextVar("FOLD", default=None)


def fold(e: Expr) -> Expr:
    """e with each expression that stands for a name written as that name."""
    names = FOLD.get()
    if not names:
        return e
    memo: dict = {}

    def go(n):
        if n in names:
            return names[n]
        if n not in memo:
            memo[n] = ir.rebuild(n, tuple(go(a) for a in n.args)) if n.args else n
        return memo[n]

    try:
        return go(e)
    except SLIP_ERRORS:
        return e


def shown_text(variables, e: Expr) -> str:
    from .printing import to_text

    return to_text(fold(e), variables=None)


def terms_of(e, depth: int = 0) -> list:
    """The additive terms of e: sums flattened, a product over one sum distributed."""
    if depth > 4:
        return [e]
    if e.op is Op.ADD:
        return [t for a in e.args for t in terms_of(a, depth + 1)]
    if e.op is Op.EINSUM:
        sums = [k for k, a in enumerate(e.args) if a.op is Op.ADD]
        if len(sums) == 1:
            (k,) = sums
            ins, out, sizes = e.attr
            terms = []
            for t in e.args[k].args:
                args = list(e.args)
                args[k] = t
                terms.extend(terms_of(ir.einsum(args, [list(i) for i in ins], list(out),
                                                 dict(zip(out, sizes))), depth + 1))
            return terms
    return [e]


# ---------------------------------------------------------------- the tests

def _term_name(terms, i: int, text: str) -> str:
    if len(terms) == 1:
        return "the answer"
    which = ORDINALS[i] if i < len(ORDINALS) else f"term {i + 1}"
    return f"the {which} term, {text},"


def term_factor(d, ans, case, A, E, expected):
    """One term of the answer times a factor (a constant, a size, -1, 0) is right: the term
    lacks a 1/N, a 2, has the wrong sign, or does not belong."""
    sizes = _sizes(d, case, (str(getattr(d.function, "text", "")), ans.text, expected))
    written = answer_terms(ans.ir)
    for level, terms in enumerate(([ans.ir], written, terms_of(ans.ir))):
        if level == 2 and list(dict.fromkeys(terms)) == list(dict.fromkeys(written)):
            break
        terms = list(dict.fromkeys(terms))
        if len(terms) > 12:
            continue
        for i, t in enumerate(terms):
            try:
                tv = _evaluate(case, ans, t)
            except SLIP_ERRORS:
                continue
            cs = []   # the factor at each point where the term is not zero
            for a, e, v in zip(A, E, tv):
                vv = float(np.sum(v * v))
                cs.append(None if vv < 1e-20 else 1.0 + float(np.sum((e - a) * v)) / vv)
            live = [k for k, c in enumerate(cs) if c is not None]
            if not live or not all_values_close([A[k] + ((cs[k] or 1.0) - 1) * tv[k]
                                           for k in range(len(A))], E):
                continue
            cs = [cs[k] for k in live]
            text = shown_text(ans.variables, t)
            if all(abs(c) < 1e-9 for c in cs):
                if len(terms) == 1:
                    continue
                return "extra term", (f"the term {text} of the answer does not belong: "
                                      "without it the answer is right")
            f = _explain(cs, [(t, [v[k] for k in live]) for t, v in sizes]) or \
                _scalar_factor(d, case, cs, live)
            if f is None:
                continue
            name = _term_name(terms, i, text) if level < 2 else \
                f"with the answer's products expanded into terms, the term {text}"
            if len(terms) == 1 and f.size is None:
                continue  # the whole answer times a constant: the factor test's
            what = "term sign" if (f.k == -1 and f.size is None) else \
                ("factor" if len(terms) == 1 else "term factor")
            return what, f"{name} {f.fix()} (with it, the answer equals the derivative)"
    return None


def variable(d, ans, case, A, E, expected):
    """One variable written for another of the same shape (w for x): with the right one
    in its place, the answer is right."""
    places = [(p, i) for p in topo_order(ans.ir) for i, n in enumerate(p.args)
              if n.op is Op.VAR and n.name in d.variables][:40]
    for p, i in places:
        n = p.args[i]
        for name, other in d.variables.items():
            if name == n.name or other.shape != n.shape:
                continue
            try:
                e = substitute(ans.ir, {p: ir.rebuild(p, (*p.args[:i], other, *p.args[i + 1:]))})
            except SLIP_ERRORS:
                continue
            if not _repairs(case, ans, e, E):
                continue
            where = shown_text(ans.variables, p)
            return "variable", (f"the answer has {n.name} where the derivative has {name}, in "
                                f"{where} (with {name} in its place, the answer equals the "
                                "derivative)")
    return None


def power(d, ans, case, A, E, expected):
    """One power's exponent off (by one or two, or its sign): (v + eps).^(-0.5) where
    (v + eps).^(-1.5) belongs, x.^3 where the derivative of x.^3 has x.^2."""
    powers = [n for n in topo_order(ans.ir) if n.op is Op.POW and n.args[1].op is Op.CONST
              ][:12]
    for n in powers:
        p = float(n.args[1].attr)
        for q in dict.fromkeys((p - 1, p + 1, -p, p - 2, p + 2)):
            if q == p or q == 0:
                continue
            right = ir.rebuild(n, (n.args[0], ir.const(q, n.args[1].shape)))
            e = substitute(ans.ir, {n: right})
            if not _repairs(case, ans, e, E):
                continue
            return "power", ("a power is off: where the answer has "
                             f"{shown_text(ans.variables, n)}, "
                             f"the derivative has {shown_text(ans.variables, right)} (with it, the "
                             "answer equals the derivative)")
    return None


def inside(d, ans, case, A, E, expected):
    """The argument of one function scaled (a sign inside sigmoid, a missing 1/sqrt(d)
    inside softmax): that one edit makes the answer right."""
    sizes = _sizes(d, case, (str(getattr(d.function, "text", "")), ans.text, expected))
    cands = _candidates(sizes, len(case.points))
    places = []
    for node in topo_order(ans.ir):
        if node.op in LINEAR or SPECS[node.op].kind not in ("elementwise", "matrix"):
            continue
        for a in node.args[:1]:
            if a.op is not Op.CONST and (a, node) not in places:
                places.append((a, node))
    scaled = ir.var(C, ())
    for f, values in cands:
        for arg, fn in places[:16]:
            e = substitute(ans.ir, {arg: ir.scale(arg, scaled)})
            try:
                first = _evaluate(case, ans, e, values[:1], case.points[:1])
                if not values_close(first[0], E[0]):
                    continue
                if not all_values_close(_evaluate(case, ans, e, values), E):
                    continue
                if f.size is None:
                    if not _repairs_at_its_kinks(case, ans, e, f.k):
                        continue
                elif case.points_for(e, ans.variables) is not None:
                    continue   # a size factor's values at other points are not known
            except SLIP_ERRORS:
                continue
            was = shown_text(ans.variables, fn)
            if f.k == -1 and f.size is None:
                right = shown_text(ans.variables, ir.rebuild(fn, (ir.neg(arg), *fn.args[1:])))
                return "sign inside", (f"a sign inside a function: where the answer has {was}, "
                                       f"the derivative has {right} (with that sign, the "
                                       "answer equals the derivative)")
            return "factor inside", (f"inside {was}, {shown_text(ans.variables, arg)} {f.fix()} "
                                     "(with it, the answer equals the derivative)")
    return None


def inner_factor(d, ans, case, A, E, expected):
    """One place of the answer multiplied entry by entry by a factor of the chain rule (a
    variable such as the labels y, or an indicator step(z) of the derivative) is right:
    the answer leaves out that inner factor."""
    factors = [v for name, v in d.variables.items()]
    factors += [n for n in topo_order(d.ir) if n.op in (Op.STEP, Op.SIGN) or
                (n.op not in LINEAR and SPECS[n.op].kind == "elementwise" and n.ndim)]
    factors = list(dict.fromkeys(factors))[:12]
    places = [n for n in reversed(topo_order(ans.ir)) if n.ndim and n.op is not Op.CONST]
    for g in factors:
        for n in places[:40]:
            if n == g:
                continue
            labels = list(range(n.ndim))
            if n.shape == g.shape:
                along, tick = labels, ""
            elif g.ndim == 1 and n.ndim == 2 and g.shape[0] == n.shape[1]:
                along, tick = [1], "'"   # g' repeated down the rows
            elif g.ndim == 1 and n.ndim == 2 and g.shape[0] == n.shape[0]:
                along, tick = [0], ""    # g repeated along the columns
            else:
                continue
            for sign in (1.0, -1.0):
                factor = g if sign > 0 else ir.neg(g)
                e = substitute(ans.ir, {n: ir.einsum([n, factor], [labels, along], labels)})
                if not _repairs(case, ans, e, E):
                    continue
                gt = shown_text(d.variables, factor)
                nt = shown_text(ans.variables, n)
                gt = _atom(gt) + tick if tick else gt
                both = f"{_atom(nt)}.*{_atom(gt)}"
                return "inner factor", (
                    f"the answer leaves out the inner factor {gt} of the chain rule: where it "
                    f"has {nt}, the derivative has {both} (with it, the answer equals the "
                    "derivative)")
    return _inside_a_product(d, ans, case, E, factors, places)


def _inside_a_product(d, ans, case, E, factors, places):
    """The factor entry by entry on the indices where two factors of a product meet:
    X'*(P*W2') for X'*((P*W2').*step(Z1)), a product fused into one."""
    import itertools

    for n in places[:40]:
        if n.op is not Op.EINSUM:
            continue
        ins, out, sizes = n.attr
        dims = {}
        for arg, labels in zip(n.args, ins):
            dims.update(zip(labels, arg.shape))
        for g in factors:
            if not g.ndim or g.ndim > 2:
                continue
            for pick in itertools.permutations(list(dims), g.ndim):
                if tuple(dims[x] for x in pick) != g.shape or set(pick) <= set(out):
                    continue
                try:
                    fixed = ir.einsum([*n.args, g], [*map(list, ins), list(pick)], list(out),
                                      dict(zip(out, sizes)))
                    e = substitute(ans.ir, {n: fixed})
                except SLIP_ERRORS:
                    continue
                if not _repairs(case, ans, e, E):
                    continue
                return "inner factor", (
                    f"the answer leaves out the inner factor {shown_text(d.variables, g)} of the "
                    f"chain rule: where it has {shown_text(ans.variables, n)}, the derivative has "
                    f"{shown_text(ans.variables, fixed)} (with it, the answer equals the "
                    "derivative)")
    return None


def _atom(text: str) -> str:
    """text as an operand of .*: parenthesized unless it is a name or one call."""
    if re.fullmatch(r"[A-Za-z_]\w*'?", text):
        return text
    m = re.fullmatch(r"[A-Za-z_]\w*(\(.*\))'?", text)
    if m:
        depth = 0
        for i, ch in enumerate(m.group(1)):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and i < len(m.group(1)) - 1:
                break
        else:
            return text
    return f"({text})"


def where_they_differ(d, ans, case, A, E) -> str:
    """Which terms of the answer are terms of the derivative, and at which entries the
    answer is wrong: what 'different' can say for sure."""
    from .simplify import simplify

    k = next((i for i, (a, e) in enumerate(zip(A, E)) if not values_close(a, e)), 0)
    bad = np.argwhere(~np.isclose(A[k], E[k], rtol=RTOL, atol=1e-8 + RTOL * max(
        1.0, float(np.max(np.abs(E[k]), initial=0.0)))))
    total = int(np.size(E[k]))
    where = ""
    if np.ndim(E[k]) and len(bad):
        shown = ", ".join("[" + ", ".join(str(int(i)) for i in idx) + "]" for idx in bad[:4])
        where = f"; at the point shown, {len(bad)} of {total} entries differ ({shown}" + \
            (", ..." if len(bad) > 4 else "") + ")"
    terms = list(dict.fromkeys(answer_terms(ans.ir)))
    if len(terms) < 2:
        return where
    top = list(dict.fromkeys(answer_terms(d.ir)))[:12]
    want = list(dict.fromkeys(top + [simplify(t) for t in terms_of(d.ir)] +
                              [simplify(t) for t in terms_of(d.raw)]))[:16]
    try:
        mine = [_evaluate(case, ans, t) for t in terms]
        theirs = [case.expected(t) for t in want]
    except SLIP_ERRORS:
        return where
    right, wrong, used = [], [], set()
    for t, tv in zip(terms, mine):
        hit = next((k for k, w in enumerate(theirs) if all_values_close(tv, w)), None)
        (right if hit is not None else wrong).append(shown_text(ans.variables, t))
        if hit is not None:
            used.add(want[hit])
    if right and wrong:
        rest = [shown_text(d.variables, t) for t in top if t not in used]
        return (f"; the term{'s' if len(right) > 1 else ''} {', '.join(right)} "
                f"{'are terms' if len(right) > 1 else 'is a term'} of the derivative, "
                f"{', '.join(wrong)} {'are' if len(wrong) > 1 else 'is'} not"
                + (f" (the derivative's other term{'s' if len(rest) > 1 else ''}: "
                   f"{', '.join(rest)})"
                   if rest and len(rest) < len(top) else "") + where)
    return where
