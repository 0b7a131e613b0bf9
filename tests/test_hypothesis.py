"""Random well-typed expressions over all ops, differentiated and compared with finite differences.

hypothesis builds a typed expression tree: scalars (a, b), vectors (x, y)
and matrices (A, B), all dimensions 3. Every node carries its text and an
independent NumPy implementation. Values stay in each function's domain by
construction (log, sqrt, ./ and .^ take positive subexpressions made with
exp, cosh, sigmoid or 1 + e.^2) and near a kink (abs, sign, relu, step,
max and min of two arguments or of a vector, norm1, norm2, tan, logdet,
inv) an example is rejected with `assume` when the NumPy evaluation shows
it too close.

Each example is differentiated with respect to one of its variables, first
order (and second order in a separate test), and compared with central
finite differences of the NumPy function. The settings come from the
"matdiff-ci" profile in conftest.py (derandomize=True, deadline=None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import matdiff
from conftest import ATOL, ATOL2, RTOL, as_array, assert_matches, fd_derivative

FIRST_ORDER_EXAMPLES = 5     # per root op
SECOND_ORDER_EXAMPLES = 3    # per root op
MARGIN = 0.05      # minimum distance from a kink or a domain boundary
LIMIT = 1e3        # largest value or derivative entry accepted
N = 3

COUNTS = {"first": 0, "second": 0}


class E(NamedTuple):
    text: str
    kind: str                                    # "S" scalar, "V" vector, "M" matrix (N x N)
    fn: Callable[[dict, list], np.ndarray]       # (values, margins) -> value
    names: frozenset


VARIABLES = {"S": ("a", "b"), "V": ("x", "y"), "M": ("A", "B")}
# Every value has size N: declared with one size name, so that a vector expands over the
# columns of a matrix (which needs its length known to be the row count).
SIZES = {"x": "vector(n)", "y": "vector(n)", "A": "matrix(n, n)", "B": "matrix(n, n)"}


def _var(name: str, kind: str) -> E:
    return E(name, kind, lambda env, log: env[name], frozenset({name}))


def _unary(fmt: str, npf, margin=None, kind=None):
    def build(e: E) -> E:
        def fn(env, log):
            u = e.fn(env, log)
            if margin is not None:
                log.append(float(np.min(margin(u))))
            return npf(u)
        return E(fmt.format(e.text), kind or e.kind, fn, e.names)
    build.fmt = fmt
    return build


def _binary(fmt: str, npf, margin=None, kind=None):
    def build(l: E, r: E) -> E:
        def fn(env, log):
            u, v = l.fn(env, log), r.fn(env, log)
            if margin is not None:
                log.append(float(np.min(margin(u, v))))
            return npf(u, v)
        out = kind or (r.kind if l.kind == "S" else l.kind)
        return E(fmt.format(l.text, r.text), out, fn, l.names | r.names)
    build.fmt = fmt
    return build


def _sigmoid(u):
    return 1.0 / (1.0 + np.exp(-u))


def _erf(u):  # the math module's erf, entry by entry (independent of SciPy)
    import math
    return np.vectorize(math.erf, otypes=[np.float64])(u) if np.ndim(u) else math.erf(u)


def _softmax_np(u, axis=None):
    e = np.exp(u - np.max(u, axis=axis, keepdims=axis is not None))
    return e / np.sum(e, axis=axis, keepdims=axis is not None)


def _tie_gap(u):
    """How far max(u) and min(u) are from a tie: the smallest gap between two entries."""
    return np.min(np.diff(np.sort(np.ravel(u))))


def _sigma_min(m):
    return np.linalg.svd(m, compute_uv=False)[-1]


# element-wise functions: any kind in, same kind out
ELEMENTWISE = [
    _unary("exp({})", np.exp),
    _unary("sin({})", np.sin),
    _unary("cos({})", np.cos),
    _unary("tan({})", np.tan, margin=lambda u: np.abs(np.cos(u)) - 0.2),
    _unary("tanh({})", np.tanh),
    _unary("sinh({})", np.sinh),
    _unary("cosh({})", np.cosh),
    _unary("abs({})", np.abs, margin=np.abs),
    _unary("sign({})", np.sign, margin=np.abs),
    _unary("sigmoid({})", _sigmoid),
    _unary("relu({})", lambda u: np.maximum(u, 0.0), margin=np.abs),
    _unary("softplus({})", lambda u: np.logaddexp(0.0, u)),
    _unary("step({})", lambda u: np.where(u > 0, 1.0, 0.0) if np.ndim(u) else float(u > 0),
           margin=np.abs),
    _unary("(-{})", np.negative),
    _unary("logsigmoid({})", lambda u: -np.logaddexp(0.0, -u)),
    _unary("gelu({})", lambda u: 0.5 * u * (1.0 + _erf(u / np.sqrt(2.0)))),
    _unary("erf({})", lambda u: _erf(u)),
    _unary("arctan({})", np.arctan),
    _unary("arcsin(tanh({})/2)", lambda u: np.arcsin(np.tanh(u) / 2)),
    _unary("arccos(tanh({})/2)", lambda u: np.arccos(np.tanh(u) / 2)),
    _unary("leaky_relu({}, 0.1)", lambda u: np.where(u > 0, u, 0.1 * u), margin=np.abs),
    _unary("elu({}, 1.5)", lambda u: np.where(u > 0, u, 1.5 * np.expm1(np.minimum(u, 0))),
           margin=np.abs),
]
# transposes that keep the kind: a' of a scalar, A' and A.T of a matrix, (x')' of a vector
TRANSPOSES = {
    "S": [_unary("({})'", lambda u: u)],
    "V": [_unary("(({})')'", lambda u: u), _unary("(({}).T).T", lambda u: u)],
    "M": [_unary("({})'", lambda u: u.T), _unary("({}).T", lambda u: u.T)],
}

# positive wrappers, so that log, sqrt, ./ and .^ stay in their domains
POSITIVE = [
    _unary("exp({})", np.exp),
    _unary("cosh({})", np.cosh),
    _unary("sigmoid({})", _sigmoid),
    _unary("(1 + ({}) .^ 2)", lambda u: 1 + u ** 2),
]
OF_POSITIVE = [
    _unary("log({})", np.log),
    _unary("sqrt({})", np.sqrt),
]

# element-wise binary operators: same kinds, or a scalar expanded on either side
ELEMENTWISE_BINARY = [
    _binary("({} + {})", np.add),
    _binary("({} - {})", np.subtract),
    _binary("({} .* {})", np.multiply),
    _binary("({} \u2299 {})", np.multiply),
    _binary("({} \u2297 {})", np.multiply),
    _binary("({} \u2218 {})", np.multiply),
    _binary("max({}, {})", np.maximum, margin=lambda u, v: np.abs(u - v)),
    _binary("min({}, {})", np.minimum, margin=lambda u, v: np.abs(u - v)),
]
QUOTIENTS = [  # the right operand is positive
    _binary("({} ./ {})", np.divide),
    _binary("({} \u2298 {})", np.divide),
]

REDUCTIONS = [  # vector or matrix -> scalar
    _unary("sum({})", np.sum, kind="S"),
    _unary("mean({})", np.mean, kind="S"),
    _unary("norm1({})", lambda u: np.sum(np.abs(u)), margin=np.abs, kind="S"),
    _unary("norm2({})", lambda u: np.sqrt(np.sum(u * u)),
           margin=lambda u: np.sqrt(np.sum(u * u)), kind="S"),
]

MATRIX_TO_SCALAR = [
    _unary("tr({})", np.trace, kind="S"),
    _unary("det({})", np.linalg.det, kind="S"),
    _unary("logdet({})", lambda m: np.log(np.linalg.det(m)),
           margin=lambda m: min(np.linalg.det(m), _sigma_min(m)), kind="S"),
]


@st.composite
def expressions(draw, kind: str, depth: int) -> E:
    """A random expression of the given kind, at most `depth` operators deep."""
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return _var(draw(st.sampled_from(VARIABLES[kind])), kind)
    _, build = draw(st.sampled_from(BUILDERS[kind]))
    return build(draw, depth - 1)


def _expansions(kind: str):
    """(left kind, right kind) pairs of an element-wise binary op with result `kind`."""
    return [("S", "S")] if kind == "S" else [(kind, kind), ("S", kind), (kind, "S")]


def _positive(draw, kind: str, sub: int) -> E:
    return draw(st.sampled_from(POSITIVE))(draw(expressions(kind, sub)))


def _spd_or_not(draw, m: E) -> E:
    """Half the time, M*M' + eye: symmetric positive definite."""
    if draw(st.booleans()):
        return _unary("(({0})*({0})' + eye)", lambda u: u @ u.T + np.eye(N))(m)
    return m


