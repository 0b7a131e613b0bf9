"""Block-diagonal Jacobians (row-wise maps) from compile(structured=True): values, @, limits."""

from __future__ import annotations

import numpy as np
import pytest

import matdiff
from matdiff.codegen import BlockDiagonal, Diagonal

RNG = np.random.default_rng(9)
DECLARE = {"X": "matrix(n, q)", "W": "matrix(q, p)", "v": "vector(q)"}

# (function, variable, order, pairs of axes the Jacobian is block-diagonal over)
CASES = [
    ("softmax(X, 2)", "X", 1, ((0, 2),)),
    ("softmax(X, 1)", "X", 1, ((1, 3),)),
    ("logsoftmax(X, 2)", "X", 1, ((0, 2),)),
    ("logsoftmax(X, 1)", "X", 1, ((1, 3),)),
    ("logsumexp(X, 2)", "X", 1, ((0, 1),)),
    ("tanh(softmax(X, 2))", "X", 1, ((0, 2),)),
    ("softmax(tanh(X), 2) .* X", "X", 1, ((0, 2),)),
    ("softmax(X*W, 2)", "X", 1, ((0, 2),)),
    ("logsoftmax(X + v', 2)", "X", 1, ((0, 2),)),
    ("sum(logsumexp(X, 2))", "X", 2, ((0, 2),)),
]


def _values() -> dict[str, np.ndarray]:
    return {"X": RNG.standard_normal((3, 4)), "W": RNG.standard_normal((4, 5)),
            "v": RNG.standard_normal(4)}


def _finite_differences(d: matdiff.Derivative, values: dict, h: float = 1e-6) -> np.ndarray:
    """The Jacobian of the function d differentiates (its gradient, for a Hessian), by
    central differences in each entry of the variable."""
    f = d.function if d.order == 1 else matdiff.diff(d.function, wrt=d.wrt)
    x = values[d.wrt]
    cols = []
    for k in range(x.size):
        step = np.zeros(x.size)
        step[k] = h
        up, down = dict(values), dict(values)
        up[d.wrt] = x + step.reshape(x.shape)
        down[d.wrt] = x - step.reshape(x.shape)
        cols.append((np.asarray(f.evaluate(up)) - np.asarray(f.evaluate(down))) / (2 * h))
    return np.stack(cols, axis=-1).reshape(np.shape(cols[0]) + x.shape)


