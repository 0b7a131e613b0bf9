"""softmax, logsoftmax and logsumexp along an axis: the batched cross-entropy gradient in
its textbook form, stability for large logits, structured Jacobians, the longhand
recognised, and the errors."""

import numpy as np
import pytest

import matdiff
from conftest import assert_matches
from matdiff import MatdiffError, ShapeError

rng = np.random.default_rng(11)
N, P, K = 6, 4, 3
X = rng.standard_normal((N, P))
W = rng.standard_normal((P, K))
Y = np.eye(K)[rng.integers(0, K, N)]
b = rng.standard_normal(K)
HOT = {"Y": "one-hot rows", "b": "vector"}


def _softmax_rows(Z):
    e = np.exp(Z - Z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize(("text", "printed"), [
    ("-sum(Y .* log(softmax(X*W, 2)))/size(X, 1)", "X'*(softmax(X*W, 2) - Y)/size(Y, 1)"),
    ("-sum(Y .* logsoftmax(X*W, 2))/size(X, 1)", "X'*(softmax(X*W, 2) - Y)/size(Y, 1)"),
    ("-mean(Y .* logsoftmax(X*W, 2))", "X'*(softmax(X*W, 2) - Y)/numel(Y)"),
    ("mean(logsumexp(X*W + b', 2) - (Y .* (X*W + b'))*vector(1))",
     "X'*(softmax(X*W + b', 2) - Y)/size(X, 1)"),
    ("mean(log(exp(X*W + vector(1)*b')*vector(1)) - (Y .* (X*W + vector(1)*b'))*vector(1))",
     "X'*(softmax(X*W + b', 2) - Y)/size(X, 1)"),
])
def test_batched_cross_entropy_prints_the_textbook_gradient(text, printed) -> None:
    d = matdiff.diff(text, wrt="W", declare=HOT)
    assert str(d) == printed
    assert d.check() < 1e-6
    values = {"X": X, "W": W, "Y": Y, "b": b}
    want = X.T @ (_softmax_rows(X @ W + (b if "b'" in text else 0)) - Y) / N
    if "numel" in printed:
        want = want / K
    assert_matches(d.evaluate(values), want)
    assert_matches(d.compile()(**values), want)


def test_large_logits_evaluate_stably() -> None:
    text = "mean(log(exp(X*W)*vector(1)) - (Y .* (X*W))*vector(1))"
    big = X * 400.0  # logits of several thousand: exp overflows, the result must not
    loss = matdiff.parse(text, declare=HOT)
    assert "logsumexp(X*W, 2)" in str(loss)
    value = loss.evaluate({"X": big, "W": W, "Y": Y})
    Z = big @ W
    m = Z.max(1)
    want = np.mean(m + np.log(np.exp(Z - m[:, None]).sum(1)) - (Y * Z).sum(1))
    assert np.isfinite(value) and np.isclose(value, want)
    d = matdiff.diff(text, wrt="W", declare=HOT)
    grad = d.evaluate({"X": big, "W": W, "Y": Y})
    assert np.all(np.isfinite(grad))
    assert_matches(grad, big.T @ (_softmax_rows(Z) - Y) / N)
    compiled = d.compile()(X=big, W=W, Y=Y)
    assert np.all(np.isfinite(compiled))


def test_the_row_softmax_jacobian_stays_structured() -> None:
    d = matdiff.diff("softmax(X, 2)", wrt="X")
    assert d.shape == ("n", "m", "n", "m")
    # block-diagonal per row: deltas in index notation, no dense tensor of zeros
    assert str(d) == ("T[i,j,k,l] = δ[i,k]*δ[j,l]*softmax(X, 2)[i,j] - "
                      "δ[i,k]*softmax(X, 2)[i,j]*softmax(X, 2)[i,l]")
    S = _softmax_rows(X)
    J = d.evaluate({"X": X})
    for i in range(N):
        assert_matches(J[i, :, i, :], np.diag(S[i]) - np.outer(S[i], S[i]))
        others = np.delete(J[i], i, axis=1)
        assert not np.any(others)
    assert d.check() < 1e-6


@pytest.mark.parametrize(("text", "wrt"), [
    ("sum(softmax(X, 1) .* X)", "X"), ("sum(logsumexp(X, 1))", "X"),
    ("logsumexp(X, 2)'*u", "X"), ("sum(logsoftmax(X*W, 2).^2)", "W"),
    ("logsoftmax(z)'*z", "z"), ("sum(softmax(Q*K'/sqrt(d), 2)*V)", "K"),
])
def test_derivatives_against_finite_differences(text, wrt) -> None:
    for order in (1, 2):
        if order == 2 and wrt == "K":
            continue  # a 4-tensor Hessian: covered by the op rows
        d = matdiff.diff(text, wrt=wrt, order=order)
        assert d.check() < 1e-5, (text, order)


@pytest.mark.parametrize(("text", "needle"), [
    ("softmax(X)", "softmax(X, 2)"), ("logsumexp(X)", "logsumexp(X, 2)"),
    ("logsoftmax(X)", "logsoftmax(X, 2)"), ("softmax(X, 3)", "axis"),
    ("softmax(x, 2)", "axis"), ("softmax(a)", "scalar"), ("logsumexp(X, 0)", "axis"),
])
def test_errors_name_the_fix(text, needle) -> None:
    declare = {n: k for n, k in {"X": "matrix", "x": "vector", "a": "scalar"}.items()
               if n in text}  # undeclared, a name's kind would come from this use
    with pytest.raises(MatdiffError) as info:
        matdiff.parse(text, declare=declare)
    assert needle in str(info.value)
    assert info.value.line == 1 and info.value.column is not None
    assert isinstance(info.value, ShapeError)


def test_a_column_wise_logsumexp_prints_as_the_row_it_is() -> None:
    # logsumexp(A, 1) is a row (as sum(A, 1) is): it printed with a transpose, which read
    # back as a column and made A - logsumexp(A, 1) square-only
    A = np.random.default_rng(5).standard_normal((3, 4))
    for text in ["A - logsumexp(A, 1)", "logsoftmax(A, 1)", "logsumexp(A, 1)"]:
        e = matdiff.parse(text)
        assert "'" not in str(e), str(e)
        assert np.allclose(matdiff.parse(str(e)).evaluate({"A": A}), e.evaluate({"A": A}))
    d = matdiff.diff("sum(exp(logsoftmax(A, 1)))", wrt="A")
    assert np.allclose(matdiff.parse(str(d)).evaluate({"A": A}), d.evaluate({"A": A}))
    assert d.check_steps().ok
