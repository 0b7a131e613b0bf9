"""Minibatch benchmark: value and gradients of the softmax cross-entropy of a two-layer MLP.

    PYTHONPATH=src python benchmarks/bench_batch.py            # N = 10,000, printed
    PYTHONPATH=src python benchmarks/bench_batch.py --write    # and written into README.md
    PYTHONPATH=src python benchmarks/bench_batch.py --quick    # a shorter sampling budget

N examples of 784 inputs, 256 hidden ReLU units, 10 classes, float64, wrt every
weight and bias, the loss given as one expression (issue 9). Side by side in one
run: matdiff's compiled value_and_grad, a hand-written NumPy backward pass,
jax.jit and PyTorch eager (each if installed). One thread for every library (on
a shared machine a second BLAS thread waits for a core). Every framework's
gradients are checked against NumPy's first; then all are sampled in
interleaved rounds (harness.py), and each ratio is the median over rounds of
the two times taken in the same round, so load from other processes cancels.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from threads import configure_threads, limit_loaded  # noqa: E402

configure_threads(1)  # one thread for every library, before any of them loads

import numpy as np  # noqa: E402
from harness import machine, measure, paired_ratio  # noqa: E402

import matdiff  # noqa: E402

README = Path(__file__).resolve().parent / "README.md"

LOSS = "-sum(Y .* logsoftmax(relu(X*W1 + b1')*W2 + b2', 2))/size(X, 1)"
DECLARE = {"X": "matrix(n, p)", "W1": "matrix(p, h)", "b1": "vector(h)",
           "W2": "matrix(h, k)", "b2": "vector(k)", "Y": "one-hot rows(n, k)"}
WRT = ["W1", "b1", "W2", "b2"]


def problem(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"X": rng.standard_normal((n, 784)), "W1": rng.standard_normal((784, 256)) * 0.05,
            "b1": rng.standard_normal(256) * 0.1, "W2": rng.standard_normal((256, 10)) * 0.1,
            "b2": rng.standard_normal(10) * 0.1,
            "Y": np.eye(10)[rng.integers(0, 10, n)]}


def numpy_backward(X, W1, b1, W2, b2, Y):
    """The hand-written forward and backward pass."""
    n = X.shape[0]
    Z1 = X @ W1 + b1
    H = np.maximum(Z1, 0.0)
    Z2 = H @ W2 + b2
    m = Z2.max(axis=1, keepdims=True)
    E = np.exp(Z2 - m)
    s = E.sum(axis=1, keepdims=True)
    loss = np.sum(np.log(s) + m - np.sum(Y * Z2, axis=1, keepdims=True)) / n
    D2 = (E / s - Y) / n
    dW2 = H.T @ D2
    db2 = D2.sum(axis=0)
    D1 = (D2 @ W2.T) * (Z1 > 0)
    dW1 = X.T @ D1
    db1 = D1.sum(axis=0)
    return loss, (dW1, db1, dW2, db2)


def matdiff_backward():
    vg = matdiff.value_and_grad(LOSS, wrt=WRT, declare=DECLARE)
    return lambda X, W1, b1, W2, b2, Y: vg(X=X, W1=W1, b1=b1, W2=W2, b2=b2, Y=Y)


def matdiff_library(library: str):
    """matdiff's value_and_grad compiled for `library`, on that library's arrays (one thread)."""
    def make():
        if library == "torch":
            import torch

            torch.set_num_threads(1)
            to = torch.from_numpy
        else:
            import jax
            import jax.numpy as jnp

            jax.config.update("jax_enable_x64", True)
            to = jnp.asarray
        vg = matdiff.value_and_grad(LOSS, wrt=WRT, declare=DECLARE, backend=library)
        cache: dict[int, object] = {}

        def run(**v):
            args = {k: cache.setdefault(id(a), to(a)) for k, a in v.items()}
            value, grads = vg(**args)
            if library == "jax":
                jax.block_until_ready(grads)
            return float(value), tuple(np.asarray(g) for g in grads)
        return run
    return make


def jax_backward():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def loss(W1, b1, W2, b2, X, Y):
        Z2 = jnp.maximum(X @ W1 + b1, 0.0) @ W2 + b2
        return -jnp.sum(Y * jax.nn.log_softmax(Z2, axis=1)) / X.shape[0]

    f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))

    def run(X, W1, b1, W2, b2, Y):
        value, grads = f(W1, b1, W2, b2, X, Y)
        jax.block_until_ready(grads)
        return value, grads
    return run


def torch_backward():
    import torch

    torch.set_num_threads(1)

    def run(X, W1, b1, W2, b2, Y):
        params = [torch.from_numpy(a).requires_grad_() for a in (W1, b1, W2, b2)]
        Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
        Z2 = torch.relu(Xt @ params[0] + params[1]) @ params[2] + params[3]
        loss = -(Yt * torch.log_softmax(Z2, dim=1)).sum() / Xt.shape[0]
        grads = torch.autograd.grad(loss, params)
        return loss.item(), tuple(g.numpy() for g in grads)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="a 10 s sampling budget, not 60 s")
    parser.add_argument("--write", action="store_true", help="write the table into README.md")
    args = parser.parse_args(argv)
    info = machine(1)
    limit_loaded(1)
    values = problem(args.n)
    want_value, want_grads = numpy_backward(**values)
    runners = {"numpy (hand-written)": lambda: numpy_backward, "matdiff": matdiff_backward,
               "matdiff torch backend": matdiff_library("torch"),
               "matdiff jax backend": matdiff_library("jax"),
               "jax.jit(value_and_grad)": jax_backward, "PyTorch eager": torch_backward}
    cands, skipped = {}, []
    for name, make in runners.items():
        try:
            f = make()
            value, grads = f(**values)
            f(**values)
        except ImportError:
            skipped.append(name)
            continue
        ok = np.isclose(float(value), want_value, rtol=1e-9) and all(
            np.allclose(np.asarray(g), w, rtol=1e-7, atol=1e-12) for g, w in zip(grads, want_grads))
        if not ok:
            raise SystemExit(f"{name}: value or gradients differ from the hand-written pass")
        cands[name] = (lambda f=f: f(**values))
    res = measure(cands, budget=10 if args.quick else 60, last=frozenset(
        k for k in cands if k not in ("matdiff", "numpy (hand-written)")))
    rows = ["| candidate | median (ms) | candidate / hand NumPy | matdiff / candidate |",
            "|---|---:|---:|---:|"]
    hand = res["numpy (hand-written)"]
    for name, r in res.items():
        vs_hand = "" if r is hand else f"{paired_ratio(r, hand):.3f}"
        vs_us = "" if name == "matdiff" else f"{paired_ratio(res['matdiff'], r):.3f}"
        rows.append(f"| {name} | {1000 * r['median']:.1f} | {vs_hand} | {vs_us} |")
    text = (f"Softmax cross-entropy of a 784-256-10 ReLU MLP given as one expression, "
            f"N = {args.n:,}, float64, one thread: value and gradients wrt W1, b1, W2, b2 "
            f"({min(r['samples'] for r in res.values())}+ interleaved samples each):\n\n"
            + "\n".join(rows)
            + ("\n\nNot installed: " + ", ".join(skipped) if skipped else "")
            + "\n\n" + "\n".join(f"- {k}: {v}" for k, v in info.items()))
    print(text)
    if args.write:
        readme = README.read_text(encoding="utf-8")
        block = f"<!-- batch:start -->\n{text}\n<!-- batch:end -->"
        if "<!-- batch:start -->" in readme:
            readme = re.sub(r"<!-- batch:start -->.*<!-- batch:end -->", lambda _: block,
                            readme, flags=re.S)
        else:
            readme += ("\n## Minibatch: one expression, every gradient\n\n"
                       "`python benchmarks/bench_batch.py --write` (issue 9).\n\n" + block + "\n")
        README.write_text(readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
