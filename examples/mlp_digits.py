"""A two-layer MLP on scikit-learn's digits, written as a program, one line per layer.

    python examples/mlp_digits.py [--epochs 30] [--plot mlp_digits.png]

The network is the program below: matdiff derives every parameter's
gradient as a backward pass (printed first), compiles the forward pass and
all gradients into one NumPy function, and trains with Adam on minibatches,
each parameter with its own initialiser. The loss and the test accuracy per
epoch are plotted. Exits 1 if the test accuracy stays below 95%.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

import matdiff

PROGRAM = """\
b1, b2: vector
Y: one-hot rows                  # each row of Y is one label
Z1 = X*W1 + b1'                  # the first layer on a batch: one row per image
H1 = relu(Z1)
Z2 = H1*W2 + b2'                 # the logits
L = -sum(Y .* logsoftmax(Z2, 2))/size(X, 1)
"""
INITIAL = {"W1": "he", "b1": "zeros", "W2": "glorot", "b2": "zeros"}
HIDDEN, BATCH, LR, SEED = 64, 32, 0.003, 0


def predict(p: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    h = np.maximum(0, X @ p["W1"] + p["b1"])
    return np.argmax(h @ p["W2"] + p["b2"], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--plot", default="mlp_digits.png", help="'' for no plot")
    parser.add_argument("--target", type=float, default=0.95, help="test accuracy to reach")
    args = parser.parse_args(argv)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print("this example needs scikit-learn: pip install 'matdiff[train]'")
        return 0
    warnings.simplefilter("ignore", matdiff.MatdiffWarning)  # X, W1, W2 by first letter
    X, t = load_digits(return_X_y=True)
    X = X / 16.0
    X_tr, X_te, t_tr, t_te = train_test_split(X, t, test_size=0.25, random_state=0, stratify=t)
    Y_tr = np.eye(10)[t_tr]

    grads = matdiff.grad(PROGRAM, wrt=list(INITIAL))
    print("The backward pass matdiff derived:\n")
    print("    " + str(grads).replace("\n", "\n    ") + "\n")

    params = {"W1": f"he:{X.shape[1]}x{HIDDEN}", "b1": f"zeros:{HIDDEN}",
              "W2": f"glorot:{HIDDEN}x10", "b2": "zeros:10"}
    accuracy: list[float] = []

    def track(epoch: int, loss: float, p: dict) -> None:
        accuracy.append(float(np.mean(predict(p, X_te) == t_te)))

    r = matdiff.fit(PROGRAM, params=params, data={"X": X_tr, "Y": Y_tr}, optimizer="adam",
                    lr=LR, epochs=args.epochs, batch_size=BATCH, seed=SEED, callback=track,
                    progress=False)
    acc = float(np.mean(predict(r.params, X_te) == t_te))
    print(f"{len(X_tr)} training and {len(X_te)} test images, network 64-{HIDDEN}-10, Adam "
          f"lr {LR}, batches of {BATCH}, {r.epochs} epochs ({r.backend} gradients)")
    print(f"final training loss {r.loss:.4f}, test accuracy {acc:.4f}")
    if args.plot:
        _plot(r.history, accuracy, args.plot)
        print(f"loss and accuracy plotted to {args.plot}")
    return 0 if acc >= args.target else 1


def _plot(history, accuracy: list[float], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'matdiff[train]')")
        return
    losses = [h["loss"] if isinstance(h, dict) else float(h) for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(range(1, len(losses) + 1), losses)
    a.set(xlabel="epoch", ylabel="training loss", yscale="log", title="cross-entropy")
    b.plot(range(1, len(accuracy) + 1), accuracy, color="C1")
    b.set(xlabel="epoch", ylabel="test accuracy", title="digits, held-out quarter")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
