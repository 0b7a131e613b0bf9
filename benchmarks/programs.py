"""Programs: deriving every gradient with the backward pass printed, and the compiled
value and all gradients of a two-layer MLP against hand-written NumPy, JAX and PyTorch.

    python benchmarks/programs.py            # both tables, printed
    python benchmarks/programs.py --write    # and written into benchmarks/README.md
    python benchmarks/programs.py --quick    # fewer rounds

1. Derivation: an L-layer MLP program (tanh layers, a softmax cross-entropy
   loss), every W and b: `matdiff.grad(program, wrt=[...])` and `str()` of it
   (the backward pass printed), from text, best of several runs after a
   warm-up. The time per layer shows the growth is linear. The last column
   takes every gradient as a Derivative (`dict(grad(...).items())`).
2. Speed: value and all four gradients of a two-layer ReLU MLP on a batch
   (X 512 x 784, 256 hidden, 10 classes), one thread each, sampled in
   interleaved rounds (harness.py); ratios are medians of same-round pairs.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threads import configure_threads, limit_loaded  # noqa: E402

configure_threads(1)

import warnings  # noqa: E402

import numpy as np  # noqa: E402
from harness import machine, measure, paired_ratio  # noqa: E402

import matdiff  # noqa: E402

README = Path(__file__).resolve().parent / "README.md"
N, D, H, K = 512, 784, 256, 10


def mlp_program(layers: int) -> tuple[str, list[str]]:
    lines = [", ".join(f"b{k}" for k in range(1, layers + 1)) + ": vector"]
    h = "x"
    for k in range(1, layers + 1):
        lines.append(f"z{k} = W{k}*{h} + b{k}")
        if k < layers:
            lines.append(f"h{k} = tanh(z{k})")
            h = f"h{k}"
    lines.append(f"L = -y'*log(softmax(z{layers}))")
    return "\n".join(lines), [n for k in range(1, layers + 1) for n in (f"W{k}", f"b{k}")]


def derive_time(layers: int, repeats: int) -> tuple[float, int, float]:
    """(best time printing the backward pass, its lines, best time of every gradient as a
    Derivative: `dict(grad(...).items())`, read off the same backward pass)."""
    text, wrt = mlp_program(layers)
    best = every = float("inf")
    out = ""
    for _ in range(repeats):
        start = time.perf_counter()
        out = str(matdiff.grad(text, wrt=wrt))
        best = min(best, time.perf_counter() - start)
        start = time.perf_counter()
        dict(matdiff.grad(text, wrt=wrt).items())
        every = min(every, time.perf_counter() - start)
    return best, len(out.splitlines()), every


def derivation_table(quick: bool) -> str:
    derive_time(2, 2)  # warm-up: imports, grammar
    rows = ["| layers | program lines | backward lines | time (ms) | ms per layer | "
            "every gradient as a Derivative (ms) |",
            "|---:|---:|---:|---:|---:|---:|"]
    for layers in (1, 2, 4, 8, 12, 24, 48):
        t, n, every = derive_time(layers, 3 if quick else 7)
        rows.append(f"| {layers} | {2 * layers + 1} | {n} | {1000 * t:.1f} | "
                    f"{1000 * t / layers:.2f} | {1000 * every:.1f} |")
    return "\n".join(rows)


BATCH_PROGRAM = """b1, b2: vector
Y: one-hot rows
Z1 = X*W1 + b1'
H1 = relu(Z1)
Z2 = H1*W2 + b2'
L = -sum(Y .* logsoftmax(Z2, 2))/size(X, 1)"""


def hand(X, Y, W1, b1, W2, b2):
    """The textbook backward pass, written with care."""
    z1 = X @ W1
    z1 += b1
    h1 = np.maximum(z1, 0.0)
    z2 = h1 @ W2
    z2 += b2
    m = z2.max(axis=1, keepdims=True)
    e = np.exp(z2 - m)
    s = e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = float(np.sum(np.log(s) + m) - np.sum(Y * z2)) / n
    dz2 = (e / s - Y) / n
    dW2 = h1.T @ dz2
    db2 = dz2.sum(axis=0)
    dz1 = dz2 @ W2.T
    dz1 *= z1 > 0
    dW1 = X.T @ dz1
    db1 = dz1.sum(axis=0)
    return loss, (dW1, db1, dW2, db2)


def speed_table(quick: bool) -> tuple[str, list[str]]:
    rng = np.random.default_rng(0)
    v = {"X": rng.normal(size=(N, D)), "Y": np.eye(K)[rng.integers(0, K, N)],
         "W1": rng.normal(size=(D, H)) * np.sqrt(2 / D), "b1": np.zeros(H),
         "W2": rng.normal(size=(H, K)) * np.sqrt(1 / H), "b2": np.zeros(K)}
    wrt = ["W1", "b1", "W2", "b2"]
    fn = matdiff.value_and_grad(BATCH_PROGRAM, wrt=wrt)
    loss, grads = fn(**v)
    want_loss, want = hand(**v)
    assert abs(loss - want_loss) < 1e-9 * max(1, abs(want_loss))
    for g, w in zip(grads, want):
        assert np.allclose(g, w, rtol=1e-9, atol=1e-12)
    cands = {"matdiff": lambda: fn(**v), "hand NumPy": lambda: hand(**v)}
    skipped = []
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def jloss(p, X, Y):
            z = jnp.maximum(X @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
            return -jnp.sum(Y * jax.nn.log_softmax(z, axis=1)) / X.shape[0]

        jfn = jax.jit(jax.value_and_grad(jloss))
        jp = {k: jnp.asarray(v[k]) for k in wrt}
        jX, jY = jnp.asarray(v["X"]), jnp.asarray(v["Y"])

        def run_jax():
            out = jfn(jp, jX, jY)
            jax.block_until_ready(out)
            return out

        jl, jg = run_jax()
        assert abs(float(jl) - want_loss) < 1e-9 and np.allclose(jg["W1"], want[0])
        cands["jax.jit(value_and_grad)"] = run_jax
    except ImportError:
        skipped.append("JAX")
    try:
        import torch

        torch.set_num_threads(1)
        tp = {k: torch.tensor(v[k], requires_grad=True) for k in wrt}
        tX, tY = torch.tensor(v["X"]), torch.tensor(v["Y"])

        def run_torch():
            for p in tp.values():
                p.grad = None
            z = torch.relu(tX @ tp["W1"] + tp["b1"]) @ tp["W2"] + tp["b2"]
            loss = -(tY * torch.log_softmax(z, dim=1)).sum() / tX.shape[0]
            loss.backward()
            return loss.item(), [tp[k].grad for k in wrt]

        tl, tg = run_torch()
        assert abs(tl - want_loss) < 1e-9 and np.allclose(tg[0].numpy(), want[0])
        cands["PyTorch eager"] = run_torch
    except ImportError:
        skipped.append("PyTorch")
    limit_loaded(1)
    res = measure(cands, budget=8 if quick else 30, last=frozenset(
        k for k in cands if k not in ("matdiff", "hand NumPy")))
    rows = ["| candidate | median (ms) | matdiff / candidate |", "|---|---:|---:|"]
    for name, r in res.items():
        ratio = paired_ratio(res["matdiff"], r)
        rows.append(f"| {name} | {1000 * r['median']:.3f} | "
                    f"{'' if name == 'matdiff' else f'{ratio:.3f}'} |")
    return "\n".join(rows), skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", matdiff.MatdiffWarning)
    m = machine(1)
    derivation = derivation_table(args.quick)
    speed, skipped = speed_table(args.quick)
    info = "\n".join(f"- {k}: {v}" for k, v in m.items())
    text = ("Deriving every gradient of an L-layer MLP program (tanh layers, softmax "
            "cross-entropy), the backward pass printed (`str(matdiff.grad(program, "
            "wrt=[W1, b1, ...]))`), and every gradient as a Derivative (`dict(grad(...)"
            ".items())`), best of several runs:\n\n" + derivation +
            f"\n\nValue and all four gradients of a two-layer ReLU MLP on a batch (X {N} x "
            f"{D}, {H} hidden, {K} classes, float64, one thread), the compiled program "
            "against the hand-written backward pass and the frameworks:\n\n" + speed +
            ("\n\nNot installed: " + ", ".join(skipped) if skipped else "") +
            "\n\n" + info)
    print(text)
    if args.write:
        readme = README.read_text(encoding="utf-8")
        block = f"<!-- programs:start -->\n{text}\n<!-- programs:end -->"
        if "<!-- programs:start -->" in readme:
            readme = re.sub(r"<!-- programs:start -->.*<!-- programs:end -->", lambda _: block,
                            readme, flags=re.S)
        else:
            readme += ("\n## Programs: every gradient of a network\n\n"
                       "`python benchmarks/programs.py --write` (issue 10).\n\n" + block + "\n")
        README.write_text(readme, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
