"""A two-layer ReLU network on scikit-learn's digits, against PyTorch where installed.

    python examples/two_layer_digits.py            (needs scikit-learn; PyTorch optional)

The whole network and its softmax cross-entropy are one expression:

    Z = relu(X*W1 + vector(1)*b1')*W2 + vector(1)*b2'        (N x 10 logits)
    loss = mean(log(exp(Z)*vector(1)) - (Y .* Z)*vector(1))  (Y one-hot)

`vector(1)*b1'` is the outer product of a ones vector with the bias: the
bias added to every row. `exp(Z)*vector(1)` sums each row, so the first
term is each sample's log-sum-exp.

PyTorch trains the same model from the same initial weights with the same
Adam settings on the same minibatches in the same order (matdiff's
per-epoch shuffle is reproduced), in float64, so the two runs must agree
to rounding: the example checks the final parameters agree to 1e-6 and
reports both test accuracies and the time per epoch. Exits 1 if not.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import matdiff

Z = "relu(X*W1 + vector(1)*b1')*W2 + vector(1)*b2'"
LOSS = f"mean(log(exp({Z})*vector(1)) - (Y .* ({Z}))*vector(1))"
DECLARE = {"b1": "vector", "b2": "vector"}
HIDDEN, EPOCHS, BATCH, LR, SEED = 32, 20, 64, 0.01, 0


def initial(d: int, k: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(0, np.sqrt(2 / d), size=(d, HIDDEN)), "b1": np.zeros(HIDDEN),
            "W2": rng.normal(0, np.sqrt(1 / HIDDEN), size=(HIDDEN, k)), "b2": np.zeros(k)}


def predict(p: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    h = np.maximum(0, X @ p["W1"] + p["b1"])
    return np.argmax(h @ p["W2"] + p["b2"], axis=1)


def train_torch(params0, X, Y, dtype_name="float64"):
    import torch

    dtype = getattr(torch, dtype_name)
    # one thread: on a small, shared machine PyTorch's thread pool spins against other
    # processes and runs many times slower; NumPy's small products run on one core too
    torch.set_num_threads(1)
    p = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params0.items()}
    Xt, Yt = torch.tensor(X, dtype=dtype), torch.tensor(Y, dtype=dtype)
    opt = torch.optim.Adam(list(p.values()), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    rng = np.random.default_rng(SEED)  # the same shuffles as matdiff's loop
    n = len(X)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        perm = torch.from_numpy(rng.permutation(n))
        Xs, Ys = Xt[perm], Yt[perm]
        for s in range(0, n, BATCH):
            xb, yb = Xs[s:s + BATCH], Ys[s:s + BATCH]
            z = torch.relu(xb @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
            loss = (torch.logsumexp(z, dim=1) - (yb * z).sum(dim=1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    return {k: v.detach().double().numpy() for k, v in p.items()}, seconds / EPOCHS


def main() -> int:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print("this example needs scikit-learn: pip install 'matdiff[train]'")
        return 0
    X, t = load_digits(return_X_y=True)
    X = X / 16.0
    X_tr, X_te, t_tr, t_te = train_test_split(X, t, test_size=0.25, random_state=0, stratify=t)
    Y_tr = np.eye(10)[t_tr]
    n, d = X_tr.shape
    params0 = initial(d, 10, SEED)
    print(f"digits: {n} training and {len(t_te)} test images of {d} pixels; network "
          f"{d}-{HIDDEN}-10, Adam lr {LR}, batches of {BATCH}, {EPOCHS} epochs\n")

    r = matdiff.fit(LOSS, declare=DECLARE, params=params0, data={"X": X_tr, "Y": Y_tr},
                    optimizer="adam", lr=LR, epochs=EPOCHS, batch_size=BATCH, seed=SEED,
                    progress=False)
    acc = float(np.mean(predict(r.params, X_te) == t_te))
    per_epoch = r.seconds / r.epochs
    print(f"{'trainer':<28} {'train loss':>10} {'test acc':>9} {'ms/epoch':>9}")
    print(f"{'matdiff.fit (' + r.backend + ')':<28} {r.loss:>10.5f} {acc:>9.4f} "
          f"{1000 * per_epoch:>9.2f}")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("\nPyTorch is not installed: no reference run (pip install torch)")
        return 0
    p64, t64 = train_torch(params0, X_tr, Y_tr, "float64")
    _, t32 = train_torch(params0, X_tr, Y_tr, "float32")
    acc64 = float(np.mean(predict(p64, X_te) == t_te))
    h = np.maximum(0, X_tr @ p64["W1"] + p64["b1"]) @ p64["W2"] + p64["b2"]
    loss64 = float(np.mean(np.log(np.exp(h).sum(1)) - (Y_tr * h).sum(1)))
    print(f"{'PyTorch eager, float64':<28} {loss64:>10.5f} {acc64:>9.4f} {1000 * t64:>9.2f}")
    print(f"{'PyTorch eager, float32':<28} {'':>10} {'':>9} {1000 * t32:>9.2f}")
    diff = max(float(np.max(np.abs(r.params[k] - p64[k]))) for k in p64)
    print(f"\nmax |parameter difference| matdiff vs PyTorch float64: {diff:.1e}")
    print(f"epoch time ratio matdiff / PyTorch float64: {per_epoch / t64:.2f}")
    ok = diff < 1e-6 and acc == acc64
    print("reference met" if ok else "REFERENCE MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
