"""A small convolutional network on scikit-learn's digits: conv - relu - pool - affine - softmax.

    python examples/cnn_digits.py [--epochs 10] [--channels 4]

The network is written for one 8 x 8 image as a program, one line per layer,
with a channel per kernel (`Z1 = conv2(X, K1) + b1`, ...). matdiff prints its
backward pass (the kernel gradient `dK1 = conv2(X, dZ1)`, the pooled
gradient routed to each block's maximum), compiles it, and `fit` trains it on
the stack of training images: data with one axis more than declared (X is
n x 8 x 8 for a matrix(8, 8)) is a stack of examples, and the loss trained is
the mean of the per-image loss over each minibatch. Prints the test accuracy
and the training time; exits 1 below --target.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import matdiff


def network(channels: int) -> tuple[str, dict[str, str], dict[str, object]]:
    """The program for one image, its declarations and the parameters' initialisers."""
    lines, declare, params = [], {"X": "matrix(8, 8)", "y": "one-hot vector(10)",
                                  "c": "vector(10)"}, {"c": "zeros"}
    for k in range(1, channels + 1):
        lines += [f"Z{k} = conv2(X, K{k}) + b{k}",          # 6 x 6
                  f"P{k} = maxpool(relu(Z{k}), 2)"]         # 3 x 3
        declare |= {f"K{k}": "matrix(3, 3)", f"b{k}": "scalar", f"W{k}": "matrix(10, 9)"}
        params |= {f"K{k}": "he", f"b{k}": 0.0, f"W{k}": "glorot"}
    affine = " + ".join(f"W{k}*vec(P{k})" for k in range(1, channels + 1))
    lines += [f"s = {affine} + c", "loss = -y'*logsoftmax(s)"]
    return "\n".join(lines), declare, params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--train", type=int, default=0, help="first N training images (0: all)")
    parser.add_argument("--target", type=float, default=0.85, help="test accuracy to reach")
    args = parser.parse_args(argv)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print("this example needs scikit-learn: pip install 'matdiff[train]'")
        return 0
    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target
    X_tr, X_te, t_tr, t_te = train_test_split(images, labels, test_size=0.25, random_state=0,
                                              stratify=labels)
    if args.train:
        X_tr, t_tr = X_tr[:args.train], t_tr[:args.train]
    program, declare, params = network(args.channels)
    print("The network, for one image:\n\n    " + program.replace("\n", "\n    ") + "\n")
    grads = matdiff.grad(program, wrt=["W1", "c", "K1", "b1"], declare=declare)
    print("Its backward pass (first channel):\n\n    " + str(grads).replace("\n", "\n    "))

    start = time.perf_counter()
    result = matdiff.fit(program, params=params, data={"X": X_tr, "y": np.eye(10)[t_tr]},
                         declare=declare, optimizer="adam", lr=0.02, epochs=args.epochs,
                         batch_size=32, seed=0, progress=False)
    seconds = time.perf_counter() - start

    logits = matdiff.parse(program, declare, of="s")  # the network up to its scores
    scores = np.array([logits.evaluate({**result.params, "X": x}) for x in X_te])
    accuracy = float(np.mean(np.argmax(scores, axis=1) == t_te))
    print(f"\n{len(X_tr)} training images, {args.epochs} epochs: {seconds:.1f} s; "
          f"loss {result.history[0]:.3f} -> {result.history[-1]:.3f}; "
          f"test accuracy {accuracy:.1%} on {len(X_te)} images")
    return 0 if accuracy >= args.target else 1


if __name__ == "__main__":
    raise SystemExit(main())
