"""Every op of the op spec (ir/ops.py) has every entry in every stage, and each entry works.

One test per (stage, op): a missing or wrong entry fails as
`test_every_op_in_every_stage[codegen-cosh]`, naming the stage and the op.
The stages: language, derivative, evaluation, codegen, text, LaTeX,
explanation. Each op is tried on a small sample chosen by its shape rule
(SAMPLES below: a new shape rule needs a sample here), inside every
function's domain and away from kinks. Exact values per op are checked
against independent NumPy in test_op_rows.py; here the stages are checked
against each other and against finite differences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, fd_jacobian
from matdiff.codegen.compile import CompiledFunction
from matdiff.codegen.lower import BINARY_CODE, CONCAT_CODE, MATRIX_CODE, UNARY_CODE
from matdiff.codegen.module import ModuleSpec, Output
from matdiff.derive.rules import ELEMENTWISE_DERIVATIVES, RULES
from matdiff.evaluate import NUMPY, evaluate
from matdiff.explain.vocabulary import local_rule
from matdiff.ir.expr import topo_order
from matdiff.ir.ops import SPECS, WINDOW_OPS, Op, spelling
from matdiff.language.rules import BINARY, FUNCTIONS, SHAPE_RULES
from matdiff.printing.matrix import FORMS

STRUCTURAL = {Op.VAR, Op.CONST, Op.SIZE, Op.EINSUM, Op.ADD}  # handled by each stage's logic
OPS = [op for op in Op if op not in STRUCTURAL]


def _vector(lo: float, hi: float, n: int = 3) -> np.ndarray:
    return np.linspace(lo, hi, n)


def _square() -> np.ndarray:
    r = np.random.default_rng(0)
    return 2.0 * np.eye(3) + 0.2 * r.uniform(-1.0, 1.0, (3, 3))


# (shape rule, arity) -> (arguments as text, their values); values lie in (0.2, 0.9) where
# every element-wise function is defined and smooth, and two arguments never tie
SAMPLES = {
    ("same", 1): ("x", {"x": _vector(0.2, 0.9)}),
    ("same", 2): ("x, y", {"x": _vector(0.2, 0.5), "y": _vector(0.6, 0.9)}),
    ("any -> scalar", 1): ("x", {"x": _vector(0.2, 0.9)}),
    ("square -> scalar", 1): ("X", {"X": _square()}),
    ("square -> square", 1): ("X", {"X": _square()}),
    ("vector -> vector", 1): ("x", {"x": _vector(0.2, 0.9)}),
    ("vector -> scalar", 1): ("x", {"x": _vector(0.2, 0.9)}),
}


_R = np.random.default_rng(1)
# window ops (conv2, maxpool, ...): a sample per op, its sizes declared (output sizes are
# computed from them); values without ties, so max pooling is smooth there
WINDOW_SAMPLES = {
    Op.CONV1: ("conv1(x, k, 1, 2)", {"x": _R.uniform(0.2, 0.9, 7), "k": _R.uniform(-1, 1, 3)}),
    Op.CONV2: ("conv2(X, K, 1, 2)", {"X": _R.uniform(0.2, 0.9, (5, 5)),
                                     "K": _R.uniform(-1, 1, (3, 3))}),
    Op.ROT180: ("rot180(X)", {"X": _R.uniform(0.2, 0.9, (3, 2))}),
    Op.MAXPOOL: ("maxpool(X, 2)", {"X": _R.permutation(np.linspace(0.2, 0.9, 16)).reshape(4, 4)}),
    Op.MEANPOOL: ("meanpool(X, 2)", {"X": _R.uniform(0.2, 0.9, (4, 4))}),
    Op.UPSAMPLE: ("upsample(X, 2)", {"X": _R.uniform(0.2, 0.9, (2, 3))}),
    Op.DILATE: ("dilate(X, 2)", {"X": _R.uniform(0.2, 0.9, (2, 3))}),
    Op.SUBSAMPLE: ("subsample(X, 2)", {"X": _R.uniform(0.2, 0.9, (5, 3))}),
    Op.VEC: ("vec(X)", {"X": _R.uniform(0.2, 0.9, (2, 3))}),
    Op.RESHAPE: ("reshape(x, 2, 3)", {"x": _R.uniform(0.2, 0.9, 6)}),
}


def declared(op: Op) -> dict:
    """The declarations a sample needs: the sizes of a window op's arguments."""
    if op not in WINDOW_SAMPLES:
        return {}
    return {name: f"vector({v.shape[0]})" if v.ndim == 1 else f"matrix({v.shape[0]}, {v.shape[1]})"
            for name, v in WINDOW_SAMPLES[op][1].items()}


