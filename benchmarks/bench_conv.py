"""A convolution layer's compiled gradients against hand-written im2col and PyTorch (issue 24).

    PYTHONPATH=src python benchmarks/bench_conv.py            # measure, print
    PYTHONPATH=src python benchmarks/bench_conv.py --quick    # fewer rounds

The layer, one image and one kernel, with an upstream gradient G:

    loss = sum(G .* maxpool(relu(conv2(X, K, p) + b), 2))

and the gradients wrt K, b and X, side by side in one run (harness.measure:
every candidate in each round, in a random order; each ratio the median over
rounds of the two times taken in the same round), one thread:

* `matdiff.value_and_grad(..., backend="numpy")`, the generated NumPy module
  (its convolutions are im2col: a strided window view and one tensordot);
* the same layer written by hand in NumPy with im2col (sliding_window_view +
  tensordot forward, the same for dK = conv2(X, dZ) and for the full
  correlation dX = conv2(pad(dZ), rot180(K))), max pooling as the maximum of
  its four strided slices and its mask by comparison with the upsampled
  maximum (no tie splitting: one pass fewer than matdiff's); target: matdiff
  within 1.5x;
* PyTorch eager autograd: F.conv2d, relu, F.max_pool2d, backward(); target:
  matdiff faster.

Every result is first checked against the hand-written one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from threads import configure_threads, limit_loaded  # noqa: E402

configure_threads(1)

import numpy as np  # noqa: E402
from harness import machine, measure, paired_ratio  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

import matdiff  # noqa: E402

LAYER = "sum(G .* maxpool(relu(conv2(X, K, {p}) + b), 2))"
# (image n, kernel k, padding p); the first case again last: under load, the spread
CASES = [(64, 5, 2), (128, 5, 2), (256, 3, 1), (256, 7, 3), (64, 5, 2)]


def _conv(x: np.ndarray, k: np.ndarray, pad: int) -> np.ndarray:
    """im2col by hand: the windows as a strided view, one tensordot."""
    if pad:
        x = np.pad(x, pad)
    return np.tensordot(sliding_window_view(x, k.shape), k, axes=([2, 3], [0, 1]))


def by_hand(X: np.ndarray, K: np.ndarray, b: float, G: np.ndarray, pad: int):
    """The layer's loss and gradients (K, b, X), written by hand with im2col."""
    k = K.shape[0]
    Z = _conv(X, K, pad) + b
    H = np.maximum(Z, 0.0)
    P = np.maximum(np.maximum(H[0::2, 0::2], H[0::2, 1::2]),  # max pooling: the maximum
                   np.maximum(H[1::2, 0::2], H[1::2, 1::2]))   # of the 4 strided slices
    up = np.repeat(np.repeat(P, 2, axis=0), 2, axis=1)
    dZ = np.repeat(np.repeat(G, 2, axis=0), 2, axis=1) * (H == up) * (Z > 0)
    dK = _conv(X, dZ, pad)                      # X correlated with the upstream gradient
    dX = _conv(dZ, K[::-1, ::-1], k - 1 - pad)  # the full correlation, flipped kernel
    return float(np.sum(G * P)), dK, float(dZ.sum()), dX


def torch_autograd(torch, X, K, b, G, pad: int):
    F = torch.nn.functional
    X = X.detach().requires_grad_(True)
    K = K.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    Z = F.conv2d(X[None, None], K[None, None], padding=pad) + b
    P = F.max_pool2d(torch.relu(Z), 2)[0, 0]
    loss = (G * P).sum()
    loss.backward()
    return loss, K.grad, b.grad, X.grad


def one_case(torch, n: int, k: int, pad: int, quick: bool) -> dict:
    """Check, then time, the three candidates on one image size, kernel size and padding."""
    text = LAYER.format(p=pad)
    out = n + 2 * pad - k + 1
    declare = {"X": f"matrix({n}, {n})", "K": f"matrix({k}, {k})", "b": "scalar",
               "G": f"matrix({out // 2}, {out // 2})"}
    r = np.random.default_rng(0)
    X, K, G = r.normal(size=(n, n)), r.normal(size=(k, k)), r.normal(size=(out // 2,) * 2)
    b = 0.1
    fn = matdiff.value_and_grad(text, wrt=["K", "b", "X"], declare=declare)
    value, (dK, db, dX) = fn(X=X, K=K, b=b, G=G)
    want = by_hand(X, K, b, G, pad)
    for got, ref in zip((value, dK, db, dX), want):
        assert np.allclose(got, ref, rtol=1e-9, atol=1e-9), "matdiff disagrees with by-hand"
    tX, tK, tb, tG = (torch.tensor(a) for a in (X, K, np.float64(b), G))
    t = torch_autograd(torch, tX, tK, tb, tG, pad)
    for got, ref in zip(t, want):
        assert np.allclose(got.detach().numpy(), ref, rtol=1e-9, atol=1e-9), "torch disagrees"
    times = measure({
        "matdiff": lambda: fn(X=X, K=K, b=b, G=G),
        "numpy by hand": lambda: by_hand(X, K, b, G, pad),
        "torch autograd": lambda: torch_autograd(torch, tX, tK, tb, tG, pad),
    }, budget=1.0 if quick else 4.0, last=frozenset({"torch autograd"}))
    return {
        "case": f"{n} x {n} image, {k} x {k} kernel, padding {pad}",
        "matdiff ms": 1e3 * times["matdiff"]["median"],
        "by hand ms": 1e3 * times["numpy by hand"]["median"],
        "torch ms": 1e3 * times["torch autograd"]["median"],
        "matdiff / by hand": paired_ratio(times["matdiff"], times["numpy by hand"]),
        "matdiff / torch": paired_ratio(times["matdiff"], times["torch autograd"]),
    }


def run(quick: bool) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    limit_loaded(1)
    return [one_case(torch, n, k, pad, quick) for n, k, pad in CASES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    info = machine(1)
    print(f"# {info['cpu']}, {info['cores']} cores, one thread; {info.get('load', '')}")
    print(f"# pid {os.getpid()}")
    rows = run(args.quick)
    print("| case | matdiff | NumPy im2col by hand | PyTorch autograd | matdiff / by hand "
          "(target <= 1.5) | matdiff / PyTorch (target < 1) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['case']} | {row['matdiff ms']:.3f} ms | {row['by hand ms']:.3f} ms | "
              f"{row['torch ms']:.3f} ms | {row['matdiff / by hand']:.2f} | "
              f"{row['matdiff / torch']:.2f} |")
    try:
        one, five, fifteen = os.getloadavg()
        print(f"# load average at the end: {one:.1f}, {five:.1f}, {fifteen:.1f}")
    except OSError:
        pass


if __name__ == "__main__":
    main()
