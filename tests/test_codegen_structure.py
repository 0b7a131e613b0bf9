"""The compiled code does the work the hand-fused code does (issue 23), checked by structure.

Speed itself is measured in benchmarks/peer_problems.py; here each rewrite
that cost is pinned by what the code allocates or calls: no intermediate
larger than the inputs where the hand code has none (traced allocations),
a solve where the text has `inv(A)*b`, indexing for one-hot rows.
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

import matdiff

NEWTON = "sum(log(1 + exp(-(2*y - 1).*(X*w))))"
NEWTON_DECLARE = {"X": "matrix(n, p)", "y": "vector(n)", "w": "vector(p)"}


def peak_bytes(fn, **values) -> int:
    """The most memory the call held at once beyond its inputs (NumPy reports to tracemalloc)."""
    fn(**values)  # warm: caches, the module for these shapes
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(**values)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def newton_data():
    rng = np.random.default_rng(0)
    n, p = 4000, 30
    return {"X": rng.standard_normal((n, p)), "y": rng.integers(0, 2, n) * 1.0,
            "w": rng.standard_normal(p) * 0.3, "v": rng.standard_normal(p)}


def test_logistic_gradient_builds_no_matrix_of_the_size_of_x(newton_data):
    """-(2y - 1).*(X*w) is printed as (X - 2*diag(y)*X)*w; the code forms X*w, not that sum."""
    X, y, w = (newton_data[k] for k in "Xyw")
    fn = matdiff.diff(NEWTON, wrt="w", declare=NEWTON_DECLARE).compile()
    s = 2 * y - 1
    assert np.allclose(fn(X=X, y=y, w=w), -(X.T @ (s * _sigmoid(-s * (X @ w)))))
    assert peak_bytes(fn, X=X, y=y, w=w) < X.nbytes / 4


def test_logistic_hessian_vector_product_forms_neither_hessian_nor_scaled_x(newton_data):
    """H v as the derivative of the printed gradient along v: vectors of length n only."""
    X, y, w, v = (newton_data[k] for k in "Xywv")
    g = matdiff.diff(NEWTON, wrt="w", declare=NEWTON_DECLARE)
    hvp = matdiff.diff(f"({g})'*v", wrt="w",
                       declare=dict(NEWTON_DECLARE, v="vector(p)")).compile()
    q = _sigmoid(X @ w * (1 - 2 * y))
    want = X.T @ (q * (1 - q) * (X @ v))
    assert np.allclose(hvp(X=X, y=y, w=w, v=v), want)
    assert peak_bytes(hvp, X=X, y=y, w=w, v=v) < X.nbytes / 4


def test_factoring_leaves_a_sum_whose_terms_contract_x():
    """X*A + X: X is contracted in a term, so nothing is factored; the value is unchanged."""
    rng = np.random.default_rng(1)
    X, A = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    fn = matdiff.diff("sum(X*A + X + 3*X)", wrt="A", declare={"X": "matrix(n, n)"}).compile()
    assert np.allclose(fn(X=X, A=A), X.T @ np.ones((5, 5)))


def _square(n, seed=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)) + n * np.eye(n), rng.standard_normal(n), \
        rng.standard_normal(n)


SOLVE_DECLARE = {"A": "matrix(n, n)", "b": "vector(n)", "w": "vector(n)", "x": "vector(n)"}


@pytest.mark.parametrize("text, wrt, want", [
    ("x'*inv(A)*b", "x", lambda A, b, w: np.linalg.solve(A, b)),
    ("w'*inv(A)*b", "A", lambda A, b, w: -np.outer(np.linalg.solve(A.T, w),
                                                   np.linalg.solve(A, b))),
    ("w'*inv(A)*b", "b", lambda A, b, w: np.linalg.solve(A.T, w)),
    ("sum(inv(A')*b)", "b", lambda A, b, w: np.linalg.solve(A, np.ones(len(b)))),
    # (inv(A) + inv(A)')*x: the product distributed over the sum, two solves
    ("x'*inv(A)*x", "x", lambda A, b, w: np.linalg.solve(A, w) + np.linalg.solve(A.T, w)),
    ("log(1 + x'*inv(A)*x)", "x", lambda A, b, w: (np.linalg.solve(A, w)
                                                     + np.linalg.solve(A.T, w))
     / (1 + w @ np.linalg.solve(A, w))),
])
def test_inverse_times_a_vector_is_a_solve(text, wrt, want):
    A, b, w = _square(6)
    d = matdiff.diff(text, wrt=wrt, declare=SOLVE_DECLARE)
    values = {"A": A, "b": b, "w": w, "x": w}
    source = d.source(shapes={k: values[k].shape for k in d.variables})
    assert "np.linalg.solve(" in source and "np.linalg.inv(" not in source
    got = d.compile()(**{k: values[k] for k in d.variables})
    assert np.allclose(got, want(A, b, w))


def test_an_inverse_that_is_also_an_output_is_computed_once():
    A, b, _ = _square(5)
    vg = matdiff.value_and_grad("sum(inv(A)*b)", wrt=["b"], declare=SOLVE_DECLARE)
    value, (g,) = vg(A=A, b=b)
    assert np.isclose(value, np.linalg.solve(A, b).sum())
    assert np.allclose(g, np.linalg.solve(A.T, np.ones(5)))


def test_the_solve_runs_in_torch():
    torch = pytest.importorskip("torch")
    A, b, w = _square(6)
    fn = matdiff.diff("w'*inv(A)*b", wrt="A", declare=SOLVE_DECLARE).compile(backend="torch")
    got = fn(A=torch.as_tensor(A), b=torch.as_tensor(b), w=torch.as_tensor(w))
    assert np.allclose(got.numpy(), -np.outer(np.linalg.solve(A.T, w), np.linalg.solve(A, b)))


EMBED_DECLARE = {"Y": "one-hot rows(n, k)", "E": "matrix(k, d)", "T": "matrix(n, d)"}


@pytest.fixture
def embedding():
    rng = np.random.default_rng(3)
    n, k, d = 600, 400, 8
    idx = rng.integers(0, k, n)
    return idx, {"Y": np.eye(k)[idx], "E": rng.standard_normal((k, d)),
                 "T": rng.standard_normal((n, d))}


def test_one_hot_rows_times_a_matrix_is_a_gather_and_its_gradient_an_add_at(embedding):
    idx, v = embedding
    d = matdiff.diff("norm2(Y*E - T)^2", wrt="E", declare=EMBED_DECLARE)
    source = d.source(shapes={k: a.shape for k, a in v.items()})
    assert "Y @" not in source and "Y.T @" not in source and "_scatter_rows(" in source
    want = np.zeros_like(v["E"])
    np.add.at(want, idx, 2 * (v["E"][idx] - v["T"]))
    fn = d.compile()
    assert np.allclose(fn(**v), want)
    # the work is n x d, not n x k x d: nothing as large as Y is allocated
    assert peak_bytes(fn, **v) < v["Y"].nbytes / 4


def test_one_hot_gather_serves_a_value_and_columns():
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 5, 7)
    Y, E, u = np.eye(5)[idx], rng.standard_normal((5, 3)), rng.standard_normal(3)
    vg = matdiff.value_and_grad("sum(tanh(Y*E*u))", wrt=["u", "E"], declare=EMBED_DECLARE)
    value, (gu, gE) = vg(Y=Y, E=E, u=u)
    z = E[idx] @ u
    assert np.isclose(value, np.tanh(z).sum())
    assert np.allclose(gu, E[idx].T @ (1 - np.tanh(z) ** 2))
    assert np.allclose(gE, Y.T @ np.outer(1 - np.tanh(z) ** 2, u))
    cols = matdiff.diff("sum(E'*Y')", wrt="E", declare=EMBED_DECLARE)   # Y' contracted
    assert np.allclose(cols.compile()(Y=Y, E=E), Y.sum(axis=0)[:, None] * np.ones((5, 3)))


def test_one_hot_columns_and_vectors_index_too():
    rng = np.random.default_rng(5)
    idx = rng.integers(0, 4, 6)
    C = np.eye(4)[idx].T                      # 4 x 6, one 1 per column
    E, h = rng.standard_normal((4, 3)), np.eye(4)[2]
    d = matdiff.diff("sum(tanh(C'*E))", wrt="E", declare={"C": "one-hot columns(k, n)"})
    assert "_scatter_rows(" in d.source(shapes={"C": (4, 6), "E": (4, 3)})
    assert np.allclose(d.compile()(C=C, E=E), C @ (1 - np.tanh(C.T @ E) ** 2))
    g = matdiff.diff("sum(tanh(h'*E))", wrt="E", declare={"h": "one-hot vector(k)"})
    assert np.allclose(g.compile()(h=h, E=E), np.outer(h, 1 - np.tanh(h @ E) ** 2))


INV_DECLARE = {"A": "matrix(n, n)"}


def _product_line(source: str) -> str:
    """The one line of the generated function computing the n^4 product (after the inverse)."""
    body = source.split("np.linalg.inv(A)", 1)[1]
    lines = [ln for ln in body.splitlines() if " * " in ln or "np.einsum(" in ln]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_four_axis_outer_product_is_one_einsum_over_the_scaled_factor():
    """d inv(A)/dA = -inv(A) (x) inv(A) at n = 24: NumPy's broadcast `*` copies a product
    whose innermost contiguous run (n^2 here) is short through its buffer, einsum does not
    (outer.py). One einsum, laid out as np.multiply.outer lays it out, the minus on an
    n x n factor, and nothing of n^4 entries allocated but the result."""
    A, _, _ = _square(24)
    d = matdiff.diff("inv(A)", wrt="A", declare=INV_DECLARE)
    fn = d.compile()
    Ai = np.linalg.inv(A)
    got = fn(A=A)
    assert np.allclose(got, -np.einsum("ik,lj->ijkl", Ai, Ai))
    line = _product_line(d.source(shapes={"A": A.shape}))
    assert "np.einsum('ab,cd->abcd', -t1, t1)" in line and "-np.einsum" not in line
    assert peak_bytes(fn, A=A) < got.nbytes + 64 * A.nbytes


def test_a_long_contiguous_run_is_broadcast_innermost():
    """At n = 60 a factor has n^2 = 3600 contiguous entries, more than NumPy's buffer
    copies: the broadcast `*` streams them as the innermost axes (then a transposed view),
    still scaling only the n x n factor."""
    d = matdiff.diff("inv(A)", wrt="A", declare=INV_DECLARE)
    line = _product_line(d.source(shapes={"A": (60, 60)}))
    assert "np.einsum" not in line and not re.search(r"-\([^()]*\*", line)
    assert re.search(r"np\.transpose\(t1 \* \(-t1\)\[:, :, None, None\], \(0, 3, 1, 2\)\)", line)


def test_torch_computes_softmax_and_logsumexp_with_its_fused_kernels():
    torch = pytest.importorskip("torch")
    declare = {"X": "matrix(n, p)", "W": "matrix(p, k)", "Y": "one-hot rows(n, k)"}
    vg = matdiff.value_and_grad("-sum(Y .* logsoftmax(X*W, 2))/size(X, 1)", wrt=["W"],
                                declare=declare, backend="torch")
    source = vg.source(X=(20, 4), W=(4, 3), Y=(20, 3))
    assert "torch.softmax(" in source and "torch.logsumexp(" in source
    assert "xp.exp(" not in source
    rng = np.random.default_rng(7)
    X, W, Y = rng.standard_normal((20, 4)), rng.standard_normal((4, 3)), np.eye(3)[
        rng.integers(0, 3, 20)]
    value, (g,) = vg(X=torch.as_tensor(X), W=torch.as_tensor(W), Y=torch.as_tensor(Y))
    Z = X @ W
    S = np.exp(Z - Z.max(1, keepdims=True))
    S /= S.sum(1, keepdims=True)
    assert np.isclose(float(value), -np.sum(Y * np.log(S)) / 20)
    assert np.allclose(g.numpy(), X.T @ (S - Y) / 20)


def test_a_sum_and_its_negation_are_computed_once():
    """Through stacked softmax layers the chain rule writes both S - Y and Y - S."""
    declare = {"X": "matrix(n, p)", "W1": "matrix(p, h)", "W2": "matrix(h, k)",
               "Y": "one-hot rows(n, k)"}
    three = "-sum(Y .* logsoftmax(softmax(softmax(X*W1, 2)*W2, 2)*W3, 2))"
    d3 = matdiff.diff(three, wrt="W1", declare=dict(declare, W2="matrix(h, h)",
                                                     W3="matrix(h, k)"))
    source = d3.source(shapes={"X": (50, 4), "W1": (4, 6), "W2": (6, 6), "W3": (6, 3),
                               "Y": (50, 3)})
    code = [ln.split("#")[0] for ln in source.splitlines() if ln.startswith("    t")]
    assert sum(("Y - " in ln) + ("- Y" in ln) for ln in code) == 1
    d = matdiff.diff("-sum(Y .* logsoftmax(softmax(X*W1, 2)*W2, 2))", wrt="W1", declare=declare)
    rng = np.random.default_rng(9)
    X, W1, W2 = rng.standard_normal((50, 4)), rng.standard_normal((4, 6)), \
        rng.standard_normal((6, 3))
    Y = np.eye(3)[rng.integers(0, 3, 50)]

    def softmax(Z):
        E = np.exp(Z - Z.max(1, keepdims=True))
        return E / E.sum(1, keepdims=True)
    S1 = softmax(X @ W1)
    G = (softmax(S1 @ W2) - Y) @ W2.T
    assert np.allclose(d.compile()(X=X, W1=W1, W2=W2, Y=Y),
                       X.T @ (S1 * (G - (G * S1).sum(1, keepdims=True))))


def test_a_product_of_a_large_sum_is_distributed_at_equal_flops():
    """The softmax Hessian X'*(diag(s)*X - s*(s'*X)): the flops of keeping the n x p sum
    and of distributing it are about equal, but the sum is two n x p arrays the
    distributed X'*(diag(s)*X) - (X'*s)*(s'*X) never forms (1.5-1.8x the hand code)."""
    rng = np.random.default_rng(4)
    X, w = rng.standard_normal((3000, 40)), 0.1 * rng.standard_normal(40)
    d = matdiff.diff("logsumexp(X*w)", wrt="w", order=2,
                     declare={"X": "matrix(n, p)", "w": "vector(p)"})
    fn = d.compile()
    z = X @ w
    s = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert np.allclose(fn(X=X, w=w), X.T @ (X * s[:, None]) - np.outer(X.T @ s, X.T @ s))
    assert peak_bytes(fn, X=X, w=w) < 1.25 * X.nbytes  # one scaled X at most, as by hand


def test_a_weighted_gram_of_one_sign_copies_no_rows():
    """The logistic log-likelihood's Hessian X'*diag(-s.*(1 - s))*X: weights all negative,
    one scaled X (a rank-k update of it), where selecting the rows of each sign copied X."""
    rng = np.random.default_rng(5)
    X, w = rng.standard_normal((3000, 40)), 0.1 * rng.standard_normal(40)
    y = (rng.random(3000) > 0.5) * 1.0
    d = matdiff.diff("y'*log(sigmoid(X*w)) + (1 - y)'*log(1 - sigmoid(X*w))", wrt="w",
                     order=2, declare={"X": "matrix(n, p)", "w": "vector(p)", "y": "vector(n)"})
    fn = d.compile()
    s = 1 / (1 + np.exp(-X @ w))
    assert np.allclose(fn(X=X, w=w, y=y), -X.T @ (X * (s * (1 - s))[:, None]))
    assert peak_bytes(fn, X=X, w=w, y=y) < 1.25 * X.nbytes
    mixed = rng.standard_normal(3000)  # both signs: still right
    gram = matdiff.diff("sum(u.*(X*w).^2)/2", wrt="w", order=2,
                        declare={"X": "matrix(n, p)", "w": "vector(p)", "u": "vector(n)"})
    assert np.allclose(gram.compile()(X=X, w=w, u=mixed), X.T @ (X * mixed[:, None]))
