"""Is a hand-derived answer right? `matdiff.compare(answer, of=expr, wrt=x)` (this module is
matdiff.comparison, so that the name matdiff.compare stays the function).

The answer is parsed in matdiff's language with the expression's variables at
their shapes (and a program's intermediates, by name), and compared with
matdiff's derivative numerically at random points chosen on both sides of
every kink, there too where a max/min reduction picks its entry
(verify.points_across_kinks, matdiff.picks; sizes differ between points, so a
missing 1/numel(y) shows), and symbolically where the simplified forms
coincide. When they differ, the likely mistake is named by testing what a
student typically does wrong, in this order (mistakes.TESTS); from "term
factor" on, a slip is named only when the answer with that one fix applied
equals the derivative (matdiff.slips):

    shape          the answer has another shape (which it has, which it needs)
    layout         the answer is the transpose: the other layout
    sign           the answer is minus the derivative
    factor         the answer lacks a factor: a constant, a size, a scalar
    assumption     right only if an undeclared variable has one-hot rows or
                   labels in {-1, 1} (the declaration to write is given)
    convention     the other convention for the gradient by a symmetric matrix
    case split     a relu/max case split taken for the whole sum: every sample
                   active (or inactive) instead of one indicator per sample
    term factor    one term lacks a factor (1/size(X, 1), 2); term sign, extra
                   term: one term's sign, one term that does not belong
    sign inside    a sign inside a function; factor inside: a factor there
    power          one power's exponent off
    chain factor   one local derivative of the chain rule left out
    inner factor   a factor of the chain rule left out of one place
    transpose      a matrix where its transpose belongs (A*x for A'*x)
    symmetric      right only for symmetric matrices (2*A*x for (A + A')*x)
    missing term   a term of the derivative left out (compared with its terms)
    variable       one variable written for another of the same shape (w for x)
    different      none of these: the terms that match, the entries and the
                   point where they differ are given
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import MatdiffError, ShapeError
from .mistakes import TESTS, layout_text
from .signature import shape_words
from .slips import all_values_close, values_close

__all__ = ["compare", "Comparison", "MISTAKES"]

MISTAKES = ("shape", "layout", "sign", "factor", "assumption", "convention", "case split",
            "term factor", "term sign", "extra term", "sign inside", "factor inside", "power",
            "chain factor", "inner factor", "transpose", "symmetric", "missing term",
            "variable", "different")
MISTAKES = (*MISTAKES, "flip")  # a convolution's kernel not turned (mistakes._unturned_kernel)
POINTS = 4
FIX_DRAWS = 32   # plain draws a candidate fix that moves a kink or a max's pick is checked at


@dataclass
class Comparison:
    """The verdict on an answer: `equal` (also its truth value), the likely `mistake`
    (one of MISTAKES, None when equal) and its `diagnosis`, and the `point` (values of
    the variables) where the answer and the derivative differ."""

    answer: str
    expected: str
    equal: bool
    mistake: str | None = None
    diagnosis: str = ""
    point: dict[str, Any] | None = None
    symbolic: bool = False
    answer_value: Any = field(default=None, repr=False)
    expected_value: Any = field(default=None, repr=False)
    checked: int = POINTS   # the number of points compared at
    note: str = ""          # equal, but a side of a kink was never reached: untested there
    # the answer (as written) and the derivative as LaTeX, for a notebook's MathML; None
    # where there is none (an answer that does not fit the shapes)
    answer_latex: str | None = field(default=None, repr=False, compare=False)
    expected_latex: str | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return self.equal

    def __str__(self) -> str:
        if self.equal:
            how = "symbolically (the same simplified form)" if self.symbolic else \
                f"at {self.checked} random points" + \
                ("" if self.note else " (on both sides of every kink)")
            return f"equal: {self.answer} is the derivative ({self.expected}), checked {how}" \
                + (f" ({self.note})" if self.note else "")
        lines = [f"not equal ({self.mistake}): {self.diagnosis}",
                 f"  the derivative: {self.expected}"]
        if self.point is not None:
            at = ", ".join(f"{k} = {_short(v)}" for k, v in self.point.items())
            lines.append(f"  they differ at {at}: the answer gives {_short(self.answer_value)}, "
                         f"the derivative {_short(self.expected_value)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # a notebook's display (printing/html.py)
        from .printing.html import comparison_html

        return comparison_html(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        def plain(v):
            return None if v is None else np.asarray(v, float).tolist()

        return {"answer": self.answer, "expected": self.expected, "equal": self.equal,
                "mistake": self.mistake, "diagnosis": self.diagnosis,
                "symbolic": self.symbolic, "note": self.note,
                "point": None if self.point is None else {k: plain(v)
                                                          for k, v in self.point.items()},
                "answer_value": plain(self.answer_value),
                "expected_value": plain(self.expected_value)}


def shown_text(variables, e) -> str:
    from .slips import shown_text

    return shown_text(variables, e)


def _kink_text(d, kink) -> str:
    args, variables = kink
    if len(args) == 2:
        return f"{shown_text(variables, args[0])} - ({shown_text(variables, args[1])})"
    return shown_text(variables, args[0])


def _short(v: Any) -> str:
    a = np.asarray(v, float)
    return np.array2string(a, precision=3, suppress_small=True, separator=", ",
                           max_line_width=10_000).replace("\n", "")


def declaration_of(v, row: bool = False) -> str:
    """The declaration that reads back as variable v (its shape; symmetric if declared so);
    a variable the user declared a row vector stays one (its value is a 1-D array like a
    column's: only the declaration tells)."""
    shape = [str(s) for s in v.shape]
    if not shape:
        return "scalar"
    if len(shape) == 1:
        return f"{'row ' if row else ''}vector({shape[0]})"
    return f"{'symmetric ' if v.attr[1] else ''}matrix({shape[0]}, {shape[1]})"


def _describe(shape: tuple, orientation: str | None = None) -> str:
    """The shape in words; a vector is a row or a column (the verdict turns on it)."""
    return shape_words(shape, orientation or "column")


class _Case:
    """The derivative and the answer, and the points they are compared at."""

    def __init__(self, d, ans, layout: str, seed: int) -> None:
        from .printing.layout import layout_transposes
        from .printing.matrix import kind_of

        self.d, self.ans = d, ans
        x = d.function.variables[d.wrt]
        self.flip = d.order == 1 and layout_transposes(kind_of(d.function.shape), kind_of(x.shape),
                                                 layout)
        from .ir.expr import topo_order
        from .picks import PICKING
        from .verify import kink_arguments, kink_sides, picked_sides, points_across_kinks

        self.seed = seed
        extra = [(ans.ir, ans.variables)]
        self.points = points_across_kinks(d.ir, d.variables, d.function.ir, seed, POINTS,
                                          extra=extra)
        roots = [(d.function.ir, d.variables), (d.ir, d.variables), *extra]
        kinks = kink_arguments(roots)
        self.kinks = {args for args, _ in kinks}
        self.reductions = {n for root, _ in roots for n in topo_order(root) if n.op in PICKING}
        self.unreached = []   # kinks with a side no point reached: the answer is untested there
        for kink in kinks:
            seen = [kink_sides(kink, p) for p in self.points]
            for side, word in ((0, "> 0"), (1, "< 0")):
                text = f"{_kink_text(d, kink)} {word}"
                if not any(s[side] for s in seen) and text not in self.unreached:
                    self.unreached.append(text)
        for (reduction, kink), seen in picked_sides(roots, self.points):
            for side, word in ((0, "> 0"), (1, "< 0")):
                text = f"{_kink_text(d, kink)} {word} where {shown_text(d.variables, reduction)}" \
                    " picks"
                if not seen[side] and text not in self.unreached:
                    self.unreached.append(text)

    def points_for(self, e, variables):
        """Points for e, a candidate fix of the answer with a kink or a max/min reduction
        the comparison's points were not drawn for (None when it has none): points that
        visit its kinks, and FIX_DRAWS plain draws besides (where a moved kink and a moved
        max pick together, no one target's points need find them)."""
        from .ir.expr import topo_order
        from .picks import PICKING
        from .verify import kink_arguments, points_across_kinks, random_values

        new_kinks = not all(args in self.kinks for args, _ in kink_arguments([(e, variables)]))
        if not new_kinks and all(n in self.reductions for n in topo_order(e)
                                 if n.op in PICKING):
            return None
        cache = self.__dict__.setdefault("_points_for", {})
        if e not in cache:
            d = self.d
            points = points_across_kinks(d.ir, d.variables, d.function.ir, self.seed, POINTS,
                                         extra=[(e, variables)])
            for k in range(FIX_DRAWS):
                p = random_values(d.variables, self.seed + 7 * k + 3, positive=k % 4 == 1,
                                  free=k % 2 == 0)
                try:
                    with np.errstate(all="ignore"):
                        if np.all(np.isfinite(self.expected(values=[p])[0])):
                            points.append(p)
                except MatdiffError:
                    continue
            cache[e] = points
        return cache[e]

    def expected(self, e=None, values=None) -> list[np.ndarray]:
        """The value of e (default: the derivative) at each point, in the chosen layout."""
        from .evaluate import evaluate

        out = []
        for p in self.points if values is None else values:
            v = np.asarray(evaluate(self.d.ir if e is None else e, p, self.d.variables,
                                    check_symmetric=False), float)
            out.append(v.T if self.flip else v)
        return out

    def answer(self, points=None) -> list[np.ndarray]:
        """The answer's value at each point (default: the comparison's, computed once)."""
        if points is None:
            if not hasattr(self, "_answers"):
                self._answers = self._answer()
            return self._answers
        return self._answer(points)

    def _answer(self, points=None) -> list[np.ndarray]:
        out = []
        for p, want in zip(points or self.points, self.expected(values=points)):
            told = {s for v in self.ans.variables.values() for s in v.shape}
            dims = {}
            if len(self.ans.shape) == want.ndim:
                dims = {s: n for s, n in zip(self.ans.shape, want.shape)
                        if isinstance(s, str) and s not in told}
            try:
                with np.errstate(all="ignore"):
                    out.append(np.asarray(self.ans.evaluate(p, dims=dims), float))
            except MatdiffError as e:
                raise MatdiffError(f"the answer cannot be evaluated: {e}") from None
        return out






def compare(answer: str, of: str, wrt: str, declare: Mapping[str, str] | None = None,
            order: int = 1, layout: str = "shape", seed: int = 0) -> Comparison:
    """Compare a hand-derived `answer` with the derivative of `of` by `wrt`.

    `layout`: the convention the answer is written in, "shape" (the default: the
    shape of f followed by that of wrt, what d.evaluate returns) or "numerator"
    (the article's: a scalar's gradient is a row). When `of` is a program the
    answer may use its intermediates. (A backward pass of `dNAME = ...` lines is
    matdiff.passcheck's; matdiff.compare sends each kind of answer to its module.)
    """
    from .api import diff
    from .printing.layout import check_layout

    check_layout(layout)
    if not isinstance(answer, str) or not answer.strip():
        raise MatdiffError("the answer must be an expression, as text")
    d = diff(of, wrt, declare=declare, order=order)
    known = {}
    if d.function.program is not None:
        known = {name: (statement_declaration(s), s.inlined)
                 for name, s in d.function.program.intermediates.items()}

    def recheck(extra: Mapping[str, str]) -> bool:
        """Whether the answer is right with these declarations added (checked anew)."""
        try:
            again = compare(answer, of, wrt, {**dict(declare or {}), **extra}, order, layout,
                            seed)
            return again.equal and not again.note
        except MatdiffError:
            return False

    return judge_answer(answer, d, layout, seed, known, declare, recheck)


def judge_answer(answer: str, d, layout: str, seed: int,
                 known: Mapping[str, tuple[str, Any]] | None = None,
                 declare: Mapping[str, str] | None = None, recheck=None) -> Comparison:
    """The verdict on `answer` for the derivative d (a Derivative, or a target of the same
    interface). `known`: names the answer may use besides d's variables, each with its
    declaration and the expression (over d's variables) it stands for. `recheck(extra)`:
    whether the answer is right with the declarations `extra` added, judged anew (an
    assumption is suggested only when it is)."""
    from .api import Expression, engine_errors, parse

    known = dict(known or {})
    declared = {k: v for k, v in dict(declare or {}).items() if k not in known}
    rows = getattr(d, "rows", frozenset())
    declared.update({name: declaration_of(v, name in rows) for name, v in d.variables.items()})
    declared.update({name: decl for name, (decl, _) in known.items()})
    _check_names(answer, d, known)
    try:
        ans = parse(answer, declared)
    except ShapeError as e:
        return _with_latex(Comparison(
            answer.strip(), d.to_text(layout=layout), False, "shape",
            "the answer does not fit the shapes of the expression's variables: "
            + str(e).splitlines()[0]), None, d, layout)
    written = ans
    if any(name in ans.variables for name in known):
        from .ir.expr import variables as ir_variables
        from .ir.substitute import substitute

        leaves = {v: known[name][1] for name, v in ans.variables.items() if name in known}
        inlined = substitute(ans.ir, leaves)
        variables = {**{k: v for k, v in ans.variables.items() if k not in known},
                     **ir_variables(inlined)}
        ans = Expression(inlined, ans.text, variables, ans.orientation)
    from .ir import expr as ir
    from .slips import FOLD

    expected = d.to_text(layout=layout)
    token = FOLD.set({e: ir.var(name, e.shape) for name, (_, e) in known.items()
                      if e.op.value != "var"})
    try:
        with engine_errors("comparing"):
            verdict = _judge(d, ans, answer.strip(), expected, layout, seed, recheck)
    finally:
        FOLD.reset(token)
    return _with_latex(verdict, written, d, layout)


def _with_latex(c: Comparison, ans, d, layout: str) -> Comparison:
    """c with the LaTeX of the answer as written (ans: its Expression, None where it has
    none) and of the derivative in `layout`, which a notebook shows as MathML."""
    c.answer_latex = None if ans is None else latex_or_none(ans.latex)
    c.expected_latex = latex_or_none(lambda: d.latex(layout=layout))
    return c


def latex_or_none(produce) -> str | None:
    """produce(), LaTeX for a display; None where the printer refuses (the text remains)."""
    try:
        return produce()
    except MatdiffError:
        return None


def statement_declaration(statement) -> str:
    """A declaration for an intermediate of a program, from its surface kind and shape."""
    shape = [str(s) for s in statement.local.shape]
    kind = statement.kind
    if kind == "scalar" or not shape:
        return "scalar"
    if kind == "row":
        return f"row vector({shape[0]})"
    if len(shape) == 1:
        return f"vector({shape[0]})"
    return f"matrix({shape[0]}, {shape[1]})"


def _check_names(answer: str, d, known=()) -> None:
    """Names in the answer that the expression does not have: an error (a typo, or a size
    written as a letter), found before shapes are checked."""
    from .language import RESERVED, parse_text
    from .language.ast import Name, Node

    try:
        tree = parse_text(answer)
    except MatdiffError:
        return  # parse() reports it, with its position
    if not isinstance(tree, Node):
        return
    names, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Name) and node.name not in RESERVED and \
                node.name not in d.variables and node.name not in known and \
                node.name not in names:
            names.append(node.name)
        stack.extend(node.children())
    if names:
        if known:
            have = ", ".join([*d.variables, *known])
            raise MatdiffError(f"the answer uses {', '.join(repr(n) for n in names)}, which is "
                               "not a name of the program or of an earlier line (the names it "
                               f"may use: {have}); write a size as numel(x) or size(A, k)")
        raise MatdiffError(f"the answer uses {', '.join(repr(n) for n in names)}, which the "
                           f"expression does not (its variables: {', '.join(d.variables)}); "
                           "write a size as numel(x) or size(A, k)")