# ---- builders: one per op (and form) with the result kind; each is
# (name, build(draw, sub) -> E), sub being the depth left for the operands.

def _for_kind(kind: str) -> list[tuple[str, Callable]]:
    out: list[tuple[str, Callable]] = []

    def add(name):
        def register(fn):
            out.append((name, fn))
            return fn
        return register

    for op in ELEMENTWISE + TRANSPOSES[kind]:
        add(op.fmt.format("_"))(lambda draw, sub, op=op: op(draw(expressions(kind, sub))))
    for op in OF_POSITIVE:
        add(op.fmt.format("_"))(lambda draw, sub, op=op: op(_positive(draw, kind, sub)))
    for op in ELEMENTWISE_BINARY:
        def binary(draw, sub, op=op):
            left, right = draw(st.sampled_from(_expansions(kind)))
            return op(draw(expressions(left, sub)), draw(expressions(right, sub)))
        add(op.fmt.format("_", "_"))(binary)
    for op in QUOTIENTS:
        def quotient(draw, sub, op=op):
            left, right = draw(st.sampled_from(_expansions(kind)))
            return op(draw(expressions(left, sub)), _positive(draw, right, sub))
        add(op.fmt.format("_", "_"))(quotient)

    @add("(_ .^ c)")
    def power_constant(draw, sub):
        c = draw(st.sampled_from(["2", "3", "0.5", "-1", "1.5"]))
        return _unary("({} .^ " + c + ")", lambda u: u ** float(c))(_positive(draw, kind, sub))

    @add("(_ .^ _)")
    def power(draw, sub):
        exponent = draw(expressions(draw(st.sampled_from(["S", kind])), sub))
        return _binary("({} .^ {})", np.power, kind=kind)(_positive(draw, kind, sub), exponent)

    for form in ["({} * {})", "({} @ {})"]:
        def scale_left(draw, sub, form=form):
            s, e = draw(expressions("S", sub)), draw(expressions(kind, sub))
            return _binary(form, np.multiply, kind=kind)(s, e)
        add(form.format("s", "_"))(scale_left)

    @add("(_ * s)")
    def scale_right(draw, sub):
        e, s = draw(expressions(kind, sub)), draw(expressions("S", sub))
        return _binary("({} * {})", np.multiply, kind=kind)(e, s)

    @add("(_ / s)")
    def divide(draw, sub):
        e = draw(expressions(kind, sub))
        return _binary("({} / {})", np.divide, kind=kind)(e, _positive(draw, "S", sub))

    if kind == "S":
        for op in REDUCTIONS:
            def reduce(draw, sub, op=op):
                return op(draw(expressions(draw(st.sampled_from("VM")), sub)))
            add(op.fmt.format("_"))(reduce)
        for form in ["(({})'*({}))", "(({}) \u00b7 ({}))", "dot({}, {})"]:
            def inner(draw, sub, form=form):
                u, v = draw(expressions("V", sub)), draw(expressions("V", sub))
                return _binary(form, lambda p, q: p @ q, kind="S")(u, v)
            add(form.format("_", "_"))(inner)

        @add("(_'*_*_)")
        def quadratic(draw, sub):
            u, m, v = (draw(expressions(k, sub)) for k in "VMV")
            left = _binary("({})'*({})", lambda p, q: p @ q, kind="V")(u, m)
            return _binary("({}*({}))", lambda p, q: p @ q, kind="S")(left, v)

        for op in MATRIX_TO_SCALAR:
            def matrix_scalar(draw, sub, op=op):
                return op(_spd_or_not(draw, draw(expressions("M", sub))))
            add(op.fmt.format("_"))(matrix_scalar)

        # max(x), min(x) of a vector: kinks where two entries tie
        for form, npf in [("max({})", np.max), ("min({})", np.min)]:
            def extreme(draw, sub, form=form, npf=npf):
                return _unary(form, npf, margin=_tie_gap, kind="S")(draw(expressions("V", sub)))
            add(form.format("_"))(extreme)

        @add("logsumexp(_)")
        def logsumexp(draw, sub):
            return _unary("logsumexp({})", lambda u: np.log(np.sum(np.exp(u))), kind="S")(
                draw(expressions("V", sub)))

        @add("(_^c)")
        def scalar_power_constant(draw, sub):
            c = draw(st.sampled_from(["2", "3", "-1", "0.5"]))
            return _unary("(({})^" + c + ")", lambda u: u ** float(c))(_positive(draw, "S", sub))

        @add("(_^_)")
        def scalar_power(draw, sub):
            base = _positive(draw, "S", sub)
            return _binary("(({})^({}))", np.power, kind="S")(base, draw(expressions("S", sub)))

    elif kind == "V":
        for op in ["*", "@"]:
            def matvec(draw, sub, op=op):
                m, v = draw(expressions("M", sub)), draw(expressions("V", sub))
                return _binary("(({}) " + op + " ({}))", lambda p, q: p @ q, kind="V")(m, v)
            add(f"(M {op} _)")(matvec)

        @add("((_'*M)')")
        def row_times_matrix(draw, sub):
            v, m = draw(expressions("V", sub)), draw(expressions("M", sub))
            return _binary("(({})'*({}))'", lambda p, q: p @ q, kind="V")(v, m)

        @add("softmax(_)")
        def softmax(draw, sub):
            return _unary("softmax({})", lambda u: np.exp(u) / np.sum(np.exp(u)))(
                draw(expressions("V", sub)))

        # batches: reductions of a matrix along an axis, a column of row statistics
        for form, npf in [("sum({}, 2)", lambda m: m.sum(1)),
                          ("mean({}, 1)'", lambda m: m.mean(0)),
                          ("logsumexp({}, 2)", lambda m: np.log(np.exp(m).sum(1))),
                          ("logsumexp({}, 1)'", lambda m: np.log(np.exp(m).sum(0)))]:
            def along(draw, sub, form=form, npf=npf):
                return _unary(form, npf, kind="V")(draw(expressions("M", sub)))
            add(form.format("M"))(along)

        @add("logsoftmax(_)")
        def logsoftmax(draw, sub):
            return _unary("logsoftmax({})", lambda u: np.log(_softmax_np(u)))(
                draw(expressions("V", sub)))

        @add("diag(M)")
        def diag_of(draw, sub):
            return _unary("diag({})", lambda m: np.diag(m).copy(), kind="V")(
                draw(expressions("M", sub)))

        for form, npf in [("({} + vector(2))", lambda u: u + 2.0),
                          ("(vector(0.5) .* {})", lambda u: 0.5 * u),
                          ("(eye * {})", lambda u: u)]:
            def constant(draw, sub, form=form, npf=npf):
                return _unary(form, npf)(draw(expressions("V", sub)))
            add(form.format("_"))(constant)

    else:
        for op in ["*", "@"]:
            def matmul(draw, sub, op=op):
                p, q = draw(expressions("M", sub)), draw(expressions("M", sub))
                return _binary("(({}) " + op + " ({}))", lambda u, v: u @ v, kind="M")(p, q)
            add(f"(M {op} M)")(matmul)

        @add("(_*_')")
        def outer(draw, sub):
            u, v = draw(expressions("V", sub)), draw(expressions("V", sub))
            return _binary("(({})*({})')", np.outer, kind="M")(u, v)

        @add("inv(_)")
        def inverse(draw, sub):
            m = _spd_or_not(draw, draw(expressions("M", sub)))
            return _unary("inv({})", np.linalg.inv, margin=_sigma_min)(m)

        # batches: softmax along an axis, and vectors expanded over rows or columns
        for form, npf in [("softmax({}, 2)", lambda m: _softmax_np(m, 1)),
                          ("logsoftmax({}, 1)", lambda m: np.log(_softmax_np(m, 0)))]:
            def along_matrix(draw, sub, form=form, npf=npf):
                return _unary(form, npf)(draw(expressions("M", sub)))
            add(form.format("_"))(along_matrix)

        @add("(M + v')")
        def expand_rows(draw, sub):
            m, v = draw(expressions("M", sub)), draw(expressions("V", sub))
            return _binary("({} + ({})')", lambda p, q: p + q[None, :], kind="M")(m, v)

        @add("(v .* M)")
        def expand_columns(draw, sub):
            v, m = draw(expressions("V", sub)), draw(expressions("M", sub))
            return _binary("({} .* {})", lambda p, q: p[:, None] * q, kind="M")(v, m)

        @add("diag(v)")
        def diag_from(draw, sub):
            return _unary("diag({})", np.diag, kind="M")(draw(expressions("V", sub)))

        for form, npf in [("({} + matrix(1))", lambda u: u + 1.0),
                          ("({} + eye)", lambda u: u + np.eye(N)),
                          ("(2*eye - {})", lambda u: 2.0 * np.eye(N) - u)]:
            def constant(draw, sub, form=form, npf=npf):
                return _unary(form, npf)(draw(expressions("M", sub)))
            add(form.format("_"))(constant)

    return out


