"""Logistic regression on breast-cancer data, against scikit-learn's LogisticRegression.

    python examples/logistic_breast_cancer.py      (needs scikit-learn)

scikit-learn's LogisticRegression(C=1) minimises
    1/2 |w|^2 + C sum_i log(1 + exp(-y_i (x_i·w + b))),   y_i in {-1, +1},
whose minimiser is that of the mean form matdiff trains here,
    mean(softplus(-y .* (X*w + b))) + lam*w'*w,   lam = 1 / (2 C N).
With the same objective both must find the same w and b: L-BFGS gets
within 1e-4 of scikit-learn's coefficients, and Adam within 5e-3, with the
same test accuracy. Exits 1 if a reference is missed.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import matdiff

LOSS = "mean(softplus(-y .* (X*w + b))) + lam*w'*w"


def main() -> int:
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
    except ImportError:
        print("this example needs scikit-learn: pip install 'matdiff[train]'")
        return 0
    X, t = load_breast_cancer(return_X_y=True)
    X_tr, X_te, t_tr, t_te = train_test_split(X, t, test_size=0.25, random_state=0, stratify=t)
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    X_tr, X_te = (X_tr - mean) / std, (X_te - mean) / std
    y_tr = 2.0 * t_tr - 1.0  # {0, 1} -> {-1, +1}
    n, d = X_tr.shape
    C = 1.0
    print(f"breast cancer: {n} training and {len(t_te)} test samples, {d} features\n")

    start = time.perf_counter()
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X_tr, t_tr)
    sk_time = time.perf_counter() - start
    w_ref, b_ref = ref.coef_.ravel(), float(ref.intercept_[0])
    theta_ref = np.r_[w_ref, b_ref]

    data = {"X": X_tr, "y": y_tr, "lam": 1.0 / (2 * C * n)}
    objective = lambda th: float(np.mean(np.logaddexp(0, -y_tr * (X_tr @ th[:-1] + th[-1])))  # noqa: E731
                                 + data["lam"] * th[:-1] @ th[:-1])
    print(f"{'solver':<34} {'objective':>10} {'max |coef diff|':>16} {'test acc':>9} "
          f"{'time':>7}")
    acc_ref = ref.score(X_te, t_te)
    print(f"{'scikit-learn LogisticRegression':<34} {objective(theta_ref):>10.6f} "
          f"{0.0:>16.1e} {acc_ref:>9.4f} {sk_time:>6.2f}s")
    ok = True
    for optimizer, options, tol in [("lbfgs", dict(epochs=500), 1e-4),
                                    ("adam", dict(lr=0.01, epochs=3000), 5e-3)]:
        start = time.perf_counter()
        r = matdiff.fit(LOSS, declare={"lam": "scalar"}, params={"w": "zeros", "b": 0.0},
                        data=data, optimizer=optimizer, progress=False, **options)
        seconds = time.perf_counter() - start
        theta = np.r_[r.params["w"], r.params["b"]]
        acc = float(np.mean(((X_te @ r.params["w"] + r.params["b"]) > 0) == t_te))
        diff = float(np.max(np.abs(theta - theta_ref)))
        label = f"matdiff.fit {optimizer}"
        print(f"{label:<34} {r.loss:>10.6f} {diff:>16.1e} {acc:>9.4f} {seconds:>6.2f}s")
        ok &= diff < tol and abs(acc - acc_ref) < 1e-9
    print("\nall references met" if ok else "\nA REFERENCE WAS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