def _judge(d, ans, answer: str, expected: str, layout: str, seed: int,
           recheck=None) -> Comparison:
    from .simplify import simplify

    case = _Case(d, ans, layout, seed)
    case.recheck = recheck
    E = case.expected()
    want_orient = "row" if ((layout == "numerator" and case.flip and len(d.shape) == 1) or
                            getattr(d, "row", False)) else None
    shape_ok = len(ans.shape) == len(d.shape) and (len(d.shape) != 1 or
                                                   ans.orientation == want_orient)
    if len(ans.shape) != len(d.shape) or (len(d.shape) > 2):
        return _shape_mistake(d, ans, answer, expected, case, E, want_orient)
    A = case.answer()
    if any(a.shape != e.shape for a, e in zip(A, E)):
        if all(a.shape == e.T.shape for a, e in zip(A, E)) and \
                all_values_close(A, [e.T for e in E]):
            return _verdict(answer, expected, "layout", layout_text(d.record, expected), case,
                            A, E)
        return _shape_mistake(d, ans, answer, expected, case, E, want_orient)
    if all_values_close(A, E):
        if not shape_ok:  # the same numbers, as a row where a column is needed or back
            return Comparison(answer, expected, False, "layout",
                              _orientation_text(d, ans, expected))
        symbolic = simplify(ans.ir) == d.ir
        note = "" if symbolic or not case.unreached else (
            "no point reached " + ", ".join(case.unreached[:3]) + ": the answer is equal "
            "where it was checked, and untested there")
        return Comparison(answer, expected, True, symbolic=symbolic, checked=len(A), note=note)
    # the diagnoses below the API read the frozen records (ir/record.py)
    dr, ar = d.record, ans.record
    for test in TESTS:
        found = test(dr, ar, case, A, E, expected)
        if found is not None:
            mistake, text = found
            return _verdict(answer, expected, mistake, text, case, A, E)
    from .slips import where_they_differ

    return _verdict(answer, expected, "different",
                    "the answer and the derivative differ, and no single slip (a sign, a "
                    "factor, a transpose, a term, a chain factor) explains it"
                    + where_they_differ(dr, ar, case, A, E), case, A, E)


