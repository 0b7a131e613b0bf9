"""Random mixes of max/min reductions, softmax, logsumexp and logsoftmax compile to evaluate().

The stable softmax and logsumexp share one maximum, one exp and one sum
when both are taken of the same argument; the user's own max(x) of that
argument is a different value and must never be taken for one of those
temporaries (issue 18, section 0: `logsumexp(v) - max(v)` compiled to 0).
Hypothesis draws a seed; each seed is one scalar expression over a small
pool of arguments (so the same argument recurs under different functions),
compiled as `value_and_grad` (a program's backward pass, sharing the
forward pass) and as one derivative per variable, on NumPy, PyTorch, JAX,
Dask and the portable module, and compared with `evaluate`, value and
gradient. And the mechanism itself: one module computing every node of the
function and of its gradients returns, for each node, that node's value.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from conftest import to_numpy
from matdiff.codegen.compile import CompiledFunction
from matdiff.codegen.module import ModuleSpec, Output
from matdiff.evaluate import evaluate
from matdiff.ir.expr import topo_order
from matdiff.ir.ops import Op

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
da = pytest.importorskip("dask.array")
pytest.importorskip("array_api_compat")
jax.config.update("jax_enable_x64", True)

DECLARE = {"u": "vector(n)", "v": "vector(n)", "X": "matrix(n, n)"}
VECTORS = ["u", "v", "u - v", "2*u", "X*u"]           # arguments that recur
MATRICES = ["X", "X'", "X + u*v'"]
CONVERT = {
    "numpy": np.asarray,
    "torch": torch.as_tensor,
    "jax": jax.numpy.asarray,
    "dask": da.from_array,
    "array-api": torch.as_tensor,  # the portable module, on PyTorch tensors
}
BACKENDS = list(CONVERT)


def _vector_term(r: random.Random) -> str:
    """A scalar from a vector argument: a reduction or a stable form of it."""
    a, c = r.choice(VECTORS), r.choice(VECTORS)
    return r.choice([
        f"max({a})", f"min({a})", f"logsumexp({a})", f"softmax({a})'*({c})",
        f"sum(logsoftmax({a}) .* ({c}))", f"max(softmax({a}))", f"min(logsoftmax({a}))",
        f"max(logsumexp(X, 2) - {a})",
    ])


def _matrix_term(r: random.Random) -> str:
    """A scalar from a matrix argument along an axis."""
    a, k = r.choice(MATRICES), r.choice([1, 2])
    c = r.choice(MATRICES)
    return r.choice([
        f"sum(logsumexp({a}, {k}))", f"sum(softmax({a}, {k}) .* ({c}))",
        f"sum(logsoftmax({a}, {k}) .* ({c}))", f"max(logsumexp({a}, 2))",
        f"min(softmax({a}, 2)*u)", f"max(sum(softmax({a}, {k}), 2))",
    ])


def _expression(seed: int) -> str:
    r = random.Random(seed)
    terms = [r.choice([_vector_term, _vector_term, _matrix_term])(r)
             for _ in range(r.randint(2, 3))]
    text = terms[0]
    for t in terms[1:]:
        text = f"({text}) {r.choice(['+', '-', '*'])} ({t})"
    return text


def _values(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = 4
    return {"u": rng.normal(0, 2, n), "v": rng.normal(0, 2, n), "X": rng.normal(0, 2, (n, n))}


@functools.cache
def _reference(text: str, seed: int) -> tuple[float, dict]:
    values = _values(seed)
    f = matdiff.parse(text, declare=DECLARE)
    value = float(f.evaluate(values))
    grads = {n: np.asarray(matdiff.diff(f, wrt=n).evaluate(values), dtype=float)
             for n in sorted(f.variables)}
    return value, grads


def _close(got, want, what: str) -> None:
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-8, atol=1e-8, err_msg=what)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_stable_forms_and_reductions_compile_to_evaluate(seed):
    text = _expression(seed)
    value, grads = _reference(text, seed)
    names = sorted(grads)
    values = _values(seed)
    for backend in BACKENDS:
        args = {n: CONVERT[backend](values[n]) for n in names}
        vg = matdiff.value_and_grad(text, wrt=names, declare=DECLARE, backend=backend)
        got_value, got_grads = vg(**args)
        _close(got_value, value, f"{text} on {backend}")
        for n, g in zip(names, got_grads):
            _close(g, grads[n], f"d/d{n} of {text} on {backend} (value_and_grad)")
        if backend == "jax":  # ~0.1 s per compilation: value_and_grad covers it
            continue
        for n in names:
            fn = matdiff.diff(text, wrt=n, declare=DECLARE).compile(backend=backend)
            _close(fn(**args), grads[n], f"d/d{n} of {text} on {backend} (compile)")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", ["logsumexp(v) - max(v)", "max(v)*logsumexp(v)",
                                  "min(v) + logsumexp(v)", "max(v) - softmax(v)'*v"])
def test_a_reduction_beside_the_stable_forms_of_its_argument(text, backend):
    """The issue's cases: the user's max(v) is not the stable forms' shared maximum."""
    values = {"v": np.array([0.3, -1.2, 0.8, 2.0])}
    value, grads = _reference_of(text, values)
    vg = matdiff.value_and_grad(text, wrt="v", declare=DECLARE, backend=backend)
    got_value, got_grad = vg(v=CONVERT[backend](values["v"]))
    _close(got_value, value, f"{text} on {backend}")
    _close(got_grad, grads, f"d/dv of {text} on {backend}")
    fn = matdiff.diff(text, wrt="v", declare=DECLARE).compile(backend=backend)
    _close(fn(v=CONVERT[backend](values["v"])), grads, f"d/dv of {text} on {backend}")


def _reference_of(text: str, values: dict) -> tuple[float, np.ndarray]:
    f = matdiff.parse(text, declare=DECLARE)
    return float(f.evaluate(values)), np.asarray(matdiff.diff(f, wrt="v").evaluate(values))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_every_temporary_is_the_value_of_its_node(seed):
    """One module computing every node of a function and of its gradients at once (so
    that they share whatever temporaries the generator shares) returns, for each node,
    what `evaluate` gives for that node alone: no temporary stands for another node."""
    text = _expression(seed)
    values = _values(seed)
    f = matdiff.parse(text, declare=DECLARE)
    roots = [f.ir] + [matdiff.diff(f, wrt=n).ir for n in sorted(f.variables)]
    nodes: list = []
    for root in roots:
        for node in topo_order(root):
            if node.op not in (Op.VAR, Op.CONST) and node not in nodes:
                nodes.append(node)
    spec = ModuleSpec(tuple(Output(n) for n in nodes), dict(f.variables))
    for backend in ("numpy", "torch"):
        got = CompiledFunction(spec, backend=backend)(
            **{n: CONVERT[backend](values[n]) for n in f.variables})
        for node, g in zip(nodes, got):
            want = evaluate(node, values, f.variables)
            np.testing.assert_allclose(to_numpy(g), want, rtol=1e-9, atol=1e-9,
                                       err_msg=f"a node of {text} on {backend}")