BUILDERS = {kind: _for_kind(kind) for kind in "SVM"}
ROOTS = [(kind, name) for kind in "SVM" for name, _ in BUILDERS[kind]]


@st.composite
def cases(draw, kind: str, root: str, depth: int):
    """(expression, wrt, values): an expression whose top op is `root`, with at least one
    variable, and values for its variables."""
    build = dict(BUILDERS[kind])[root]
    e = build(draw, depth - 1)
    assume(e.names)
    wrt = draw(st.sampled_from(sorted(e.names)))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    values = {"a": np.float64(r.uniform(-1, 1)), "b": np.float64(r.uniform(-1, 1)),
              "x": r.uniform(-1, 1, N), "y": r.uniform(-1, 1, N),
              "A": r.uniform(-1, 1, (N, N)), "B": r.uniform(-1, 1, (N, N))}
    values = {k: v for k, v in values.items() if k in e.names}
    return e, wrt, values


def _in_domain(e: E, values: dict) -> np.ndarray:
    """The NumPy value, rejecting the example if a kink or a domain boundary is near."""
    margins: list[float] = []
    try:
        with np.errstate(all="ignore"):
            out = as_array(e.fn(values, margins))
    except np.linalg.LinAlgError:  # a singular matrix given to inv
        assume(False)
    assume(all(m >= MARGIN for m in margins))
    assume(np.all(np.isfinite(out)) and np.max(np.abs(out), initial=0.0) < LIMIT)
    return out