@pytest.mark.parametrize("text, wrt, order, pairs", CASES, ids=[c[0] for c in CASES])
def test_structured_equals_dense_evaluate_and_finite_differences(text, wrt, order, pairs):
    d = matdiff.diff(text, wrt=wrt, declare=DECLARE, order=order)
    values = _values()
    J = d.compile(structured=True)(**values)
    assert isinstance(J, BlockDiagonal) and J.pairs == pairs
    dense = d.compile()(**values)
    assert J.shape == dense.shape and J.ndim == dense.ndim
    np.testing.assert_allclose(J.toarray(), dense, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(J), d.evaluate(values), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dense, _finite_differences(d, values), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("text, wrt, order, pairs", CASES, ids=[c[0] for c in CASES])
def test_products_contract_the_axes_dense_ones_would(text, wrt, order, pairs):
    d = matdiff.diff(text, wrt=wrt, declare=DECLARE, order=order)
    values = _values()
    J = d.compile(structured=True)(**values)
    dense = J.toarray()
    h = J.plan.split
    k = dense.ndim - h
    for extra in ((), (2,)):
        V = RNG.standard_normal(dense.shape[h:] + extra)      # J @ V: a JVP
        np.testing.assert_allclose(J @ V, np.tensordot(dense, V, k), rtol=0, atol=1e-12)
        U = RNG.standard_normal(extra + dense.shape[:h])      # U @ J: a VJP
        np.testing.assert_allclose(U @ J, np.tensordot(U, dense, h), rtol=0, atol=1e-12)
    np.testing.assert_allclose((-2.0 * J).toarray(), -2.0 * dense, atol=1e-12)
    np.testing.assert_allclose((J * 0.5 @ V), 0.5 * np.tensordot(dense, V, k), atol=1e-12)
    with pytest.raises(ValueError):
        J @ np.ones(7)
    with pytest.raises(ValueError):
        np.ones(7) @ J


def test_blocks_are_the_nonzero_blocks():
    values = _values()
    rows = matdiff.diff("softmax(X, 2)", wrt="X", declare=DECLARE).compile(structured=True)
    J = rows(**values)
    B, dense = J.blocks(), J.toarray()
    assert B.shape == (3, 4, 4)
    for i in range(3):
        np.testing.assert_allclose(B[i], dense[i, :, i, :], atol=1e-15)
        s = J.factors[0][i]
        np.testing.assert_allclose(B[i], np.diag(s) - np.outer(s, s), atol=1e-15)
    cols = matdiff.diff("logsoftmax(X, 1)", wrt="X", declare=DECLARE).compile(structured=True)
    C, dense = cols(**values).blocks(), cols(**values).toarray()
    assert C.shape == (4, 3, 3)
    for j in range(4):
        np.testing.assert_allclose(C[j], dense[:, j, :, j], atol=1e-15)
    wide = matdiff.diff("softmax(X*W, 2)", wrt="X", declare=DECLARE).compile(structured=True)
    assert wide(**values).blocks().shape == (3, 5, 4)  # n blocks of p x q


def test_structured_softmax_costs_the_softmax_not_its_blocks():
    d = matdiff.diff("softmax(X, 2)", wrt="X", declare=DECLARE)
    fn = d.compile(structured=True)
    source = fn.source(X=(1000, 100))
    assert "_embed" not in source and "return (n, q, n, q), t1" in source
    X = RNG.standard_normal((1000, 100))
    J = fn(X=X)                                   # dense: 10^10 numbers, 80 GB
    U = RNG.standard_normal((1000, 100))
    s = np.exp(X - X.max(axis=1, keepdims=True))
    s /= s.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(U @ J, s * (U - (U * s).sum(axis=1, keepdims=True)),
                               atol=1e-15)
    with pytest.raises(matdiff.MatdiffError, match="J @ V"):
        J.toarray()


def test_dense_results_too_large_are_refused_with_the_structured_way_named():
    d = matdiff.diff("softmax(X, 2)", wrt="X", declare=DECLARE)
    X = np.zeros((1000, 100))
    with pytest.raises(matdiff.MatdiffError, match="structured=True"):
        d.evaluate({"X": X})
    with pytest.raises(matdiff.MatdiffError, match="structured=True"):
        d.compile()(X=X)


def test_elementwise_maps_stay_diagonal_and_other_results_dense():
    values = _values()
    D = matdiff.diff("exp(X) .* X", wrt="X", declare=DECLARE).compile(structured=True)(**values)
    assert isinstance(D, Diagonal)
    G = matdiff.diff("softmax(X*W, 2)", wrt="W", declare=DECLARE).compile(structured=True)
    assert isinstance(G(**values), np.ndarray)  # every row depends on all of W
    g = matdiff.value_and_grad("sum(logsoftmax(X*W, 2))", wrt="W", declare=DECLARE)
    assert isinstance(g(**values)[1], np.ndarray)


def test_other_backends_return_a_block_diagonal_jacobian_dense():
    torch = pytest.importorskip("torch")
    d = matdiff.diff("logsoftmax(X, 2)", wrt="X", declare=DECLARE)
    X = RNG.standard_normal((3, 4))
    got = d.compile(structured=True)(X=torch.from_numpy(X))
    assert torch.is_tensor(got) and tuple(got.shape) == (3, 4, 3, 4)
    np.testing.assert_allclose(got.numpy(), d.evaluate({"X": X}), atol=1e-12)


def test_products_of_structured_jacobians_stay_structured_the_chain_rule():
    X = RNG.standard_normal((3, 4))
    Z = {"Z": "matrix(n, q)"}
    S = matdiff.diff("softmax(Z, 2)", wrt="Z", declare=Z).compile(structured=True)(Z=np.tanh(X))
    T = matdiff.diff("tanh(X)", wrt="X", declare=DECLARE).compile(structured=True)(X=X)
    whole = matdiff.diff("softmax(tanh(X), 2)", wrt="X", declare=DECLARE)
    chained = S @ T                                    # d softmax(Z) / dZ  at Z = tanh(X)
    assert isinstance(T, Diagonal) and isinstance(chained, BlockDiagonal)
    assert chained.pairs == ((0, 2),)
    np.testing.assert_allclose(chained.toarray(), whole.evaluate({"X": X}), atol=1e-15)
    np.testing.assert_allclose((T @ S).toarray(), np.tensordot(T.toarray(), S.toarray(), 2),
                               atol=1e-15)
    cols = matdiff.diff("logsoftmax(Z, 1)", wrt="Z", declare=Z).compile(structured=True)(Z=X)
    both = S @ cols                                    # rows after columns: no block left
    assert isinstance(both, BlockDiagonal) and both.pairs == ()
    np.testing.assert_allclose(both.toarray(), np.tensordot(S.toarray(), cols.toarray(), 2),
                               atol=1e-15)
    wide = matdiff.diff("softmax(X*W, 2)", wrt="X", declare=DECLARE).compile(structured=True)
    with pytest.raises(ValueError):  # its function is 3 x 5, S's variable 3 x 4
        S @ wide(X=X, W=RNG.standard_normal((4, 5)))


def test_random_block_structured_ir_compiles_to_evaluate():
    """Random products (diagonals, broadcasts, traces) read as Jacobians at a random split:
    whenever the structured path applies, its dense form and products equal evaluate's."""
    import random

    from matdiff.codegen.compile import CompiledFunction
    from matdiff.codegen.module import ModuleSpec, Output
    from matdiff.evaluate import evaluate
    from test_codegen_random import VARS, _product, _values

    shapes = [("n", "n"), ("n", "m"), ("n", "n", "n"), ("n", "m", "n", "m"), ("n", "n", "m")]
    found = 0
    for seed in range(120):
        r = random.Random(seed)
        shape = r.choice(shapes)
        e = _product(r, shape, r.randint(1, 3))
        split = r.randint(1, e.ndim - 1)
        fn = CompiledFunction(ModuleSpec((Output(e, True, split),), VARS))
        values = _values(seed, 3, 2)
        with np.errstate(all="ignore"):
            want = evaluate(e, values, VARS)
            got = fn(**values)
            if not isinstance(got, BlockDiagonal):
                continue
            found += 1
            np.testing.assert_allclose(got.toarray(), want, rtol=1e-9, atol=1e-9, equal_nan=True)
            V = RNG.standard_normal(want.shape[split:])
            np.testing.assert_allclose(got @ V, np.tensordot(want, V, want.ndim - split),
                                       rtol=1e-9, atol=1e-9, equal_nan=True)
    assert found >= 20