# ops spelled by syntax of their own, not a call or an operator: their sample
SPELLED = {
    Op.CONCAT: ("[x; y]", {"x": _vector(0.2, 0.5), "y": _vector(0.6, 0.9, 2)}),
}
CALLED_KINDS = ("elementwise", "matrix", "concat", "window")


def sample(op: Op) -> tuple[str, dict]:
    """The op applied to sample arguments, as text in the language, and their values."""
    if op in SPELLED:
        return SPELLED[op]
    spec = SPECS[op]
    if op in WINDOW_SAMPLES:
        return WINDOW_SAMPLES[op]
    key = (spec.shape, spec.arity)
    assert key in SAMPLES, f"{op.value}: no sample for shape rule {key} in tests/test_op_spec.py"
    args, values = SAMPLES[key]
    if spec.operator:
        return spec.operator.join(f" {a} " for a in args.split(", ")).strip(), values
    return f"{spelling(op)}({args})", values


def _wrt(values: dict) -> str:
    return next(iter(values))


# ---------------------------------------------------------------- the stages

def language(op: Op) -> None:
    spec = SPECS[op]
    assert spec.kind in CALLED_KINDS, f"kind {spec.kind!r}"
    assert op in SPELLED or spec.kind == "window" or (spec.shape, spec.arity) in SHAPE_RULES, \
        f"shape rule {spec.shape!r} of arity {spec.arity} is not in language SHAPE_RULES"
    if op in SPELLED:
        pass
    elif spec.operator:
        assert spec.operator in BINARY, f"operator {spec.operator!r} is not in the language"
    else:
        assert spelling(op) in FUNCTIONS, f"{spelling(op)}() is not a function of the language"
    text, _ = sample(op)
    e = matdiff.parse(text, declared(op))
    assert any(n.op is op for n in topo_order(e.ir)), f"{text} does not lower to {op.value}"


def derivative(op: Op) -> None:
    assert op in RULES, "no rule in derive/rules.py RULES"
    spec = SPECS[op]
    text, values = sample(op)
    f = matdiff.parse(text, declared(op))
    for wrt in values:
        d = matdiff.diff(f, wrt=wrt)

        def value(t, wrt=wrt):
            return f.evaluate({**values, wrt: t})

        assert_matches(d.evaluate(values), fd_jacobian(value, values[wrt]),
                       what=f"d {text} / d{wrt} against finite differences")
    if spec.kind == "elementwise" and spec.arity == 1:
        assert op in ELEMENTWISE_DERIVATIVES, "no line in derive/rules.py ELEMENTWISE_DERIVATIVES"
        x = values["x"]
        formula = matdiff.parse(spec.derivative, declare={"a": "vector", "y": "vector"})
        used = {"a": x, "y": f.evaluate(values)}
        got = np.broadcast_to(formula.evaluate({k: v for k, v in used.items()
                                                if k in formula.variables}), x.shape)
        assert_matches(got, np.diag(matdiff.diff(text, wrt="x").evaluate(values)),
                       what=f"the spec's derivative {spec.derivative!r} of {op.value}")


def evaluation(op: Op) -> None:
    assert op in NUMPY, "no array function in evaluate.py"
    spec = SPECS[op]
    text, values = sample(op)
    got = np.asarray(matdiff.parse(text, declared(op)).evaluate(values))
    assert np.all(np.isfinite(got)), f"{text} = {got}"
    if spec.kind == "elementwise":  # the spec's zeros claim, both ways
        zero = np.asarray(evaluate(matdiff.parse(text).ir, {k: 0.0 * v for k, v in values.items()}))
        assert bool(np.all(zero == 0.0)) == spec.zeros, \
            f"the spec says zeros={spec.zeros}, but {text} at 0 is {zero}"