def _numeric(e: E, values: dict, wrt: str, order: int) -> np.ndarray:
    base = {k: as_array(v) for k, v in values.items()}

    def g(t):
        return as_array(e.fn({**base, wrt: t}, []))

    try:
        with np.errstate(all="ignore"):
            want = fd_derivative(g, base[wrt], order)
    except np.linalg.LinAlgError:
        assume(False)
    assume(np.all(np.isfinite(want)) and np.max(np.abs(want), initial=0.0) < LIMIT)
    return want


def _check(e: E, wrt: str, values: dict, order: int) -> None:
    _in_domain(e, values)
    want = _numeric(e, values, wrt, order)
    try:
        declare = {k: t for k, t in SIZES.items() if k in e.names}
        d = matdiff.diff(e.text, wrt=wrt, order=order, declare=declare)
        got = as_array(d.evaluate(dict(values)))
    except matdiff.MatdiffError as err:
        raise AssertionError(f"matdiff refused a well-typed expression {e.text!r}: {err}") from err
    assert len(d.shape) == want.ndim, f"{e.text}: symbolic shape {d.shape}, values {want.shape}"
    assert_matches(got, want, rtol=RTOL, atol=ATOL if order == 1 else ATOL2,
                   what=f"d^{order}({e.text})/d{wrt}^{order}")


