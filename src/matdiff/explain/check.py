"""Checking a derivation step by step, numerically: library code, as d.check() is.

Every step of `d.steps` carries a `Claim` (what it asserts, as IR over the
derivation's names). `check_steps(d)` draws values for the variables and
then, in the order of the steps:

* a definition `u = w ⊙ x` is evaluated, and its value bound to `u`;
* a local derivative `∂u/∂w` is compared with central differences of the
  definition of `u` in `w`, the other names held fixed;
* a chain-rule line `∂y/∂w = ∂y/∂u ∂u/∂w = 1'*diag(x) = x'` (the product
  and each simplified form), the substitution and the result are compared
  with central differences of the composite, written in the variables;
* a simplifier's rewrite `before -> after` is compared side by side;
* every printed text of a step (not index notation `T[i,j,k] = ...`) is
  parsed back in matdiff's language, with the names of the derivation
  declared at their shapes, and evaluated: it must give the same numbers
  as the claim (transposed where the step is in the numerator layout);
  an index-notation text is checked through the IR it prints.

Central differences step each entry by STEP relative to its size
(STEP*max(1, |x|)): an absolute step vanishes against an intermediate near
1e28. Values are drawn where the function and its derivative are finite,
smaller ones tried when the first draws overflow; a step whose values are
not finite even so is reported as not checkable here, never a failure and
never an exception.

A step that fails is a bug in matdiff, whatever the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MatdiffError
from ..ir.expr import Expr

__all__ = ["Claim", "StepCheck", "StepFailure", "check_claims", "TOLERANCE"]

TOLERANCE = 1e-5   # relative to max(1, |value|), as for d.check()
_NEAR_KINK = 1e-3  # a case split on z is not checked when |z| is this close to 0


@dataclass(frozen=True)
class Claim:
    """What one step asserts, for check_steps.

    value      the step's result, IR over the derivation's names (shape convention)
    defines    the name it introduces (a VAR), bound to value's value
    of, wrt    value is the derivative of `of` (IR) with respect to the VAR `wrt`
    before     value equals this IR too (a rewrite's left side)
    texts      (printed text, the IR it must evaluate to)
    transposed the texts are in the numerator layout, the transpose of the IR's shape
    cases      (z, text if z <= 0, text if z > 0, IR if z <= 0, IR if z > 0): the
               article's case split
    direction  value is a differential: the derivative applied to this variable (dX),
               which the checker binds to a random array of the shape of `wrt`
    """

    value: Expr | None = None
    defines: Expr | None = None
    of: Expr | None = None
    wrt: Expr | None = None
    before: Expr | None = None
    texts: tuple[tuple[str, Expr], ...] = ()
    transposed: bool = False
    cases: tuple[Expr, str, str, Expr, Expr] | None = None
    direction: Expr | None = None


@dataclass(frozen=True)
class StepFailure:
    index: int        # position in d.steps
    what: str         # which part of the step failed
    detail: str

    def __str__(self) -> str:
        return f"step {self.index + 1}: {self.what}: {self.detail}"


@dataclass
class StepCheck:
    """The outcome: `ok`, the failures, how many comparisons, the largest error."""

    failures: list[StepFailure] = field(default_factory=list)
    comparisons: int = 0
    max_error: float = 0.0
    unchecked: list[StepFailure] = field(default_factory=list)  # not checkable here

    @property
    def ok(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = (f"{self.comparisons} comparisons, largest relative error {self.max_error:.2e}: "
                + ("every step holds" if self.ok else f"{len(self.failures)} failed"))
        if self.unchecked:
            head += (f" ({len(self.unchecked)} not checkable at these values: not finite "
                     "or undefined there)")
        return "\n".join([head] + [f"  {f}" for f in self.failures]
                         + [f"  not checkable here: {f}" for f in self.unchecked])

    def _repr_html_(self) -> str:
        from ..printing.html import step_check_html

        return step_check_html(self)


def _declaration(v: Expr) -> str:
    shape = [str(s) for s in v.shape]
    if not shape:
        return "scalar"
    if len(shape) == 1:
        return f"vector({shape[0]})"
    mod = "symmetric " if v.attr[1] else ""
    return f"{mod}matrix({shape[0]}, {shape[1]})"


def _error(got: Any, want: Any) -> float:
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.size != want.size:
        raise ValueError(f"{got.size} entries where {want.size} are expected "
                         f"(shape {got.shape}, expected {want.shape})")
    got, want = got.reshape(-1), want.reshape(-1)
    both_inf = ~np.isfinite(want) & (got == want)
    got, want = got[~both_inf], want[~both_inf]
    if not got.size:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(got - want)) / scale)


class _Checker:
    def __init__(self, d, values: Mapping[str, Any], seed: int) -> None:
        self.d = d
        self.names: dict[str, Expr] = dict(d.function.variables)
        self.values: dict[str, np.ndarray] = {k: np.asarray(v, float) for k, v in values.items()
                                              if k in self.names}
        self.report = StepCheck()
        self.rng = np.random.default_rng(seed)
        self.index = 0
        self.unbound: set[str] = set()  # intermediates not finite or undefined here

    def fail(self, what: str, detail: str) -> None:
        self.report.failures.append(StepFailure(self.index, what, detail))

    def skip(self, what: str, detail: str) -> None:
        """A step these values cannot check (an intermediate overflows): said, not failed."""
        self.report.unchecked.append(StepFailure(self.index, what, detail))

    def compare(self, what: str, got: Any, want: Any) -> None:
        try:
            err = _error(got, want)
        except ValueError as e:
            self.fail(what, str(e))
            return
        self.report.comparisons += 1
        if not np.isfinite(err) or err > TOLERANCE:
            self.fail(what, f"relative error {err:.2e}")
        elif err > self.report.max_error:
            self.report.max_error = err

    def evaluate(self, e: Expr, values: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        from ..evaluate import evaluate

        return np.asarray(evaluate(e, values if values is not None else self.values, self.names,
                                   check_symmetric=False), float)

    def numeric(self, of: Expr, wrt: Expr) -> tuple[np.ndarray, np.ndarray]:
        """Central differences of `of` in `wrt`, and a mask of entries near a kink. Each
        entry's step is relative to its size: z + 1e-5 is z once |z| passes 1e11."""
        from ..verify import STEP

        def f(v: np.ndarray) -> np.ndarray:
            return self.evaluate(of, {**self.values, wrt.name: v})

        x = self.values[wrt.name]
        h = STEP * np.maximum(1.0, np.abs(x))
        coarse = _central(f, x, h)
        fine = _central(f, x, h / 8)
        scale = max(1.0, float(np.max(np.abs(fine), initial=0.0)))
        # rounding in f: a difference below eps*|f| is noise, so an entry stepped by h/8
        # resolves slopes no finer than eps*|f|/(h/8) (sum(z) with z near 1e22: a small
        # entry's step is lost in the sum); such entries, like kinks, are not compared
        size = float(np.max(np.abs(f(x)), initial=0.0))
        noise = np.broadcast_to(4e-16 * size / (h / 8), coarse.shape)
        kinks = (np.abs(coarse - fine) > 1e-6 * scale) | (noise > 1e-6 * scale)
        return coarse, kinks | _one_sided_kinks(f, np.asarray(x, dtype=np.float64), h, coarse,
                                                scale)

    def parse_text(self, text: str, want: np.ndarray):
        """The value of a printed text, its names declared as the derivation has them."""
        from ..evaluate import evaluate
        from ..language import build

        declare = {name: _declaration(v) for name, v in self.names.items()}
        try:
            e, variables, _ = build(text, declare)
        except MatdiffError as err:
            raise ValueError(f"{text!r} does not parse back: {str(err).splitlines()[0]}") from None
        dims = {}
        if len(e.shape) == want.ndim:   # sizes only a constant (eye, vector(1)) carries
            dims = {s: n for s, n in zip(e.shape, want.shape) if isinstance(s, str)}
        told = {s for v in variables.values() for s in v.shape}
        dims = {s: n for s, n in dims.items() if s not in told}
        try:
            return evaluate(e, self.values, variables, dims=dims)
        except MatdiffError as err:
            raise ValueError(f"{text!r} does not evaluate: {str(err).splitlines()[0]}") from None

    def texts(self, claim: Claim) -> None:
        for text, ir in claim.texts:
            if _index_notation(text):
                continue  # index notation: the IR is checked, the text is read, not parsed
            want = self.evaluate(ir)
            if claim.transposed:
                want = want.T
            try:
                got = self.parse_text(text, want)
            except ValueError as e:
                self.fail("text", str(e))
                continue
            self.compare(f"text {text!r}", got, want)

    def claim(self, claim: Claim) -> None:
        """Check one claim; values that are not finite (or a matrix singular at them) make
        it not checkable here; anything else that stops the check is a failure."""
        from ..ir.expr import variables

        parts = [e for e in (claim.value, claim.of, claim.before) if e is not None]
        lost = sorted({n for e in parts for n in variables(e)} & self.unbound)
        if lost:
            self.skip("values", f"it uses {', '.join(lost)}, undefined at these values")
            return
        try:
            self._claim(claim)
            return
        except np.linalg.LinAlgError as e:
            self.skip("values", f"a matrix is singular at these values ({e})")
        except MatdiffError as e:
            message = str(e).splitlines()[0]
            if "NaN or infinite" not in message and "singular" not in message:
                self.fail("evaluation", message)
                return
            self.skip("values", message)  # the step's formula is undefined here
        if claim.defines is not None:
            self.unbound.add(claim.defines.name)

    def _claim(self, claim: Claim) -> None:
        u = claim.direction
        if u is not None and u.name not in self.values:
            self.names[u.name] = u
            self.values[u.name] = self.rng.standard_normal(self.values[claim.wrt.name].shape)
        value = self.evaluate(claim.value) if claim.value is not None else None
        if claim.defines is not None:
            self.names[claim.defines.name] = claim.defines
            self.values[claim.defines.name] = value
        if claim.of is not None and claim.wrt is not None:
            numeric, kinks = self.numeric(claim.of, claim.wrt)
            if u is not None:  # a differential: the Jacobian applied to the direction
                k = claim.wrt.ndim
                numeric = np.tensordot(numeric, self.values[u.name], axes=k)
                kinks = np.tensordot(kinks * 1.0, np.ones(self.values[u.name].shape),
                                     axes=k) > 0
            self.compare("derivative vs central differences", np.where(kinks, numeric, value),
                         numeric)
        if claim.before is not None:
            self.compare("rewrite", self.evaluate(claim.before), value)
        self.texts(claim)
        if claim.cases is not None:
            z, low, high, low_ir, high_ir = claim.cases
            zv = float(self.evaluate(z))
            if abs(zv) > _NEAR_KINK:
                text, case = (low, low_ir) if zv <= 0 else (high, high_ir)
                self.compare(f"case {text!r}", self.evaluate(case), value)
                if _index_notation(text):
                    return  # index notation: checked through the IR it prints
                want = value.T if claim.transposed else value
                try:
                    self.compare(f"case {text!r}", self.parse_text(text, want), want)
                except ValueError as e:
                    self.fail("case", str(e))


def _one_sided_kinks(f, x: np.ndarray, h: np.ndarray, central: np.ndarray,
                     scale: float) -> np.ndarray:
    """Entries whose forward difference disagrees with the central one: a kink at the point
    itself, where both step sizes give the same average of the two slopes (a tie of
    max pooling over relu's zeros: max(h, 0, 0, 0) has slope 1 on one side, 0 on the
    other, and central differences say 1/2 at every step)."""
    base = np.asarray(f(x))
    forward = np.zeros(base.shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h[idx]
        forward[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - base) / h[idx]
    return np.abs(forward - central) > 1e-3 * scale


def _index_notation(text: str) -> bool:
    """Text in index notation (T[i,j,k] = ..., δ[i,k], Σ_p), which is read, not parsed:
    it is checked through the IR it prints."""
    return any(mark in text for mark in ("T[", "δ[", "Σ_"))


def _central(f, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The Jacobian of f at x (shape f + shape x) by central differences, entry k of x
    stepped by h[k]."""
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h[idx]
        jac[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h[idx])
    return jac


def _finite(e: Expr, values: Mapping[str, Any], variables: Mapping[str, Expr]) -> bool:
    from ..evaluate import evaluate

    try:
        return bool(np.all(np.isfinite(np.asarray(evaluate(e, values, variables), float))))
    except MatdiffError:
        return False


SCALES = (0.1, 0.01)  # smaller values tried when the usual draws overflow: exp(exp(exp(x)))


def _draw(d, seed: int) -> dict[str, np.ndarray]:
    """Values where the function and the derivative are finite, if any draw finds them."""
    from ..ir.properties import label_of
    from ..verify import random_values, values_in_domain

    try:
        values = values_in_domain(d.ir, d.variables, d.function.ir, seed)
    except MatdiffError:
        values = None
    with np.errstate(all="ignore"):
        if values is not None and _finite(d.function.ir, values, d.variables) and \
                _finite(d.ir, values, d.variables):
            return values
        drawn = random_values(d.variables, seed)
        for scale in SCALES:  # all of them smaller, square matrices too (still invertible)
            smaller = {name: v if label_of(d.variables[name]) is not None else scale * v
                       for name, v in drawn.items()}
            if _finite(d.function.ir, smaller, d.variables) and \
                    _finite(d.ir, smaller, d.variables):
                return smaller
    return values if values is not None else random_values(d.variables, seed)


def check_claims(d, steps, values: Mapping[str, Any] | None = None, seed: int = 0
                 ) -> StepCheck:
    """Check the claims of the given steps of d's derivation, in order."""
    if values is None:
        values = _draw(d, seed)
    else:  # the caller's values: a missing or misshapen one is their error, raised
        from ..evaluate import bind_values

        bind_values(d.function.ir, values, d.function.variables, False)
    checker = _Checker(d, values, seed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for k, step in enumerate(steps):
            checker.index = k
            if step.claim is not None:
                checker.claim(step.claim)
    return checker.report