def codegen(op: Op) -> None:
    spec = SPECS[op]
    if op is Op.CONCAT:
        assert CONCAT_CODE, "no code template in codegen/lower.py"
    else:
        table = (WINDOW_OPS if spec.kind == "window" else MATRIX_CODE if spec.kind == "matrix"
                 else UNARY_CODE if spec.arity == 1 else BINARY_CODE)
        assert op in table, "no code template in codegen/lower.py"
    text, values = sample(op)
    f = matdiff.parse(text, declared(op))
    fn = CompiledFunction(ModuleSpec((Output(f.ir),), dict(f.variables)))
    assert_matches(fn(**values), f.evaluate(values), what=f"compiled {text}")
    d = matdiff.diff(f, wrt=_wrt(values))
    assert_matches(d.compile()(**values), d.evaluate(values), what=f"compiled d {text}")


def text(op: Op) -> None:
    assert op in FORMS, "no conversion in printing/matrix.py FORMS"
    source, values = sample(op)
    f = matdiff.parse(source, declared(op))
    printed = f.to_text()
    spelt = "[" if op in SPELLED else SPECS[op].operator or f"{spelling(op)}("
    assert spelt in printed, f"{source} prints as {printed}"
    assert_matches(matdiff.parse(printed, declared(op)).evaluate(values), f.evaluate(values),
                   what=f"{printed} parsed back")
    if op in WINDOW_SAMPLES:  # its Jacobian is index notation: a gradient through it instead
        f = matdiff.parse(f"sum({source}.^2)", declared(op))
    d = matdiff.diff(f, wrt=_wrt(values))
    if d.ir.ndim <= 2 and not np.all(np.asarray(d.evaluate(values)) == 0.0):
        # (index notation for 3 or more axes does not parse back; a zero has no sizes)
        assert_matches(matdiff.parse(d.to_text(), declared(op)).evaluate(values),
                       d.evaluate(values),
                       what=f"the derivative {d.to_text()} parsed back")


def latex(op: Op) -> None:
    spelling = SPECS[op].latex
    assert spelling, "no LaTeX spelling in the op spec"
    source, _ = sample(op)
    printed = matdiff.parse(source, declared(op)).latex()
    if op in SPELLED:
        want = spelling[: spelling.index("{0}")].replace("{{", "{").replace("}}", "}").strip()
        assert want in printed, f"{source} prints as {printed}, without {want}"
        return
    if "{0}" in spelling:
        names = [a.strip() for a in SAMPLES[(SPECS[op].shape, SPECS[op].arity)][0].split(",")]
        want = spelling
        for k, name in enumerate(names):
            want = want.replace(f"{{{k}}}", name)
    else:
        want = spelling + r"\left("
    assert want in printed, f"{source} prints as {printed}, without {want}"


def explanation(op: Op) -> None:
    name, identity = SPECS[op].rule
    assert name and identity, "no rule name and identity in the op spec"
    source, values = sample(op)
    f = matdiff.parse(source, declared(op))
    node = next(n for n in topo_order(f.ir) if n.op is op)
    assert local_rule(node, node.args[0]) == (name, identity)
    if op in WINDOW_SAMPLES:  # a scalar function of it, so the explanation has a gradient
        f = matdiff.parse(f"sum({source}.^2)", declared(op))
    d = matdiff.diff(f, wrt=_wrt(values))
    if not np.all(np.asarray(d.evaluate(values)) == 0.0):  # a zero derivative has no steps
        assert name in d.explain(), f"the explanation of d {source} does not cite {name!r}"


STAGES = {f.__name__: f for f in (language, derivative, evaluation, codegen, text, latex,
                                  explanation)}


@pytest.mark.parametrize(("stage", "op"), [(s, op) for s in STAGES for op in OPS],
                         ids=[f"{s}-{op.value}" for s in STAGES for op in OPS])
def test_every_op_in_every_stage(stage: str, op: Op) -> None:
    STAGES[stage](op)


def test_every_op_has_a_spec() -> None:
    assert set(SPECS) == set(Op)
    for op, spec in SPECS.items():
        assert (op in STRUCTURAL) == (spec.kind not in CALLED_KINDS), op.value


def test_every_function_is_documented() -> None:
    """docs/language.md lists every function of the language (one row each)."""
    docs = (Path(__file__).parent.parent / "docs" / "language.md").read_text(encoding="utf-8")
    missing = [name for name in FUNCTIONS if f"`{name}(" not in docs]
    assert not missing, f"functions missing from docs/language.md: {missing}"