@pytest.mark.parametrize(("kind", "root"), ROOTS, ids=[f"{k}:{r}" for k, r in ROOTS])
@settings(max_examples=FIRST_ORDER_EXAMPLES)
@given(data=st.data())
def test_random_expression_first_order(kind, root, data) -> None:
    e, wrt, values = data.draw(cases(kind, root, depth=4), label="case")
    _check(e, wrt, values, order=1)
    COUNTS["first"] += 1


@pytest.mark.parametrize(("kind", "root"), ROOTS, ids=[f"{k}:{r}" for k, r in ROOTS])
@settings(max_examples=SECOND_ORDER_EXAMPLES)
@given(data=st.data())
def test_random_expression_second_order(kind, root, data) -> None:
    e, wrt, values = data.draw(cases(kind, root, depth=3), label="case")
    _check(e, wrt, values, order=2)
    COUNTS["second"] += 1


def test_generator_smoke() -> None:
    """The generator's texts parse and evaluate like their NumPy twins."""
    e = _binary("({} + {})", np.add)(_var("x", "V"), _var("a", "S"))
    v = {"x": np.arange(3.0), "a": np.float64(2.0)}
    assert_matches(matdiff.parse(e.text).evaluate(v), e.fn(v, []))


def test_example_count_reached() -> None:
    """Runs after the property tests (file order): at least 300 examples checked in total.

    When the property tests did not all run first (-k, another order), the
    count means nothing and the test skips.
    """
    expected_first = len(ROOTS) * FIRST_ORDER_EXAMPLES
    if COUNTS["first"] == 0 or COUNTS["second"] == 0:
        pytest.skip("the property tests did not run before this one")
    total = COUNTS["first"] + COUNTS["second"]
    print(f"\nhypothesis: {len(ROOTS)} root ops; examples checked: {COUNTS['first']} first "
          f"order (of {expected_first} asked), {COUNTS['second']} second order; {total} in total")
    assert total >= 300, COUNTS
