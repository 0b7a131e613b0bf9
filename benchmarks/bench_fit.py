"""Training benchmarks for matdiff.fit (targets from issue 5; figures, not tests).

    python benchmarks/bench_fit.py [--quick] [--json]

1. fit's loop against a hand-written NumPy Adam loop on the same least-squares
   problem, same steps: (a) the loop alone (`train` given the hand-written
   gradient), (b) end to end (`fit` with matdiff's derived gradients).
   Target: at most 1.5x.
2. Epoch time against PyTorch eager training of the same model (the neuron,
   minibatches of 32), where PyTorch is installed: reported.
3. Full-batch Adam on least squares reaches the lstsq optimum to a relative
   error of 1e-3.
4. A planted ReLU neuron is recovered by minibatch SGD with momentum.

Times are the best of several interleaved repeats of whole runs (2-core
machines shared with other work are noisy; quote figures from a quiet one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threads import configure_threads  # noqa: E402

configure_threads(1)  # one thread (and core) for every library, before any of them loads

import numpy as np  # noqa: E402

import matdiff  # noqa: E402
from matdiff.optim import train  # noqa: E402

LS = "mean((X*w + b - y).^2)"
NEURON = "mean((y - max(0, X*w + b)).^2)"


def problem(n: int, d: int, seed: int = 0, relu: bool = False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    z = X @ w + 0.5
    y = (np.maximum(0.0, z) if relu else z) + 0.01 * rng.normal(size=n)
    return X, y, w


def hand_gradient(v):
    r = v["X"] @ v["w"] + v["b"] - v["y"]
    n = len(r)
    return r @ r / n, {"w": (2.0 / n) * (v["X"].T @ r), "b": (2.0 / n) * r.sum()}


def hand_adam(X, y, steps, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    """Adam as one would write it by hand for this one problem."""
    n, d = X.shape
    w, b = np.zeros(d), 0.0
    mw, vw, mb, vb = np.zeros(d), np.zeros(d), 0.0, 0.0
    for t in range(1, steps + 1):
        r = X @ w + b - y
        gw, gb = (2.0 / n) * (X.T @ r), (2.0 / n) * r.sum()
        mw = b1 * mw + (1 - b1) * gw
        vw = b2 * vw + (1 - b2) * gw * gw
        mb = b1 * mb + (1 - b1) * gb
        vb = b2 * vb + (1 - b2) * gb * gb
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        w = w - lr * (mw / c1) / (np.sqrt(vw / c2) + eps)
        b = b - lr * (mb / c1) / (np.sqrt(vb / c2) + eps)
    return w, b


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_loop_ratio(quick: bool) -> dict:
    n, d, steps = (1000, 20, 200) if quick else (2000, 50, 1000)
    X, y, _ = problem(n, d)
    data = {"X": X, "y": y}
    params = {"w": np.zeros(d), "b": 0.0}
    repeats = 5 if quick else 9
    run = lambda epochs: matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data=data,  # noqa: E731
                                     optimizer="adam", lr=0.01, epochs=epochs, progress=False)
    backend = run(1).backend
    contenders = {
        "hand": lambda: hand_adam(X, y, steps),
        "loop": lambda: train(hand_gradient, params, data, optimizer="adam", lr=0.01,
                              epochs=steps, progress=False),
        "fit": lambda: run(steps),
        "setup": lambda: run(0),  # parse, derive, compile, check: once per fit
    }
    # interleaved, so that load from other processes hits every contender alike
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(median_time(fn, 1))
    # the minimum: the run least disturbed by other processes (as timeit advises)
    hand, loop, full, setup = (min(times[k]) for k in contenders)
    w_hand, b_hand = hand_adam(X, y, steps)
    r = matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data=data, optimizer="adam",
                    lr=0.01, epochs=steps, progress=False)
    same = float(np.max(np.abs(np.r_[r.params["w"], r.params["b"]] - np.r_[w_hand, b_hand])))
    return {"problem": f"least squares {n}x{d}, {steps} full-batch Adam steps",
            "hand_numpy_s": hand, "train_loop_s": loop, "fit_s": full, "fit_setup_s": setup,
            "backend": backend, "loop_ratio": loop / hand, "fit_ratio": full / hand,
            "fit_steps_ratio": (full - setup) / hand, "max_param_diff": same}


def bench_torch_epoch(quick: bool) -> dict | None:
    try:
        import torch
    except ImportError:
        return None
    n, d, epochs, batch = (2000, 20, 3, 32) if quick else (5000, 50, 5, 32)
    X, y, _ = problem(n, d, relu=True)
    fit = matdiff.fit(NEURON, params={"w": "zeros", "b": 1.0}, data={"X": X, "y": y},
                      optimizer="adam", lr=0.01, epochs=epochs, batch_size=batch,
                      progress=False)
    ours = fit.seconds / epochs

    def torch_run(dtype):
        Xt, yt = torch.tensor(X, dtype=dtype), torch.tensor(y, dtype=dtype)
        w = torch.zeros(d, dtype=dtype, requires_grad=True)
        b = torch.ones((), dtype=dtype, requires_grad=True)
        opt = torch.optim.Adam([w, b], lr=0.01)
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for _ in range(epochs):
            perm = torch.from_numpy(rng.permutation(n))
            Xs, ys = Xt[perm], yt[perm]
            for s in range(0, n, batch):
                loss = ((ys[s:s + batch] - torch.relu(Xs[s:s + batch] @ w + b)) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        return (time.perf_counter() - start) / epochs

    torch.set_num_threads(1)  # its pool spins against other processes on a 2-core machine
    t64 = torch_run(torch.float64)
    t32 = torch_run(torch.float32)
    return {"problem": f"neuron {n}x{d}, Adam, batches of {batch}",
            "matdiff_ms_per_epoch": 1000 * ours, "torch64_ms_per_epoch": 1000 * t64,
            "torch32_ms_per_epoch": 1000 * t32, "ratio_vs_torch64": ours / t64,
            "backend": fit.backend}


def bench_lstsq_target(quick: bool) -> dict:
    X, y, _ = problem(500, 10, seed=2)
    A = np.c_[X, np.ones(len(y))]
    ref = np.linalg.lstsq(A, y, rcond=None)[0]
    r = matdiff.fit(LS, params={"w": "zeros", "b": 0.0}, data={"X": X, "y": y},
                    optimizer="adam", lr=0.05, epochs=1000 if quick else 2000, progress=False)
    theta = np.r_[r.params["w"], r.params["b"]]
    rel = float(np.linalg.norm(theta - ref) / np.linalg.norm(ref))
    return {"relative_error": rel, "target": 1e-3, "met": rel <= 1e-3, "epochs": r.epochs}


def bench_planted_neuron(quick: bool) -> dict:
    X, y, w_true = problem(1000, 10, seed=3, relu=True)
    r = matdiff.fit(NEURON, params={"w": "zeros", "b": 1.0}, data={"X": X, "y": y},
                    optimizer="momentum", lr=0.01, epochs=20 if quick else 40, batch_size=32,
                    progress=False)
    err_w = float(np.max(np.abs(r.params["w"] - w_true)))
    err_b = abs(float(r.params["b"]) - 0.5)
    return {"max_weight_error": err_w, "bias_error": err_b, "met": max(err_w, err_b) < 0.02,
            "final_loss": r.loss}


MLP = "-sum(Y .* logsoftmax(relu(X*W1 + b1')*W2 + b2', 2))/size(X, 1)"
MLP_DECLARE = {"X": "matrix(n, p)", "W1": "matrix(p, h)", "b1": "vector(h)",
               "W2": "matrix(h, k)", "b2": "vector(k)", "Y": "one-hot rows(n, k)"}


def bench_fit_libraries(quick: bool) -> dict:
    """fit of the 784-256-10 MLP of bench_batch.py through each array library, and unnamed.

    Full-batch Adam, the same steps; rounds interleave the libraries and each
    figure is the fastest round's seconds per step (the fit's setup excluded).
    """
    try:
        import jax

        jax.config.update("jax_enable_x64", True)  # JAX joins fit's race in float64 only
    except ImportError:
        pass
    from matdiff.optim.libraries import installed_libraries

    n, steps, repeats = (2000, 5, 2) if quick else (10000, 10, 3)
    rng = np.random.default_rng(0)
    data = {"X": rng.standard_normal((n, 784)), "Y": np.eye(10)[rng.integers(0, 10, n)]}
    params = {"W1": rng.standard_normal((784, 256)) * 0.05, "b1": np.zeros(256),
              "W2": rng.standard_normal((256, 10)) * 0.1, "b2": np.zeros(10)}
    names = installed_libraries() + ["auto"]
    best = {k: float("inf") for k in names}
    chosen, finals = None, {}
    for _ in range(repeats):
        for name in names:
            backend = None if name == "auto" else name
            r = matdiff.fit(MLP, params=params, data=data, declare=MLP_DECLARE,
                            optimizer="adam", lr=1e-3, epochs=steps, progress=False,
                            backend=backend)
            best[name] = min(best[name], r.seconds / steps)
            finals[name] = r.loss
            if name == "auto":
                chosen = r.extra["library"]
    return {"problem": f"MLP 784-256-10, N = {n:,}, full-batch Adam", "seconds_per_step": best,
            "auto_chose": chosen, "final_loss": finals}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller problems, fewer repeats")
    ap.add_argument("--json", action="store_true", help="print one JSON record")
    args = ap.parse_args(argv)
    out = {"loop": bench_loop_ratio(args.quick), "torch": bench_torch_epoch(args.quick),
           "lstsq": bench_lstsq_target(args.quick), "planted": bench_planted_neuron(args.quick),
           "libraries": bench_fit_libraries(args.quick)}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    lo = out["loop"]
    print(f"1. {lo['problem']}")
    print(f"   hand-written NumPy Adam      {1000 * lo['hand_numpy_s']:9.1f} ms")
    print(f"   train() loop, same gradient  {1000 * lo['train_loop_s']:9.1f} ms   "
          f"ratio {lo['loop_ratio']:.2f} (target <= 1.5)")
    print(f"   fit(), derived gradients     {1000 * lo['fit_s']:9.1f} ms   "
          f"ratio {lo['fit_ratio']:.2f} ({lo['backend']} backend)")
    print(f"     of which setup (parse, derive, compile) {1000 * lo['fit_setup_s']:6.1f} ms; "
          f"the steps alone: ratio {lo['fit_steps_ratio']:.2f}")
    print(f"   same trajectory: max |param difference| {lo['max_param_diff']:.1e}")
    t = out["torch"]
    if t is None:
        print("2. PyTorch is not installed: no epoch-time comparison")
    else:
        print(f"2. {t['problem']}: matdiff {t['matdiff_ms_per_epoch']:.1f} ms/epoch "
              f"({t['backend']}), PyTorch eager {t['torch64_ms_per_epoch']:.1f} (float64) / "
              f"{t['torch32_ms_per_epoch']:.1f} (float32); ratio {t['ratio_vs_torch64']:.2f}")
    ls = out["lstsq"]
    print(f"3. full-batch Adam vs lstsq: relative error {ls['relative_error']:.1e} "
          f"after {ls['epochs']} epochs ({'met' if ls['met'] else 'MISSED'}, target 1e-3)")
    pn = out["planted"]
    print(f"4. planted neuron by minibatch momentum SGD: max weight error "
          f"{pn['max_weight_error']:.1e}, bias error {pn['bias_error']:.1e} "
          f"({'met' if pn['met'] else 'MISSED'})")
    lib = out["libraries"]
    steps = lib["seconds_per_step"]
    print(f"5. {lib['problem']}, ms per step by fit(backend=...): "
          + ", ".join(f"{k} {1000 * v:.1f}" for k, v in steps.items())
          + f"; unnamed, fit chose {lib['auto_chose']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
