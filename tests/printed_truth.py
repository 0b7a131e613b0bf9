"""The one check of everything matdiff prints: it is true, read on its own.

Every printed text (a derivative, the right side of each step of a
derivation, each line of a backward pass) is parsed with nothing but the
variables' declarations, each variable declared by its kind alone (no shared
dimension names: a reader retyping the text knows no more) or as the user
declared it, and evaluated from the variables' values alone, with no size
handed in from outside. It must give what matdiff computed. LaTeX must
convert to MathML. Index notation (`T[i,j,k] = ...`) and the article's case
split (`... if z ≤ 0; ...`) are for reading and are left out, as is the "… N more
rewrites" that ends a long simplification.

    check_derivative(d, values)   str(d) in each layout (matrix text wherever d has
                                  at most two axes), d.latex(), every step
    check_steps(d, values)        each step's right side; names the steps
                                  introduce (u = w ⊙ x) bound from their
                                  definitions, in order
    check_backward(g, values)     every line of g.program_text(), each dNAME
                                  equal to g[NAME]
    check_text(text, want, ...)   one text
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

import matdiff

__all__ = ["check_text", "check_derivative", "check_steps", "check_backward",
           "kind_declarations", "values_for"]

try:
    from latex2mathml.converter import convert as _to_mathml
except ImportError:  # pragma: no cover - the docs extra is not installed
    _to_mathml = None

# index notation indexes a name or a bracket (`x[k]`, `inv(X)[i,k]`, `[A, B][p,q]`); a
# block `[a; b]` opens after an operator, a bracket or a comma, and is language
_NOT_LANGUAGE = re.compile(r"(?<=[\w)\]])\[|\bif\b|Σ|δ|…")
_RTOL, _ATOL = 1e-7, 1e-9


def kind_declarations(variables: Mapping, declare: Mapping | None = None) -> dict[str, str]:
    """Each variable by its kind alone (scalar, vector, matrix, symmetric matrix), as the
    printer reads its own text (printing/sizes.py), or as the user declared it."""
    from matdiff.printing.sizes import kind_declarations as by_kind

    out = by_kind(variables)
    out.update({k: s for k, s in (declare or {}).items() if k in out})
    return out


def values_for(variables: Mapping, seed: int = 0, sizes=(3, 4, 2, 5)) -> dict[str, np.ndarray]:
    """Values for the variables: every dimension its own size, entries in 0.5..1.5 (so
    logs, roots and divisions stay defined), symmetric matrices symmetric, labels rows
    summing to 1."""
    from matdiff.ir.expr import dim_parts

    rng = np.random.default_rng(seed)
    size: dict = {}
    for v in variables.values():  # the parts of a joined axis n+m first, then their sum
        for d in v.shape:
            for p in dim_parts(d):
                size.setdefault(p, p if isinstance(p, int) else sizes[len(size) % len(sizes)])
    for v in variables.values():
        for d in v.shape:
            size.setdefault(d, sum(size[p] for p in dim_parts(d)))
    out = {}
    for name, v in variables.items():
        shape = tuple(size[d] for d in v.shape)
        a = rng.uniform(0.5, 1.5, shape)
        if len(shape) == 2 and v.attr[1]:
            a = (a + a.T) / 2 + shape[0] * np.eye(shape[0])
        label = v.attr[2] if len(v.attr) > 2 else None
        if label is not None:
            axis = {"all": None, "rows": -1, "cols": 0}[label[1]]
            a = a / a.sum(axis=axis, keepdims=axis is not None)
            if label[0] == "one-hot":
                a = np.zeros(shape)
                if axis is None:
                    a[0] = 1.0
                elif axis == -1:
                    a[:, 0] = 1.0
                else:
                    a[0, :] = 1.0
        out[name] = a if shape else float(a)
    return out


def _same(got, want) -> bool:
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape and got.size == want.size and got.ndim <= 1 and want.ndim <= 1:
        got = got.reshape(want.shape)
    if got.shape != want.shape:
        return False
    return bool(np.allclose(got, want, rtol=_RTOL, atol=_ATOL))


def check_text(text: str, want, variables: Mapping, values: Mapping,
               declare: Mapping | None = None, transposed_ok: bool = False) -> np.ndarray:
    """text, parsed with only the variables' declarations, evaluates from `values` alone to
    `want` (None: only that it evaluates, finite). `transposed_ok` accepts the transpose of
    a matrix (the numerator layout of the steps). Returns the value."""
    e = matdiff.parse(text, declare=kind_declarations(variables, declare))
    got = np.asarray(e.evaluate(values), float)
    if want is None:
        assert np.all(np.isfinite(got)), (text, got)
        return got
    want = np.asarray(want, float)
    ok = _same(got, want) or (transposed_ok and got.ndim == 2 and _same(got.T, want))
    assert ok, f"{text!r} evaluates to\n{got}\nnot\n{want}"
    return got


def _latex(tex: str) -> None:
    if _to_mathml is not None and tex:
        _to_mathml(tex)


def check_derivative(d, values: Mapping | None = None, steps: bool = True) -> None:
    """str(d) in each layout and d.latex(); the steps too unless steps=False."""
    variables = d.function.variables
    values = values_for(variables) if values is None else values
    declare = getattr(d.function, "declarations", None)
    want = np.asarray(d.evaluate(values), float)
    for layout in ("shape", "numerator", "denominator"):
        _latex(d.latex(layout=layout))
        text = d.to_text(layout=layout)
        if len(d.shape) <= 2:  # a gradient or a Jacobian is matrix text, never index notation
            assert not _NOT_LANGUAGE.search(text), text
        if _NOT_LANGUAGE.search(text) or not np.all(np.isfinite(want)):
            continue
        check_text(text, want, variables, values, declare, transposed_ok=layout != "shape")
    if steps:
        check_steps(d, values)


def check_steps(d, values: Mapping | None = None) -> None:
    """Every step whose right side is in the language evaluates; the derivative's own
    steps (lhs ∂f/∂x after substitution, simplification, the result) equal d."""
    variables = dict(d.function.variables)
    values = dict(values_for(variables) if values is None else values)
    declared = dict(getattr(d.function, "declarations", None) or {})
    want = np.asarray(d.evaluate(values), float)
    bound: dict = {}
    # sizes declared as numbers (a convolution's) hold for the names the steps introduce too
    numeric = all(isinstance(x, int) for v in variables.values() for x in v.shape)
    sized: dict[str, str] = {}
    for step in d.steps:
        _latex(step.after_latex)
        _latex(step.lhs_latex)
        text = step.after
        if not text or _NOT_LANGUAGE.search(text):
            continue
        names = {**variables, **bound}
        declare = {k: v for k, v in declared.items() if k not in bound}  # u = ... shadows
        declare.update(sized)
        if _differentials(text, names):
            continue  # tr(inv(X)*dX): the differential is notation, not a value
        if step.kind == "introduce" and step.lhs.isidentifier():
            e = matdiff.parse(text, declare=kind_declarations(names, declare))
            value = e.evaluate(values)
            if not np.all(np.isfinite(value)):
                return  # overflows at these values: the steps after it cannot be read there
            values[step.lhs] = value
            bound[step.lhs] = _Shape(np.ndim(value))
            if numeric and 0 < np.ndim(value) <= 2:
                sized[step.lhs] = (f"{'vector' if np.ndim(value) == 1 else 'matrix'}"
                                   f"({', '.join(map(str, np.shape(value)))})")
            continue
        final = (step.kind in ("substitute", "result", "layout")
                 and step.lhs.lstrip("(").startswith("∂"))
        finite = np.all(np.isfinite(want))
        check_text(text, want if final and finite else None, names, values, declare,
                   transposed_ok=True)


def _differentials(text: str, names: Mapping) -> bool:
    """Whether text names a differential dX of a variable X (which has no value)."""
    return any(f"d{name}" in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) for name in names)


class _Shape:
    """The kind of a name a step introduced, as kind_declarations reads it."""

    def __init__(self, ndim: int) -> None:
        self.ndim = ndim
        self.attr = ("", False)


_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", re.M)


def check_backward(g, values: Mapping | None = None) -> None:
    """Every line of the printed program (forward then backward), read with the program's
    own declarations and the user's, evaluates from the inputs' values alone, and each
    gradient line dNAME equals g[NAME]; the LaTeX converts."""
    variables = g.function.variables
    values = values_for(variables) if values is None else values
    # the program declares its own names, as the user wrote it
    declare = dict(getattr(g.function, "declarations", None) or {})
    text = g.program_text()
    _latex(g.latex())
    names = g.names()
    gradient_of = {v: k for k, v in names.items()}
    for line_name in _LINE.findall(g.to_text()):
        got = np.asarray(matdiff.parse(text, declare=declare, of=line_name).evaluate(values),
                         float)
        if line_name in gradient_of:
            want = np.asarray(g[gradient_of[line_name]].evaluate(values), float)
            assert _same(got, want), f"{line_name} of\n{text}\nis\n{got}\nnot\n{want}"
        else:
            assert np.all(np.isfinite(got)), (line_name, text)
