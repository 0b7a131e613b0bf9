"""Matrix Cookbook identities (Petersen & Pedersen, version of November 15, 2012).

Each row names the cookbook's equation number, the expression in matdiff's
language, and the cookbook's closed form evaluated in NumPy. matdiff's
evaluated derivative must equal the closed form, and (as a guard against a
slip in the closed form itself) central finite differences of a NumPy
implementation of the expression.

The cookbook writes a scalar-by-matrix derivative with the shape of the
matrix (entry ij is d f / d X_ij) and a 4-index result as
d F_kl / d X_ij: both are matdiff's shape(f) + shape(X) convention, so no
transposition is needed. Rows marked "2nd" are second derivatives derived
from the cited first-order identity.

Left out: (105) and (120) use the Kronecker product, which is not in the
language (⊗ there means the element-wise product); (128) uses the matrix
sine, whereas sin(X) in matdiff is element-wise; (56) differentiates with
respect to a pseudo-inverse; structured-matrix rules (section 2.8) do not
apply because derivatives are entry by entry (docs/language.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import matdiff
from conftest import as_array, assert_matches, check_derivative, spd, uniform, well_conditioned

inv, det, tr = np.linalg.inv, np.linalg.det, np.trace
mp = np.linalg.matrix_power
VECS = {"a": "vector", "b": "vector", "c": "vector", "d": "vector"}


@dataclass(frozen=True)
class Identity:
    eq: str
    text: str
    wrt: str
    make: Callable[[np.random.Generator], dict]
    closed: Callable[[dict], np.ndarray]     # the cookbook's right-hand side
    f: Callable[[dict], np.ndarray]          # the left-hand side's function, for finite differences
    order: int = 1
    declare: dict | None = None


def U(*shape):
    return lambda r: uniform(r, shape)


def values(**makers):
    return lambda r: {k: m(r) for k, m in makers.items()}


def WC(n=3):
    return lambda r: well_conditioned(r, n)


def SPD(n=3):
    return lambda r: spd(r, n)


def small(r):
    return uniform(r, (), -0.2, 0.2)


def J(i, j, shape):
    """The single-entry matrix J^ij."""
    out = np.zeros(shape)
    out[i, j] = 1.0
    return out


def _d89(X, n):
    """(89): d(X^n)_kl / dX_ij = sum_r (X^r J^ij X^(n-1-r))_kl, as T[k, l, i, j]."""
    m = X.shape[0]
    T = np.zeros((m, m, m, m))
    for i in range(m):
        for j in range(m):
            T[:, :, i, j] = sum(mp(X, r) @ J(i, j, X.shape) @ mp(X, n - 1 - r) for r in range(n))
    return T


IDENTITIES = [
    # ------------------------------------------------------------ 2.1 determinants
    Identity("(46)", "det(A + c*B)", "c", values(A=WC(), B=U(3, 3), c=small),
             lambda v: det(v["A"] + v["c"] * v["B"])
             * tr(inv(v["A"] + v["c"] * v["B"]) @ v["B"]),
             lambda v: det(v["A"] + v["c"] * v["B"])),
    Identity("(48) 2nd", "det(A + c*B)", "c", values(A=WC(), B=U(3, 3), c=small),
             lambda v: det(Y := v["A"] + v["c"] * v["B"])
             * (tr(inv(Y) @ v["B"]) ** 2 - tr(inv(Y) @ v["B"] @ inv(Y) @ v["B"])),
             lambda v: det(v["A"] + v["c"] * v["B"]), order=2),
    Identity("(49)", "det(X)", "X", values(X=WC()),
             lambda v: det(v["X"]) * inv(v["X"]).T, lambda v: det(v["X"])),
    Identity("(51)", "det(A*X*B)", "X", values(A=WC(), X=WC(), B=WC()),
             lambda v: det(v["A"] @ v["X"] @ v["B"]) * inv(v["X"]).T,
             lambda v: det(v["A"] @ v["X"] @ v["B"])),
    Identity("(52)", "det(X'*A*X)", "X", values(X=WC(), A=WC()),
             lambda v: 2 * det(v["X"].T @ v["A"] @ v["X"]) * inv(v["X"]).T,
             lambda v: det(v["X"].T @ v["A"] @ v["X"])),
    Identity("(53)", "det(X'*A*X)", "X", values(X=U(3, 2), A=SPD()),
             lambda v: 2 * det(K := v["X"].T @ v["A"] @ v["X"]) * v["A"] @ v["X"] @ inv(K),
             lambda v: det(v["X"].T @ v["A"] @ v["X"]), declare={"A": "symmetric matrix"}),
    Identity("(54)", "det(X'*A*X)", "X", values(X=U(3, 2), A=WC()),
             lambda v: det(K := v["X"].T @ v["A"] @ v["X"])
             * (v["A"] @ v["X"] @ inv(K) + v["A"].T @ v["X"] @ inv(v["X"].T @ v["A"].T @ v["X"])),
             lambda v: det(v["X"].T @ v["A"] @ v["X"])),
    Identity("(55)", "logdet(X'*X)", "X", values(X=U(3, 2)),
             lambda v: 2 * np.linalg.pinv(v["X"]).T,
             lambda v: np.log(det(v["X"].T @ v["X"]))),
    Identity("(57)", "logdet(X)", "X", values(X=WC()),
             lambda v: inv(v["X"]).T, lambda v: np.log(det(v["X"]))),
    Identity("(57)+(60) 2nd", "logdet(X)", "X", values(X=WC()),
             # d/dX_kl (X^-1)_ji = -(X^-1)_jk (X^-1)_li, as H[i, j, k, l]
             lambda v: -np.einsum("jk,li->ijkl", inv(v["X"]), inv(v["X"])),
             lambda v: np.log(det(v["X"])), order=2),
    Identity("(58)", "det(X*X*X)", "X", values(X=WC()),
             lambda v: 3 * det(mp(v["X"], 3)) * inv(v["X"]).T, lambda v: det(mp(v["X"], 3))),
    # ------------------------------------------------------------ 2.2 inverses
    Identity("(59)", "inv(A + c*B)", "c", values(A=WC(), B=U(3, 3), c=small),
             lambda v: -inv(Y := v["A"] + v["c"] * v["B"]) @ v["B"] @ inv(Y),
             lambda v: inv(v["A"] + v["c"] * v["B"])),
    Identity("(60)", "inv(X)", "X", values(X=WC()),
             lambda v: -np.einsum("ki,jl->klij", inv(v["X"]), inv(v["X"])),
             lambda v: inv(v["X"])),
    Identity("(61)", "a'*inv(X)*b", "X", values(a=U(3), X=WC(), b=U(3)),
             lambda v: -inv(v["X"]).T @ np.outer(v["a"], v["b"]) @ inv(v["X"]).T,
             lambda v: v["a"] @ inv(v["X"]) @ v["b"], declare=VECS),
    Identity("(62)", "det(inv(X))", "X", values(X=WC()),
             lambda v: -det(inv(v["X"])) * inv(v["X"]).T, lambda v: det(inv(v["X"]))),
    Identity("(63)", "tr(A*inv(X)*B)", "X", values(A=U(3, 3), X=WC(), B=U(3, 3)),
             lambda v: -(inv(v["X"]) @ v["B"] @ v["A"] @ inv(v["X"])).T,
             lambda v: tr(v["A"] @ inv(v["X"]) @ v["B"])),
    Identity("(64)", "tr(inv(X + A))", "X", values(X=WC(), A=lambda r: 0.2 * np.eye(3)),
             lambda v: -(inv(v["X"] + v["A"]) @ inv(v["X"] + v["A"])).T,
             lambda v: tr(inv(v["X"] + v["A"]))),
    # ------------------------------------------------------------ 2.4.1 first-order forms
    Identity("(69) x'a", "x'*a", "x", values(x=U(3), a=U(3)),
             lambda v: v["a"], lambda v: v["x"] @ v["a"], declare=VECS),
    Identity("(69) a'x", "a'*x", "x", values(x=U(3), a=U(3)),
             lambda v: v["a"], lambda v: v["a"] @ v["x"], declare=VECS),
    Identity("(70)", "a'*X*b", "X", values(a=U(2), X=U(2, 3), b=U(3)),
             lambda v: np.outer(v["a"], v["b"]), lambda v: v["a"] @ v["X"] @ v["b"], declare=VECS),
    Identity("(71)", "a'*X'*b", "X", values(a=U(3), X=U(2, 3), b=U(2)),
             lambda v: np.outer(v["b"], v["a"]), lambda v: v["a"] @ v["X"].T @ v["b"],
             declare=VECS),
    Identity("(72)", "a'*X*a", "X", values(a=U(3), X=U(3, 3)),
             lambda v: np.outer(v["a"], v["a"]), lambda v: v["a"] @ v["X"] @ v["a"], declare=VECS),
    Identity("(72) X'", "a'*X'*a", "X", values(a=U(3), X=U(3, 3)),
             lambda v: np.outer(v["a"], v["a"]), lambda v: v["a"] @ v["X"].T @ v["a"],
             declare=VECS),
    Identity("(73)", "X", "X", values(X=U(2, 3)),
             lambda v: np.einsum("ki,lj->klij", np.eye(2), np.eye(3)), lambda v: v["X"]),
    Identity("(74)", "X*A", "X", values(X=U(2, 3), A=U(3, 4)),
             lambda v: np.einsum("im,nj->ijmn", np.eye(2), v["A"]), lambda v: v["X"] @ v["A"]),
    Identity("(75)", "X'*A", "X", values(X=U(3, 2), A=U(3, 4)),
             lambda v: np.einsum("in,mj->ijmn", np.eye(2), v["A"]), lambda v: v["X"].T @ v["A"]),
    # ------------------------------------------------------------ 2.4.2 second-order forms
    Identity("(77)", "b'*X'*X*c", "X", values(b=U(3), X=U(2, 3), c=U(3)),
             lambda v: v["X"] @ (np.outer(v["b"], v["c"]) + np.outer(v["c"], v["b"])),
             lambda v: v["b"] @ v["X"].T @ v["X"] @ v["c"], declare=VECS),
    Identity("(78)", "(B*x + b)'*C*(D*x + d)", "x",
             values(B=U(2, 3), x=U(3), b=U(2), C=U(2, 4), D=U(4, 3), d=U(4)),
             lambda v: v["B"].T @ v["C"] @ (v["D"] @ v["x"] + v["d"])
             + v["D"].T @ v["C"].T @ (v["B"] @ v["x"] + v["b"]),
             lambda v: (v["B"] @ v["x"] + v["b"]) @ v["C"] @ (v["D"] @ v["x"] + v["d"]),
             declare=VECS),
    Identity("(79)", "X'*B*X", "X", values(X=U(3, 2), B=U(3, 3)),
             # d(X'BX)_kl / dX_ij = delta_lj (X'B)_ki + delta_kj (BX)_il, as T[k, l, i, j]
             lambda v: np.einsum("lj,ki->klij", np.eye(2), v["X"].T @ v["B"])
             + np.einsum("kj,il->klij", np.eye(2), v["B"] @ v["X"]),
             lambda v: v["X"].T @ v["B"] @ v["X"]),
    Identity("(81)", "x'*B*x", "x", values(x=U(3), B=U(3, 3)),
             lambda v: (v["B"] + v["B"].T) @ v["x"], lambda v: v["x"] @ v["B"] @ v["x"]),
    Identity("(81) 2nd", "x'*B*x", "x", values(x=U(3), B=U(3, 3)),
             lambda v: v["B"] + v["B"].T, lambda v: v["x"] @ v["B"] @ v["x"], order=2),
    Identity("(82)", "b'*X'*D*X*c", "X", values(b=U(3), X=U(2, 3), D=U(2, 2), c=U(3)),
             lambda v: v["D"].T @ v["X"] @ np.outer(v["b"], v["c"])
             + v["D"] @ v["X"] @ np.outer(v["c"], v["b"]),
             lambda v: v["b"] @ v["X"].T @ v["D"] @ v["X"] @ v["c"], declare=VECS),
    Identity("(83)", "(X*b + c)'*D*(X*b + c)", "X", values(X=U(2, 3), b=U(3), c=U(2), D=U(2, 2)),
             lambda v: (v["D"] + v["D"].T) @ np.outer(v["X"] @ v["b"] + v["c"], v["b"]),
             lambda v: (v["X"] @ v["b"] + v["c"]) @ v["D"] @ (v["X"] @ v["b"] + v["c"]),
             declare=VECS),
    Identity("(84)", "(x - A*s)'*W*(x - A*s)", "s", values(x=U(3), A=U(3, 2), s=U(2), W=SPD()),
             lambda v: -2 * v["A"].T @ v["W"] @ (v["x"] - v["A"] @ v["s"]),
             lambda v: (v["x"] - v["A"] @ v["s"]) @ v["W"] @ (v["x"] - v["A"] @ v["s"]),
             declare={"W": "symmetric matrix"}),
    Identity("(85)", "(x - s)'*W*(x - s)", "x", values(x=U(3), s=U(3), W=SPD()),
             lambda v: 2 * v["W"] @ (v["x"] - v["s"]),
             lambda v: (v["x"] - v["s"]) @ v["W"] @ (v["x"] - v["s"]),
             declare={"W": "symmetric matrix"}),
    Identity("(85) 2nd", "(x - s)'*W*(x - s)", "x", values(x=U(3), s=U(3), W=SPD()),
             lambda v: 2 * v["W"], lambda v: (v["x"] - v["s"]) @ v["W"] @ (v["x"] - v["s"]),
             order=2, declare={"W": "symmetric matrix"}),
    Identity("(86)", "(x - s)'*W*(x - s)", "s", values(x=U(3), s=U(3), W=SPD()),
             lambda v: -2 * v["W"] @ (v["x"] - v["s"]),
             lambda v: (v["x"] - v["s"]) @ v["W"] @ (v["x"] - v["s"]),
             declare={"W": "symmetric matrix"}),
    Identity("(87)", "(x - A*s)'*W*(x - A*s)", "x", values(x=U(3), A=U(3, 2), s=U(2), W=SPD()),
             lambda v: 2 * v["W"] @ (v["x"] - v["A"] @ v["s"]),
             lambda v: (v["x"] - v["A"] @ v["s"]) @ v["W"] @ (v["x"] - v["A"] @ v["s"]),
             declare={"W": "symmetric matrix"}),
    Identity("(88)", "(x - A*s)'*W*(x - A*s)", "A", values(x=U(3), A=U(3, 2), s=U(2), W=SPD()),
             lambda v: -2 * v["W"] @ np.outer(v["x"] - v["A"] @ v["s"], v["s"]),
             lambda v: (v["x"] - v["A"] @ v["s"]) @ v["W"] @ (v["x"] - v["A"] @ v["s"]),
             declare={"W": "symmetric matrix"}),
    # ------------------------------------------------------------ 2.4.3 higher order
    Identity("(89)", "X*X*X", "X", values(X=U(3, 3)),
             lambda v: _d89(v["X"], 3), lambda v: mp(v["X"], 3)),
    Identity("(90)", "a'*X*X*X*b", "X", values(a=U(3), X=U(3, 3), b=U(3)),
             lambda v: sum(mp(v["X"], r).T @ np.outer(v["a"], v["b"]) @ mp(v["X"], 2 - r).T
                           for r in range(3)),
             lambda v: v["a"] @ mp(v["X"], 3) @ v["b"], declare=VECS),
    # ------------------------------------------------------------ 2.5 traces
    Identity("(99)", "tr(X)", "X", values(X=U(3, 3)), lambda v: np.eye(3), lambda v: tr(v["X"])),
    Identity("(100)", "tr(X*A)", "X", values(X=U(2, 3), A=U(3, 2)),
             lambda v: v["A"].T, lambda v: tr(v["X"] @ v["A"])),
    Identity("(101)", "tr(A*X*B)", "X", values(A=U(2, 3), X=U(3, 4), B=U(4, 2)),
             lambda v: v["A"].T @ v["B"].T, lambda v: tr(v["A"] @ v["X"] @ v["B"])),
    Identity("(102)", "tr(A*X'*B)", "X", values(A=U(2, 4), X=U(3, 4), B=U(3, 2)),
             lambda v: v["B"] @ v["A"], lambda v: tr(v["A"] @ v["X"].T @ v["B"])),
    Identity("(103)", "tr(X'*A)", "X", values(X=U(3, 2), A=U(3, 2)),
             lambda v: v["A"], lambda v: tr(v["X"].T @ v["A"])),
    Identity("(104)", "tr(A*X')", "X", values(X=U(3, 2), A=U(3, 2)),
             lambda v: v["A"], lambda v: tr(v["A"] @ v["X"].T)),
    Identity("(106)", "tr(X*X)", "X", values(X=U(3, 3)),
             lambda v: 2 * v["X"].T, lambda v: tr(v["X"] @ v["X"])),
    Identity("(107)", "tr(X*X*B)", "X", values(X=U(3, 3), B=U(3, 3)),
             lambda v: (v["X"] @ v["B"] + v["B"] @ v["X"]).T,
             lambda v: tr(v["X"] @ v["X"] @ v["B"])),
    Identity("(108)", "tr(X'*B*X)", "X", values(X=U(3, 2), B=U(3, 3)),
             lambda v: v["B"] @ v["X"] + v["B"].T @ v["X"],
             lambda v: tr(v["X"].T @ v["B"] @ v["X"])),
    Identity("(108) 2nd", "tr(X'*B*X)", "X", values(X=U(3, 2), B=U(3, 3)),
             # d/dX_kl (BX + B'X)_ij = (B + B')_ik delta_jl, as H[i, j, k, l]
             lambda v: np.einsum("ik,jl->ijkl", v["B"] + v["B"].T, np.eye(2)),
             lambda v: tr(v["X"].T @ v["B"] @ v["X"]), order=2),
    Identity("(109)", "tr(B*X*X')", "X", values(X=U(3, 2), B=U(3, 3)),
             lambda v: v["B"] @ v["X"] + v["B"].T @ v["X"],
             lambda v: tr(v["B"] @ v["X"] @ v["X"].T)),
    Identity("(110)", "tr(X*X'*B)", "X", values(X=U(3, 2), B=U(3, 3)),
             lambda v: v["B"] @ v["X"] + v["B"].T @ v["X"],
             lambda v: tr(v["X"] @ v["X"].T @ v["B"])),
    Identity("(111)", "tr(X*B*X')", "X", values(X=U(2, 3), B=U(3, 3)),
             lambda v: v["X"] @ v["B"].T + v["X"] @ v["B"],
             lambda v: tr(v["X"] @ v["B"] @ v["X"].T)),
    Identity("(112)", "tr(B*X'*X)", "X", values(X=U(2, 3), B=U(3, 3)),
             lambda v: v["X"] @ v["B"].T + v["X"] @ v["B"],
             lambda v: tr(v["B"] @ v["X"].T @ v["X"])),
    Identity("(113)", "tr(X'*X*B)", "X", values(X=U(2, 3), B=U(3, 3)),
             lambda v: v["X"] @ v["B"].T + v["X"] @ v["B"],
             lambda v: tr(v["X"].T @ v["X"] @ v["B"])),
    Identity("(114)", "tr(A*X*B*X)", "X", values(A=U(3, 3), X=U(3, 3), B=U(3, 3)),
             lambda v: v["A"].T @ v["X"].T @ v["B"].T + v["B"].T @ v["X"].T @ v["A"].T,
             lambda v: tr(v["A"] @ v["X"] @ v["B"] @ v["X"])),
    Identity("(115)", "tr(X'*X)", "X", values(X=U(2, 3)),
             lambda v: 2 * v["X"], lambda v: tr(v["X"].T @ v["X"])),
    Identity("(115) XX'", "tr(X*X')", "X", values(X=U(2, 3)),
             lambda v: 2 * v["X"], lambda v: tr(v["X"] @ v["X"].T)),
    Identity("(116)", "tr(B'*X'*C*X*B)", "X", values(B=U(3, 2), X=U(4, 3), C=U(4, 4)),
             lambda v: (v["C"].T + v["C"]) @ v["X"] @ v["B"] @ v["B"].T,
             lambda v: tr(v["B"].T @ v["X"].T @ v["C"] @ v["X"] @ v["B"])),
    Identity("(117)", "tr(X'*B*X*C)", "X", values(X=U(3, 2), B=U(3, 3), C=U(2, 2)),
             lambda v: v["B"] @ v["X"] @ v["C"] + v["B"].T @ v["X"] @ v["C"].T,
             lambda v: tr(v["X"].T @ v["B"] @ v["X"] @ v["C"])),
    Identity("(118)", "tr(A*X*B*X'*C)", "X",
             values(A=U(2, 3), X=U(3, 4), B=U(4, 4), C=U(3, 2)),
             lambda v: v["A"].T @ v["C"].T @ v["X"] @ v["B"].T + v["C"] @ v["A"] @ v["X"] @ v["B"],
             lambda v: tr(v["A"] @ v["X"] @ v["B"] @ v["X"].T @ v["C"])),
    Identity("(119)", "tr((A*X*B + C)*(A*X*B + C)')", "X",
             values(A=U(2, 3), X=U(3, 4), B=U(4, 2), C=U(2, 2)),
             lambda v: 2 * v["A"].T @ (v["A"] @ v["X"] @ v["B"] + v["C"]) @ v["B"].T,
             lambda v: tr((K := v["A"] @ v["X"] @ v["B"] + v["C"]) @ K.T)),
    Identity("(121)", "tr(X*X*X)", "X", values(X=U(3, 3)),
             lambda v: 3 * mp(v["X"], 2).T, lambda v: tr(mp(v["X"], 3))),
    Identity("(122)", "tr(A*X*X*X)", "X", values(A=U(3, 3), X=U(3, 3)),
             lambda v: sum((mp(v["X"], r) @ v["A"] @ mp(v["X"], 2 - r)).T for r in range(3)),
             lambda v: tr(v["A"] @ mp(v["X"], 3))),
    Identity("(124)", "tr(A*inv(X)*B)", "X", values(A=U(3, 3), X=WC(), B=U(3, 3)),
             lambda v: -inv(v["X"]).T @ v["A"].T @ v["B"].T @ inv(v["X"]).T,
             lambda v: tr(v["A"] @ inv(v["X"]) @ v["B"])),
    # ------------------------------------------------------------ 2.6 / 2.7 norms
    Identity("(129)", "norm2(x - a)", "x", values(x=U(3), a=lambda r: uniform(r, 3) + 3),
             lambda v: (v["x"] - v["a"]) / np.linalg.norm(v["x"] - v["a"]),
             lambda v: np.linalg.norm(v["x"] - v["a"]), declare=VECS),
    Identity("(130)", "(x - a) / norm2(x - a)", "x", values(x=U(3), a=lambda r: uniform(r, 3) + 3),
             lambda v: np.eye(3) / np.linalg.norm(e := v["x"] - v["a"])
             - np.outer(e, e) / np.linalg.norm(e) ** 3,
             lambda v: (v["x"] - v["a"]) / np.linalg.norm(v["x"] - v["a"]), declare=VECS),
    Identity("(129)+(130) 2nd", "norm2(x - a)", "x", values(x=U(3), a=lambda r: uniform(r, 3) + 3),
             lambda v: np.eye(3) / np.linalg.norm(e := v["x"] - v["a"])
             - np.outer(e, e) / np.linalg.norm(e) ** 3,
             lambda v: np.linalg.norm(v["x"] - v["a"]), order=2, declare=VECS),
    Identity("(131)", "norm2(x)^2", "x", values(x=U(3)),
             lambda v: 2 * v["x"], lambda v: np.linalg.norm(v["x"]) ** 2),
    Identity("(131) x'x", "x'*x", "x", values(x=U(3)),
             lambda v: 2 * v["x"], lambda v: v["x"] @ v["x"]),
    Identity("(131) 2nd", "norm2(x)^2", "x", values(x=U(3)),
             lambda v: 2 * np.eye(3), lambda v: np.linalg.norm(v["x"]) ** 2, order=2),
    Identity("(132)", "norm2(X)^2", "X", values(X=U(2, 3)),
             lambda v: 2 * v["X"], lambda v: np.linalg.norm(v["X"], "fro") ** 2),
]


@pytest.mark.parametrize("ident", IDENTITIES, ids=[f"{i.eq} {i.text}" for i in IDENTITIES])
def test_cookbook_identity(ident: Identity) -> None:
    vals = ident.make(np.random.default_rng(sum(map(ord, ident.eq + ident.text))))
    d = matdiff.diff(ident.text, wrt=ident.wrt, declare=ident.declare, order=ident.order)
    got = as_array(d.evaluate(dict(vals)))
    assert_matches(got, as_array(ident.closed(vals)), what=f"{ident.eq}: closed form")
    check_derivative(ident.text, ident.wrt, vals, ident.f, order=ident.order, declare=ident.declare)
