"""The peer's problems (issue 23): tensorgrad-style derivatives against NumPy fused by hand.

    python benchmarks/peer_problems.py            # print the table
    python benchmarks/peer_problems.py --write    # and write it into README.md
    python benchmarks/peer_problems.py --quick    # smaller sizes, a short budget
    python benchmarks/peer_problems.py --only newton,inv

The problems are the functions of tensorgrad's benchmarks (a Newton step of
logistic regression, the Jacobian of an inverse, linear solves, an embedding
lookup, softmax layers, a tanh MLP, a Hessian-vector product), written here in
matdiff's language. Each case is one derivative at one size, compiled by
matdiff and timed in one process, one thread, pinned to one core, against
the same derivative written and fused by hand in NumPy (and, where a case has
them, `jax.jit` of the JAX transform and `torch.func`, and matdiff's torch
backend against the same closed form written by hand in PyTorch). Every
candidate is checked against the hand-written result first; ratios are
medians over rounds of two times taken in the same round (harness.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from threads import configure_threads, limit_loaded  # noqa: E402

configure_threads(1)  # one thread for every library, before any of them loads

import numpy as np  # noqa: E402
from harness import machine, measure, paired_ratio  # noqa: E402
from report import write_readme  # noqa: E402

import matdiff  # noqa: E402

TARGET = 1.2


@dataclass
class Peer:
    id: str                                   # "newton gradient 10000x100"
    group: str                                # for --only
    expression: str
    wrt: list[str]
    kind: str                                 # gradient | hessian | jacobian | value_and_grad
    declare: dict[str, str]
    data: Callable[[np.random.Generator], dict[str, np.ndarray]]
    hand: Callable[..., Any]                  # NumPy, fused by hand, keyword arguments
    jax: Callable[..., Any] | None = None     # builds f(**arrays) under jax.jit
    torch_func: Callable[..., Any] | None = None   # builds f(**tensors) with torch.func
    torch_hand: Callable[..., Any] | None = None   # the closed form in PyTorch
    note: str = ""
    keep: dict[str, Any] = field(default_factory=dict)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    E /= E.sum(axis=1, keepdims=True)
    return E


# ---------------------------------------------------------------- Newton step, logistic regression

NEWTON = "sum(log(1 + exp(-(2*y - 1).*(X*w))))"
NEWTON_DECLARE = {"X": "matrix(n, p)", "y": "vector(n)", "w": "vector(p)"}


def _newton_data(n, p):
    def make(rng):
        return {"X": rng.standard_normal((n, p)) / np.sqrt(p), "y": rng.integers(0, 2, n) * 1.0,
                "w": rng.standard_normal(p), "v": rng.standard_normal(p)}
    return make


def newton_grad(X, y, w):
    s = 2.0 * y - 1.0
    return -(X.T @ (s * _sigmoid(-s * (X @ w))))


def newton_hess(X, y, w):
    q = _sigmoid(X @ w)                       # (2y-1)^2 = 1 for 0/1 labels is not assumed
    h = q * (1.0 - q) * (2.0 * y - 1.0) ** 2
    return X.T @ (h[:, None] * X)


def newton_hvp(X, y, w, v):
    q = _sigmoid((1.0 - 2.0 * y) * (X @ w))
    return X.T @ ((q * (1.0 - q) * (2.0 * y - 1.0) ** 2) * (X @ v))


def _newton_jax(kind):
    def build():
        import jax
        import jax.numpy as jnp

        def f(w, X, y):
            return jnp.sum(jnp.logaddexp(0.0, -(2 * y - 1) * (X @ w)))
        if kind == "hvp":
            g = jax.grad(f)
            fn = jax.jit(lambda w, X, y, v: jax.jvp(lambda u: g(u, X, y), (w,), (v,))[1])
            return lambda X, y, w, v: fn(w, X, y, v)
        op = jax.grad if kind == "gradient" else jax.hessian
        fn = jax.jit(op(f))
        return lambda X, y, w, v: fn(w, X, y)
    return build


def _newton_torch(kind):
    def build():
        import torch
        import torch.func

        def f(w, X, y):
            return torch.nn.functional.softplus(-(2 * y - 1) * (X @ w)).sum()
        if kind == "hvp":
            g = torch.func.grad(f)
            return lambda X, y, w, v: torch.func.jvp(lambda u: g(u, X, y), (w,), (v,))[1]
        fn = (torch.func.grad if kind == "gradient" else torch.func.hessian)(f)
        return lambda X, y, w, v: fn(w, X, y)
    return build


# ---------------------------------------------------------------- inverses and solves

def inv_jac(A):
    Ai = np.linalg.inv(A)
    return np.einsum("ik,lj->ijkl", -Ai, Ai)   # the minus on the n x n factor


def solve_vec(A, b, x):
    return np.linalg.solve(A, b)


def bilinear_grad(A, b, w):
    return np.multiply.outer(np.linalg.solve(A.T, -w), np.linalg.solve(A, b))


def _square(n, extra):
    def make(rng):
        A = rng.standard_normal((n, n)) / np.sqrt(n) + 2.0 * np.eye(n)
        return {"A": A, **{k: rng.standard_normal(n) for k in extra}}
    return make


def _inv_jax():
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.jacfwd(jnp.linalg.inv))
    return lambda A: fn(A)


def _inv_torch():
    import torch
    import torch.func

    fn = torch.func.jacfwd(torch.linalg.inv)
    return lambda A: fn(A)


def _solve_jax():
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.grad(lambda x, A, b: x @ jnp.linalg.solve(A, b)))
    return lambda A, b, x: fn(x, A, b)


def _solve_torch():
    import torch
    import torch.func

    fn = torch.func.grad(lambda x, A, b: x @ torch.linalg.solve(A, b))
    return lambda A, b, x: fn(x, A, b)


def _bilinear_jax():
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.grad(lambda A, b, w: w @ jnp.linalg.solve(A, b)))
    return lambda A, b, w: fn(A, b, w)


def _bilinear_torch():
    import torch
    import torch.func

    fn = torch.func.grad(lambda A, b, w: w @ torch.linalg.solve(A, b))
    return lambda A, b, w: fn(A, b, w)


# ---------------------------------------------------------------- embedding: one-hot rows

EMBED = "norm2(Y*E - T)^2"


def _embed_data(n, vocab, d):
    def make(rng):
        return {"Y": np.eye(vocab)[rng.integers(0, vocab, n)], "E": rng.standard_normal((vocab, d)),
                "T": rng.standard_normal((n, d))}
    return make


def embed_grad(Y, E, T):
    """The hand code is given the same one-hot matrix: it finds the rows, gathers, adds at."""
    idx = Y.argmax(axis=1)
    G = np.zeros_like(E)
    np.add.at(G, idx, 2.0 * (E[idx] - T))
    return G


def embed_grad_torch(Y, E, T):
    """The same in PyTorch: the rows (torch.max's indices: 4x faster than argmax on one CPU
    thread), a gather, an index_add_."""
    import torch

    idx = torch.max(Y, dim=1).indices
    return torch.zeros_like(E).index_add_(0, idx, 2.0 * (E[idx] - T))


def _embed_jax():
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.grad(lambda E, Y, T: jnp.sum((Y @ E - T) ** 2)))
    return lambda Y, E, T: fn(E, Y, T)


def _embed_torch():
    import torch
    import torch.func

    fn = torch.func.grad(lambda E, Y, T: ((Y @ E - T) ** 2).sum())
    return lambda Y, E, T: fn(E, Y, T)


# ---------------------------------------------------------------- softmax loss (tier 1)

SOFTMAX = "-sum(Y .* logsoftmax(X*W, 2))/size(X, 1)"
SOFTMAX_DECLARE = {"X": "matrix(n, p)", "W": "matrix(p, k)", "Y": "one-hot rows(n, k)"}


def _softmax_data(n, p, k):
    def make(rng):
        return {"X": rng.standard_normal((n, p)), "W": rng.standard_normal((p, k)) * 0.1,
                "Y": np.eye(k)[rng.integers(0, k, n)]}
    return make


def softmax_vg(X, W, Y):
    n = X.shape[0]
    Z = X @ W
    m = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - m)
    s = E.sum(axis=1, keepdims=True)
    loss = (np.log(s).sum() + m.sum() - np.einsum("ij,ij->", Y, Z)) / n
    E /= s
    E -= Y
    E /= n
    return loss, X.T @ E


def softmax_vg_torch(X, W, Y):
    import torch

    Z = X @ W
    loss = -(Y * torch.log_softmax(Z, dim=1)).sum() / X.shape[0]
    return loss, X.T @ ((torch.softmax(Z, dim=1) - Y) / X.shape[0])


def _softmax_jax():
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.value_and_grad(
        lambda W, X, Y: -jnp.sum(Y * jax.nn.log_softmax(X @ W, axis=1)) / X.shape[0]))
    return lambda X, W, Y: fn(W, X, Y)


def _softmax_torch():
    import torch
    import torch.func

    fn = torch.func.grad_and_value(
        lambda W, X, Y: -(Y * torch.log_softmax(X @ W, dim=1)).sum() / X.shape[0])
    return lambda X, W, Y: (lambda r: (r[1], r[0]))(fn(W, X, Y))


# ---------------------------------------------------------------- three softmax layers

SOFT3 = "-sum(Y .* logsoftmax(softmax(softmax(X*W1, 2)*W2, 2)*W3, 2))"
SOFT3_DECLARE = {"X": "matrix(n, p)", "W1": "matrix(p, h)", "W2": "matrix(h, h)",
                 "W3": "matrix(h, k)", "Y": "one-hot rows(n, k)"}


def _soft3_data(n, p, h, k):
    def make(rng):
        return {"X": rng.standard_normal((n, p)), "W1": rng.standard_normal((p, h)) / np.sqrt(p),
                "W2": rng.standard_normal((h, h)), "W3": rng.standard_normal((h, k)),
                "Y": np.eye(k)[rng.integers(0, k, n)]}
    return make


def soft3_grad(X, W1, W2, W3, Y):
    S1 = _softmax(X @ W1)
    S2 = _softmax(S1 @ W2)
    S3 = _softmax(S2 @ W3)
    D3 = S3 - Y                                # the error signal of each layer, named once
    G2 = D3 @ W3.T
    D2 = S2 * (G2 - np.einsum("ij,ij->i", G2, S2)[:, None])
    G1 = D2 @ W2.T
    D1 = S1 * (G1 - np.einsum("ij,ij->i", G1, S1)[:, None])
    return X.T @ D1


def _soft3_jax():
    import jax
    import jax.numpy as jnp

    def f(W1, X, W2, W3, Y):
        S1 = jax.nn.softmax(X @ W1, axis=1)
        S2 = jax.nn.softmax(S1 @ W2, axis=1)
        return -jnp.sum(Y * jax.nn.log_softmax(S2 @ W3, axis=1))
    fn = jax.jit(jax.grad(f))
    return lambda X, W1, W2, W3, Y: fn(W1, X, W2, W3, Y)


def _soft3_torch():
    import torch
    import torch.func

    def f(W1, X, W2, W3, Y):
        S1 = torch.softmax(X @ W1, dim=1)
        S2 = torch.softmax(S1 @ W2, dim=1)
        return -(Y * torch.log_softmax(S2 @ W3, dim=1)).sum()
    fn = torch.func.grad(f)
    return lambda X, W1, W2, W3, Y: fn(W1, X, W2, W3, Y)


# ---------------------------------------------------------------- tanh MLP

MLP = "norm2(tanh(X*W1)*W2 - Y)^2"
MLP_DECLARE = {"X": "matrix(n, p)", "W1": "matrix(p, h)", "W2": "matrix(h, k)",
               "Y": "matrix(n, k)"}


def _mlp_data(n, p, h, k):
    def make(rng):
        return {"X": rng.standard_normal((n, p)), "W1": rng.standard_normal((p, h)) / np.sqrt(p),
                "W2": rng.standard_normal((h, k)) / np.sqrt(h), "Y": rng.standard_normal((n, k))}
    return make


def mlp_vg(X, W1, W2, Y):
    H = np.tanh(X @ W1)
    R = H @ W2 - Y
    dZ = (R @ (2.0 * W2.T)) * (1.0 - H * H)    # the pre-activation error signal, once
    return (R * R).sum(), (X.T @ dZ, 2.0 * (H.T @ R))


def mlp_vg_torch(X, W1, W2, Y):
    import torch

    H = torch.tanh(X @ W1)
    R = H @ W2 - Y
    dZ = (R @ (2.0 * W2.T)) * (1.0 - H * H)
    return (R * R).sum(), (X.T @ dZ, 2.0 * (H.T @ R))


def _mlp_jax():
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.value_and_grad(
        lambda W1, W2, X, Y: jnp.sum((jnp.tanh(X @ W1) @ W2 - Y) ** 2), argnums=(0, 1)))
    return lambda X, W1, W2, Y: fn(W1, W2, X, Y)


def _mlp_torch():
    import torch
    import torch.func

    fn = torch.func.grad_and_value(
        lambda W1, W2, X, Y: ((torch.tanh(X @ W1) @ W2 - Y) ** 2).sum(), argnums=(0, 1))
    return lambda X, W1, W2, Y: (lambda r: (r[1], r[0]))(fn(W1, W2, X, Y))


# ---------------------------------------------------------------- the cases

def hvp_expression() -> str:
    """The derivative of the printed gradient along v: what a person types for H v."""
    g = matdiff.diff(NEWTON, wrt="w", declare=NEWTON_DECLARE)
    return f"({g})'*v"


def cases(quick: bool = False) -> list[Peer]:
    n, p = (2000, 50) if quick else (10000, 100)
    ni = 20 if quick else 40
    ns = 200 if quick else 1000
    ne, vocab, d = (1000, 500, 32) if quick else (4000, 2000, 64)
    nsm = (2000, 100, 50) if quick else (10000, 100, 100)
    n3 = (1000, 50, 64, 10) if quick else (5000, 100, 128, 10)
    nm = (1000, 50, 64, 10) if quick else (10000, 100, 256, 10)
    hvp_declare = dict(NEWTON_DECLARE, v="vector(p)")
    return [
        Peer(f"newton gradient {n}x{p}", "newton", NEWTON, ["w"], "gradient", NEWTON_DECLARE,
             _newton_data(n, p), newton_grad, _newton_jax("gradient"), _newton_torch("gradient")),
        Peer(f"newton hessian {n}x{p}", "newton", NEWTON, ["w"], "hessian", NEWTON_DECLARE,
             _newton_data(n, p), newton_hess, _newton_jax("hessian"), _newton_torch("hessian")),
        Peer(f"newton HVP d/dw (printed gradient)'*v {n}x{p}", "hvp", "", ["w"], "gradient",
             hvp_declare, _newton_data(n, p), newton_hvp, _newton_jax("hvp"),
             _newton_torch("hvp")),
        Peer(f"jacobian of inv(A) n={ni}", "inv", "inv(A)", ["A"], "jacobian",
             {"A": "matrix(n, n)"}, _square(ni, []), inv_jac, _inv_jax, _inv_torch),
        Peer(f"inv(A)*b (d/dx of x'*inv(A)*b) n={ns}", "inv", "x'*inv(A)*b", ["x"], "gradient",
             {"A": "matrix(n, n)", "b": "vector(n)", "x": "vector(n)"}, _square(ns, ["b", "x"]),
             solve_vec, _solve_jax, _solve_torch),
        Peer(f"d/dA of w'*inv(A)*b n={ns}", "inv", "w'*inv(A)*b", ["A"], "gradient",
             {"A": "matrix(n, n)", "b": "vector(n)", "w": "vector(n)"}, _square(ns, ["b", "w"]),
             bilinear_grad, _bilinear_jax, _bilinear_torch),
        Peer(f"embedding d/dE of norm2(Y*E - T)^2, Y one-hot {ne}x{vocab}, d={d}", "embed",
             EMBED, ["E"], "gradient",
             {"Y": "one-hot rows(n, k)", "E": "matrix(k, d)", "T": "matrix(n, d)"},
             _embed_data(ne, vocab, d), embed_grad, _embed_jax, _embed_torch, embed_grad_torch),
        Peer(f"softmax loss value and gradient {'x'.join(map(str, nsm))}", "softmax", SOFTMAX,
             ["W"], "value_and_grad", SOFTMAX_DECLARE, _softmax_data(*nsm), softmax_vg,
             _softmax_jax, _softmax_torch, softmax_vg_torch),
        Peer(f"three softmax layers d/dW1 {'-'.join(map(str, n3))}", "softmax3", SOFT3, ["W1"],
             "gradient", SOFT3_DECLARE, _soft3_data(*n3), soft3_grad, _soft3_jax, _soft3_torch),
        Peer(f"tanh MLP value and gradients {'-'.join(map(str, nm))}", "mlp", MLP, ["W1", "W2"],
             "value_and_grad", MLP_DECLARE, _mlp_data(*nm), mlp_vg, _mlp_jax, _mlp_torch,
             mlp_vg_torch),
    ]


# ---------------------------------------------------------------- running

def _matdiff(case: Peer, backend: str | None = None) -> Callable[..., Any]:
    expression = case.expression or hvp_expression()
    if case.kind == "value_and_grad":
        vg = matdiff.value_and_grad(expression, wrt=case.wrt, declare=case.declare,
                                    backend=backend)
        return lambda **v: vg(**v)
    order = 2 if case.kind == "hessian" else 1
    fn = matdiff.diff(expression, wrt=case.wrt[0], declare=case.declare,
                      order=order).compile(backend=backend)
    return lambda **v: fn(**v)


def _flat(x) -> list[np.ndarray]:
    if isinstance(x, tuple | list):
        return [a for item in x for a in _flat(item)]
    return [np.asarray(x)]


def _check(label: str, got, want) -> None:
    for g, w in zip(_flat(got), _flat(want), strict=True):
        scale = max(1.0, float(np.abs(w).max()))
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-6, atol=1e-8 * scale):
            raise SystemExit(f"{label}: result differs from the hand-written code "
                             f"(largest difference {np.abs(g - w).max():.3g})")


def _args(fn: Callable[..., Any], values: dict[str, Any]) -> dict[str, Any]:
    import inspect

    names = inspect.signature(fn).parameters
    return {k: values[k] for k in names}


def run_case(case: Peer, budget: float, frameworks: bool) -> dict[str, Any]:
    values = case.data(np.random.default_rng(0))
    hand_in = _args(case.hand, values)
    want = case.hand(**hand_in)
    md = _matdiff(case)
    md_in = {k: values[k] for k in case.declare if k in values}
    cands: dict[str, Callable[[], Any]] = {
        "matdiff": lambda: md(**md_in), "hand": lambda: case.hand(**hand_in)}
    skipped: dict[str, str] = {}
    late: set[str] = set()
    if frameworks:
        _add_frameworks(case, values, want, cands, skipped, late)
    for label, fn in cands.items():
        got = fn()
        if label.startswith("torch"):
            got = _to_numpy(got)
        _check(f"{case.id} / {label}", got, want)
    t0 = time.perf_counter()
    timing = measure(cands, budget, last=frozenset(late), max_rounds=400)  # ms cases: many pairs
    return {"case": case.id, "timing": timing, "skipped": skipped,
            "seconds": time.perf_counter() - t0, "note": case.note}


def _to_numpy(x):
    if isinstance(x, tuple | list):
        return type(x)(_to_numpy(a) for a in x)
    return x.detach().numpy() if hasattr(x, "detach") else x


def _add_frameworks(case, values, want, cands, skipped, late) -> None:
    builders = {"jax.jit": case.jax, "torch.func": case.torch_func}
    for label, build in builders.items():
        if build is None:
            continue
        try:
            fn = _framework(label, build, case, values)
        except Exception as e:  # noqa: BLE001 - a framework that cannot run is reported
            skipped[label] = f"{type(e).__name__}: {e}"[:120]
            continue
        cands[label] = fn
        late.add(label)
    if case.torch_hand is not None:
        try:
            import torch

            torch.set_num_threads(1)
            tv = {k: torch.as_tensor(v) for k, v in values.items()}
            md_t = _matdiff(case, backend="torch")
            md_in = {k: tv[k] for k in case.declare if k in tv}
            hand_in = _args(case.torch_hand, tv)
            cands["torch: matdiff"] = lambda: md_t(**md_in)
            cands["torch: hand"] = lambda: case.torch_hand(**hand_in)
        except ImportError as e:
            skipped["torch backend"] = str(e)


def _framework(label, build, case, values):
    if label == "jax.jit":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        fn = build()
        args = {k: jnp.asarray(v) for k, v in values.items()}
        chosen = _args(fn, args)
        return lambda: jax.block_until_ready(fn(**chosen))
    import torch

    torch.set_num_threads(1)
    fn = build()
    args = {k: torch.as_tensor(v) for k, v in values.items()}
    chosen = _args(fn, args)

    def call():
        with torch.no_grad():
            return fn(**chosen)
    return call


def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "—"
    return f"{x:.{digits}f}" if x < 100 else f"{x:,.0f}"


def table(results: list[dict[str, Any]], info: dict[str, Any], quick: bool) -> str:
    head = ("| case | matdiff ms | hand ms | matdiff / hand | jax.jit / matdiff | "
            "torch.func / matdiff | torch backend / hand torch | target 1.2x |")
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        t = r["timing"]
        ratio = paired_ratio(t["matdiff"], t["hand"])
        torch_b = paired_ratio(t.get("torch: matdiff"), t.get("torch: hand"))
        met = ratio <= TARGET and (torch_b is None or torch_b <= TARGET)
        verdict = "met" if met else "missed" + (f": {r['note']}" if r["note"] else "")
        rows.append(
            f"| {r['case']} | {1000 * t['matdiff']['median']:.3g} | "
            f"{1000 * t['hand']['median']:.3g} | {_fmt(ratio)} | "
            f"{_fmt(paired_ratio(t.get('jax.jit'), t['matdiff']))} | "
            f"{_fmt(paired_ratio(t.get('torch.func'), t['matdiff']))} | {_fmt(torch_b)} | "
            f"{verdict} |")
    skipped = sorted({f"{k} ({r['case']}): {v}" for r in results for k, v in r["skipped"].items()})
    text = ("Sizes: " + ("reduced (--quick)" if quick else "as below")
            + ". One thread, one core, float64. Times are medians per call; each ratio is "
            "the median, over rounds, of two times taken in the same round. \"hand\" is the "
            "derivative written and fused by hand in NumPy (peer_problems.py); the torch "
            "column is matdiff's torch backend against the same closed form written in "
            "PyTorch.\n\n" + "\n".join(rows))
    if skipped:
        text += "\n\nNot run: " + "; ".join(skipped)
    return text + "\n\n" + "\n".join(f"- {k}: {v}" for k, v in info.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a short budget")
    ap.add_argument("--write", action="store_true", help="write the table into README.md")
    ap.add_argument("--only", default="", help="comma-separated groups: newton,hvp,inv,...")
    ap.add_argument("--budget", type=float, default=None, help="seconds of sampling per case")
    ap.add_argument("--no-frameworks", action="store_true", help="matdiff and hand code only")
    args = ap.parse_args(argv)
    limit_loaded(1)
    info = machine(1)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    budget = args.budget if args.budget is not None else (1.5 if args.quick else 8.0)
    results = []
    for case in cases(args.quick):
        if only and case.group not in only:
            continue
        print(f"{case.id} ...", end=" ", flush=True)
        r = run_case(case, budget, not args.no_frameworks)
        results.append(r)
        print(f"{r['seconds']:.1f} s, matdiff / hand "
              f"{paired_ratio(r['timing']['matdiff'], r['timing']['hand']):.2f}", flush=True)
    text = table(results, info, args.quick)
    print()
    print(text)
    if args.write:
        write_readme(HERE / "README.md", "peer", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