def _verdict(answer, expected, mistake, text, case, A, E) -> Comparison:
    k = next((i for i, (a, e) in enumerate(zip(A, E)) if not values_close(a, e)), 0)
    point = {name: v for name, v in case.points[k].items()}
    return Comparison(answer, expected, False, mistake, text, point, False,
                      A[k] if A else None, E[k])


def _shape_mistake(d, ans, answer, expected, case, E, want_orient) -> Comparison:
    has = _describe(ans.shape, ans.orientation)
    needs = _describe(d.shape, want_orient)
    hint = ""
    if not d.function.shape and len(d.shape) >= 1:
        hint = f" (a scalar's derivative has the shape of {d.wrt})"
    elif len(d.shape) == len(d.function.shape) + len(d.function.variables[d.wrt].shape):
        hint = f" (shape(f) followed by shape({d.wrt}))"
    return Comparison(answer, expected, False, "shape",
                      f"the answer is {has}; the derivative is {needs}{hint}",
                      None, False, None, None)




def _orientation_text(d, ans, expected: str) -> str:
    if isinstance(getattr(d, "row", None), bool):  # a line dNAME of a backward pass
        want = "a row" if d.row else "a column"
        return (f"the answer has the right entries, as {'a column' if d.row else 'a row'}: "
                f"d{d.name} has the shape of {d.name}, {want}; transpose it")
    if ans.orientation == "row":
        return ("the answer is the right derivative written as a row: the numerator layout "
                f"(the article's). In the shape layout the gradient is a column, {expected}; "
                "pass layout=\"numerator\" to compare rows")
    return ("the answer is the right derivative written as a column: the shape layout. In "
            f"the numerator layout the gradient is a row, {expected}")
