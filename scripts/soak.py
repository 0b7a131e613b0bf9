# ruff: noqa: B023, B007, F841, E731, F541, E501, I001 -- a soak tool: closures called at once in their loop
"""A soak of matdiff as a new user would try it (not part of the test suite).

    PYTHONPATH=src python scripts/soak.py random N SEED     random expressions vs JAX
    PYTHONPATH=src python scripts/soak.py programs N SEED   random programs vs JAX
    PYTHONPATH=src python scripts/soak.py hostile           hostile input
    PYTHONPATH=src python scripts/soak.py wrong             learners' wrong answers
    PYTHONPATH=src python scripts/soak.py textbook          textbook identities, DL layers

Each failure prints one line `FAIL <category> <what>: <why>` with a reproduction.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)

import matdiff  # noqa: E402
import printed_truth as pt  # noqa: E402

N = 3
DECLARE = {
    "a": "scalar", "c": "scalar",
    "x": "vector(n)", "y": "vector(n)",
    "A": "square matrix(n)", "B": "matrix(n, n)", "S": "symmetric matrix(n)",
    "r": "row vector(n)", "p": "probability vector(n)", "l": "labels(-1, 1) vector(n)",
    "Y": "one-hot rows(n, n)",
}
KIND = {"a": "s", "c": "s", "x": "v", "y": "v", "A": "M", "B": "M", "S": "M", "r": "r",
        "p": "v", "l": "v", "Y": "M"}
WRTABLE = ["a", "c", "x", "y", "A", "B", "S"]


def make_values(rng):
    v = {"a": rng.uniform(-1.2, 1.2), "c": rng.uniform(0.5, 1.5),
         "x": rng.uniform(-1, 1, N), "y": rng.uniform(-1, 1, N),
         "A": rng.uniform(-1, 1, (N, N)), "B": rng.uniform(-1, 1, (N, N))}
    s = rng.uniform(-1, 1, (N, N))
    v["S"] = (s + s.T) / 2
    v["r"] = rng.uniform(-1, 1, N)
    p = rng.uniform(0.2, 1, N)
    v["p"] = p / p.sum()
    v["l"] = rng.choice([-1.0, 1.0], N)
    Y = np.zeros((N, N))
    Y[np.arange(N), rng.integers(0, N, N)] = 1.0
    v["Y"] = Y
    return v


class Gen:
    """Random well-typed expressions: (text, jax function of the value dict)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def leaf(self, k):
        names = [n for n, kk in KIND.items() if kk == k]
        n = self.rng.choice(names)
        return n, (lambda V, n=n: V[n])

    def gen(self, k, depth):
        R = self.rng
        if depth <= 0 or R.random() < 0.25:
            if k == "s" and R.random() < 0.2:
                c = R.choice(["2", "0.5", "3"])
                return c, (lambda V, c=float(c): jnp.asarray(c))
            return self.leaf(k)
        t, f = getattr(self, "g_" + k)(depth - 1)
        return f"({t})", f

    def g_s(self, d):
        R = self.rng
        ch = R.randrange(22)
        if ch == 0:
            (ta, fa), (tb, fb) = self.gen("s", d), self.gen("s", d)
            op = R.choice(["+", "-", "*"])
            f = {"+": jnp.add, "-": jnp.subtract, "*": jnp.multiply}[op]
            return f"({ta} {op} {tb})", lambda V: f(fa(V), fb(V))
        if ch == 1:
            t, f = self.gen("s", d)
            fn = R.choice(["tanh", "sigmoid", "sin", "cos"])
            jf = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "sin": jnp.sin,
                  "cos": jnp.cos}[fn]
            return f"{fn}({t})", lambda V: jf(f(V))
        if ch == 2:
            t, f = self.gen("v", d)
            return f"sum({t})", lambda V: jnp.sum(f(V))
        if ch == 3:
            (ta, fa), (tb, fb) = self.gen("v", d), self.gen("v", d)
            return f"({ta})'*{tb}", lambda V: fa(V) @ fb(V)
        if ch == 4:
            (ta, fa), (tm, fm), (tb, fb) = self.gen("v", d), self.gen("M", d), self.gen("v", d)
            return f"({ta})'*{tm}*{tb}", lambda V: fa(V) @ fm(V) @ fb(V)
        if ch == 5:
            t, f = self.gen("M", d)
            return f"tr({t})", lambda V: jnp.trace(f(V))
        if ch == 6:
            t, f = self.gen("v", d)
            return f"logsumexp({t})", lambda V: jax.scipy.special.logsumexp(f(V))
        if ch == 7:
            t, f = self.gen("v", d)
            return f"norm2({t})", lambda V: jnp.sqrt(jnp.sum(f(V) ** 2))
        if ch == 8:
            t, f = self.gen("v", d)
            return f"mean({t})", lambda V: jnp.mean(f(V))
        if ch == 9:
            t, f = self.gen("v", d)
            return f"p'*log(softmax({t}))", lambda V: V["p"] @ jax.nn.log_softmax(f(V))
        if ch == 10:
            t, f = self.gen("M", d)
            return f"sum(sum({t}))", lambda V: jnp.sum(f(V))
        if ch == 11:
            t, f = self.gen("s", d)
            return f"({t})^2", lambda V: f(V) ** 2
        if ch == 12:
            t, f = self.gen("v", d)
            return f"r*({t})", lambda V: V["r"] @ f(V)
        if ch == 13:
            t, f = self.gen("v", d)
            return (f"sum(log(1 + exp(-l.*{t})))",
                    lambda V: jnp.sum(jnp.log1p(jnp.exp(-V["l"] * f(V)))))
        if ch == 14:
            t, f = self.gen("M", d)
            return (f"-sum(sum(Y.*logsoftmax({t}, 2)))",
                    lambda V: -jnp.sum(V["Y"] * jax.nn.log_softmax(f(V), axis=1)))
        if ch == 15:
            t, f = self.gen("s", d)
            return f"sqrt(1 + ({t})^2)", lambda V: jnp.sqrt(1 + f(V) ** 2)
        if ch == 16:
            t, f = self.gen("v", d)
            return f"max({t})", lambda V: jnp.max(f(V))
        if ch == 17:
            t, f = self.gen("v", d)
            return f"norm1({t})", lambda V: jnp.sum(jnp.abs(f(V)))
        if ch == 18:
            t, f = self.gen("M", d)
            return (f"logdet(eye(3) + ({t})'*({t}))",
                    lambda V: jnp.linalg.slogdet(jnp.eye(N) + f(V).T @ f(V))[1])
        if ch == 19:
            t, f = self.gen("v", d)
            return f"min({t})", lambda V: jnp.min(f(V))
        if ch == 20:
            t, f = self.gen("M", d)
            return f"sum(sum(softmax({t}, 1).*B))", lambda V: jnp.sum(
                jax.nn.softmax(f(V), axis=0) * V["B"])
        (ta, fa), (tb, fb) = self.gen("s", d), self.gen("s", d)
        return f"({ta})/(2 + ({tb})^2)", lambda V: fa(V) / (2 + fb(V) ** 2)

    def g_v(self, d):
        R = self.rng
        ch = R.randrange(17)
        if ch == 0:
            (ta, fa), (tb, fb) = self.gen("v", d), self.gen("v", d)
            op = R.choice(["+", "-", ".*"])
            f = {"+": jnp.add, "-": jnp.subtract, ".*": jnp.multiply}[op]
            return f"({ta} {op} {tb})", lambda V: f(fa(V), fb(V))
        if ch == 1:
            (ts, fs), (tv, fv) = self.gen("s", d), self.gen("v", d)
            return f"({ts}*{tv})", lambda V: fs(V) * fv(V)
        if ch == 2:
            (tm, fm), (tv, fv) = self.gen("M", d), self.gen("v", d)
            return f"({tm}*{tv})", lambda V: fm(V) @ fv(V)
        if ch == 3:
            t, f = self.gen("v", d)
            fn = R.choice(["tanh", "sigmoid", "relu", "sin", "softmax", "logsoftmax", "abs",
                           "softplus", "logsigmoid", "elu", "leaky_relu", "cosh", "arctan",
                           "erf"])
            jf = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu,
                  "sin": jnp.sin, "softmax": jax.nn.softmax, "logsoftmax": jax.nn.log_softmax,
                  "abs": jnp.abs, "softplus": jax.nn.softplus, "logsigmoid": jax.nn.log_sigmoid,
                  "elu": jax.nn.elu, "leaky_relu": lambda z: jnp.where(z > 0, z, 0.01 * z),
                  "cosh": jnp.cosh, "arctan": jnp.arctan, "erf": jax.scipy.special.erf}[fn]
            extra = {"leaky_relu": ", 0.01", "elu": ", 1"}.get(fn, "")
            return f"{fn}({t}{extra})", lambda V: jf(f(V))
        if ch == 4:
            (tm, fm), (tv, fv) = self.gen("M", d), self.gen("v", d)
            return f"({tm}'*{tv})", lambda V: fm(V).T @ fv(V)
        if ch == 5:
            t, f = self.gen("M", d)
            return f"diag({t})", lambda V: jnp.diag(f(V))
        if ch == 6:
            t, f = self.gen("M", d)
            return f"sum({t}, 2)", lambda V: jnp.sum(f(V), axis=1)
        if ch == 7:
            t, f = self.gen("v", d)
            return f"exp(tanh({t}))", lambda V: jnp.exp(jnp.tanh(f(V)))
        if ch == 8:
            t, f = self.gen("v", d)
            return f"({t}).^2", lambda V: f(V) ** 2
        if ch == 9:
            (ta, fa), (tb, fb) = self.gen("v", d), self.gen("v", d)
            return f"max({ta}, {tb})", lambda V: jnp.maximum(fa(V), fb(V))
        if ch == 10:
            t, f = self.gen("v", d)
            return f"({t})./(1 + ({t}).^2)", lambda V: f(V) / (1 + f(V) ** 2)
        if ch == 11:
            t, f = self.gen("v", d)
            return f"({t} - mean({t}))", lambda V: f(V) - jnp.mean(f(V))
        if ch == 12:
            (ta, fa), (tb, fb) = self.gen("v", d), self.gen("v", d)
            return f"min({ta}, {tb})", lambda V: jnp.minimum(fa(V), fb(V))
        if ch == 13:
            t, f = self.gen("M", d)
            return f"logsumexp({t}, 2)", lambda V: jax.scipy.special.logsumexp(f(V), axis=1)
        if ch == 14:
            t, f = self.gen("M", d)
            return f"mean({t}, 1)'", lambda V: jnp.mean(f(V), axis=0)
        if ch == 15:
            t, f = self.gen("v", d)
            return f"max(0, {t})", lambda V: jnp.maximum(0.0, f(V))
        t, f = self.gen("M", d)
        return f"({t}*p)", lambda V: f(V) @ V["p"]

    def g_M(self, d):
        R = self.rng
        ch = R.randrange(12)
        if ch == 0:
            (ta, fa), (tb, fb) = self.gen("M", d), self.gen("M", d)
            op = R.choice(["+", "-", ".*", "*"])
            f = {"+": jnp.add, "-": jnp.subtract, ".*": jnp.multiply, "*": jnp.matmul}[op]
            return f"({ta} {op} {tb})", lambda V: f(fa(V), fb(V))
        if ch == 1:
            t, f = self.gen("M", d)
            return f"({t})'", lambda V: f(V).T
        if ch == 2:
            (ts, fs), (tm, fm) = self.gen("s", d), self.gen("M", d)
            return f"({ts}*{tm})", lambda V: fs(V) * fm(V)
        if ch == 3:
            (ta, fa), (tb, fb) = self.gen("v", d), self.gen("v", d)
            return f"({ta}*{tb}')", lambda V: jnp.outer(fa(V), fb(V))
        if ch == 4:
            t, f = self.gen("M", d)
            fn = R.choice(["tanh", "sigmoid", "relu", "exp(tanh"])
            if fn == "exp(tanh":
                return f"exp(tanh({t}))", lambda V: jnp.exp(jnp.tanh(f(V)))
            jf = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[fn]
            return f"{fn}({t})", lambda V: jf(f(V))
        if ch == 5:
            t, f = self.gen("v", d)
            return f"diag({t})", lambda V: jnp.diag(f(V))
        if ch == 6:
            t, f = self.gen("M", d)
            return f"softmax({t}, 2)", lambda V: jax.nn.softmax(f(V), axis=1)
        if ch == 7:
            (tm, fm), (tv, fv) = self.gen("M", d), self.gen("v", d)
            return f"({tm} + ({tv})')", lambda V: fm(V) + fv(V)[None, :]
        if ch == 8:
            t, f = self.gen("M", d)
            return f"({t} - mean({t}, 1))", lambda V: f(V) - jnp.mean(f(V), axis=0)[None, :]
        if ch == 9:
            t, f = self.gen("M", d)
            return f"({t}).^2", lambda V: f(V) ** 2
        if ch == 10:
            t, f = self.gen("M", d)
            return f"inv(eye(3) + ({t})*({t})')", lambda V: jnp.linalg.inv(
                jnp.eye(N) + f(V) @ f(V).T)
        t, f = self.gen("M", d)
        return f"sqrt(1 + ({t}).^2)", lambda V: jnp.sqrt(1 + f(V) ** 2)


def used(text):
    import re
    return sorted(set(re.findall(r"\b[A-Za-z]\b", text)) & set(KIND))


class Timeout(Exception):
    pass


def _alarm(*_):
    raise Timeout()


signal.signal(signal.SIGALRM, _alarm)

FAILS: list[str] = []


def fail(cat, what, why):
    line = f"FAIL {cat} {what}: {why}"
    FAILS.append(line)
    print(line, flush=True)


def close(a, b, rtol=1e-6, atol=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape and a.size == b.size:
        a = a.reshape(b.shape)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def guarded(cat, what, fn, seconds=20):
    signal.alarm(seconds)
    try:
        fn()
        return True
    except Timeout:
        fail(cat, what, f"took more than {seconds} s")
    except AssertionError as e:
        fail(cat, what, "assert " + str(e)[:400].replace("\n", " | "))
    except matdiff.MatdiffError as e:
        fail(cat, what, f"MatdiffError {str(e)[:300]}")
    except Exception as e:  # noqa: BLE001
        tb = traceback.format_exc().strip().splitlines()
        fail(cat, what, f"{type(e).__name__}: {str(e)[:200]} @ {tb[-3].strip()[:150]}")
    finally:
        signal.alarm(0)
    return False


def compiled_checks(cat, what, d, V, want):
    """d.compile() on numpy (and torch) equals d.evaluate."""
    fn = d.compile()
    got = fn(**V)
    assert close(got, want, 1e-6, 1e-8), f"compile numpy {np.asarray(got)} != {want}"
    try:
        import torch
    except ImportError:
        return
    TV = {k: torch.tensor(np.asarray(v, float)) for k, v in V.items()}
    got = d.compile(backend="torch")(**TV)
    got = got.detach().numpy() if hasattr(got, "detach") else got
    assert close(got, want, 1e-6, 1e-8), f"compile torch {np.asarray(got)} != {want}"


def run_random(n, seed):
    R = random.Random(seed)
    rng = np.random.default_rng(seed)
    g = Gen(R)
    counts = {"cases": 0}
    for i in range(n):
        text, f = g.gen("s" if R.random() < 0.7 else R.choice("vM"), R.randint(1, 4))
        names = used(text)
        wrts = [w for w in names if w in WRTABLE]
        if not wrts:
            continue
        wrt = R.choice(wrts)
        V = make_values(rng)
        decl = {k: DECLARE[k] for k in names}
        Vd = {k: V[k] for k in names}
        what = f"diff({text!r}, wrt={wrt!r}, declare={decl!r})"
        counts["cases"] += 1

        def one():
            d = matdiff.diff(text, wrt=wrt, declare=decl)
            got = np.asarray(d.evaluate(Vd), float)

            def fx(xv):
                W = dict({k: jnp.asarray(v) for k, v in Vd.items()})
                W[wrt] = xv
                return f(W)
            want = np.asarray(jax.jacobian(fx)(jnp.asarray(Vd[wrt], dtype=jnp.float64)))
            if not np.all(np.isfinite(want)):
                return
            assert close(got, want, 1e-6, 1e-7), f"evaluate {got} != jax {want}"
            fv = np.asarray(matdiff.parse(text, declare=decl).evaluate(Vd), float)
            assert close(fv, np.asarray(f({k: jnp.asarray(v) for k, v in Vd.items()})), 1e-7,
                         1e-9), "value differs from jax"
            pt.check_derivative(d, Vd, steps=True)
            r = d.check_steps(Vd)
            assert r.ok, f"check_steps not ok: {r}"
            compiled_checks("random", what, d, Vd, got)
            if fv.ndim == 0:
                vg = matdiff.value_and_grad(text, wrt=[wrt], declare=decl)
                val, grads = vg(**Vd)
                assert close(val, fv), f"value_and_grad value {val} != {fv}"
                assert close(grads[0], got), f"value_and_grad grad {grads[0]} != {got}"
                # large inputs: finite in float32 wherever float64 JAX is comfortably finite
                big = {k: (v if k in ("p", "l", "Y") else np.asarray(v) * 30.0)
                       for k, v in Vd.items()}
                Wb = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in big.items()}
                jv = float(f(Wb))
                jg = np.asarray(jax.grad(lambda xv: f({**Wb, wrt: xv}))(Wb[wrt]))
                if np.isfinite(jv) and np.all(np.isfinite(jg)) and abs(jv) < 1e15 \
                        and np.max(np.abs(jg), initial=0) < 1e15:
                    b32 = {k: np.asarray(v, np.float32) for k, v in big.items()}
                    val, grads = vg(**b32)
                    assert np.all(np.isfinite(val)) and np.all(np.isfinite(grads[0])), \
                        f"float32 at 30x inputs: value {val}, grad {grads[0]} (jax {jv})"
                    g64 = np.asarray(d.evaluate(big), float)
                    assert np.all(np.isfinite(g64)), f"evaluate at 30x inputs: {g64}"
                if R.random() < 0.3:
                    h = matdiff.diff(text, wrt=wrt, declare=decl, order=2)
                    hj = np.asarray(jax.hessian(fx)(jnp.asarray(Vd[wrt], dtype=jnp.float64)))
                    if np.all(np.isfinite(hj)):
                        hg = np.asarray(h.evaluate(Vd), float)
                        assert close(hg, hj, 1e-5, 1e-7), f"hessian {hg} != jax {hj}"
                        pt.check_derivative(h, Vd, steps=False)
        guarded("random", what, one)
    print(f"random: {counts['cases']} cases, {len(FAILS)} failures")


def run_programs(n, seed):
    R = random.Random(seed)
    rng = np.random.default_rng(seed)
    g = Gen(R)
    cases = 0
    for i in range(n):
        # programs: 2-3 intermediates, each an expression possibly of earlier ones
        lines, fns, kinds = [], [], []
        nlines = R.randint(1, 3)
        for j in range(nlines):
            k = R.choice("vM")
            t, f = g.gen(k, R.randint(1, 2))
            lines.append((f"z{j + 1}", t, f, k))
        # final loss: scalar expression in z's
        zs = [(name, k) for name, _, _, k in lines]
        name, k = R.choice(zs)
        if k == "v":
            tail = R.choice([f"sum({name}.^2)", f"x'*{name}", f"logsumexp({name})",
                             f"p'*log(softmax({name}))", f"sum(tanh({name}))"])
        else:
            tail = R.choice([f"tr({name})", f"sum(sum({name}.^2))", f"x'*{name}*y",
                             f"-sum(sum(Y.*logsoftmax({name}, 2)))"])
        others = [nm for nm, _ in zs if nm != name]
        if others and R.random() < 0.5:
            o, ok = next((nm, kk) for nm, kk in zs if nm != name)
            tail += f" + sum({o})" if ok == "v" else f" + tr({o})"
        # substitute z's into later lines sometimes
        prog_lines = []
        env_f = {}
        for j, (nm, t, f, k) in enumerate(lines):
            if j > 0 and R.random() < 0.6:
                pk, pn = lines[j - 1][3], lines[j - 1][0]
                if pk == k:
                    t = f"({t} + {pn})"
                    f = (lambda V, f=f, pn=pn: f(V) + V[pn])
                elif pk == "M" and k == "v":
                    t = f"{pn}*{t}"
                    f = (lambda V, f=f, pn=pn: V[pn] @ f(V))
            prog_lines.append(f"{nm} = {t}")
            env_f[nm] = f
        prog_text_body = "\n".join(prog_lines) + f"\nL = {tail}"
        names = used(prog_text_body)
        wrts = [w for w in names if w in WRTABLE]
        if not wrts:
            continue
        wrt = R.sample(wrts, min(len(wrts), R.randint(1, 3)))
        decl_lines = "\n".join(f"{k}: {DECLARE[k]}" for k in names)
        prog = decl_lines + "\n" + prog_text_body
        V = make_values(rng)
        Vd = {k: V[k] for k in names}
        # jax: evaluate the program
        tail_text = tail

        def loss(W):
            W = dict(W)
            for nm in [x for x, _, _, _ in lines]:
                W[nm] = env_f[nm](W)
            e = matdiff.parse(prog, of="L")
            del e
            return None
        cases += 1
        what = f"grad({prog!r}, wrt={wrt!r})"

        def one():
            g_ = matdiff.grad(prog, wrt=wrt)
            # oracle: jax of the composed function via text of each line (recomposed)
            def jl(W):
                W = dict(W)
                for nm in [x for x, _, _, _ in lines]:
                    W[nm] = env_f[nm](W)
                return _jax_tail(tail_text, W)
            Wj = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in Vd.items()}
            grads = jax.grad(lambda sub: jl({**Wj, **sub}))({w: Wj[w] for w in wrt})
            for w in wrt:
                got = np.asarray(g_[w].evaluate(Vd), float)
                want = np.asarray(grads[w])
                if not np.all(np.isfinite(want)):
                    return
                assert close(got, want, 1e-6, 1e-7), f"g[{w}] {got} != jax {want}"
            allv = g_.evaluate(Vd) if hasattr(g_, "evaluate") else None
            if allv is not None:
                for w in wrt:
                    assert close(allv[w], np.asarray(grads[w]), 1e-6, 1e-7), \
                        f"g.evaluate()[{w}] {allv[w]} != jax"
            pt.check_backward(g_, Vd)
            vg = matdiff.value_and_grad(prog, wrt=wrt)
            val, gs = vg(**Vd)
            assert close(val, np.asarray(jl(Wj))), f"value_and_grad value {val}"
            for w, gw in zip(wrt, gs):
                assert close(gw, np.asarray(grads[w]), 1e-6, 1e-7), \
                    f"value_and_grad {w} {gw} != {np.asarray(grads[w])}"
            try:
                import torch
            except ImportError:
                return
            vt = matdiff.value_and_grad(prog, wrt=wrt, backend="torch")
            TV = {k: torch.tensor(np.asarray(v, float)) for k, v in Vd.items()}
            val, gs = vt(**TV)
            for w, gw in zip(wrt, gs):
                assert close(gw.detach().numpy(), np.asarray(grads[w]), 1e-6, 1e-7), \
                    f"torch value_and_grad {w}"
        guarded("programs", what, one, 40)
    print(f"programs: {cases} cases, {len(FAILS)} failures")


def _jax_tail(tail, W):
    import re
    total = 0.0
    for part in tail.split(" + "):
        m = re.fullmatch(r"sum\((z\d)\.\^2\)", part)
        if m:
            total = total + jnp.sum(W[m.group(1)] ** 2)
            continue
        m = re.fullmatch(r"x'\*(z\d)", part)
        if m:
            total = total + W["x"] @ W[m.group(1)]
            continue
        m = re.fullmatch(r"logsumexp\((z\d)\)", part)
        if m:
            total = total + jax.scipy.special.logsumexp(W[m.group(1)])
            continue
        m = re.fullmatch(r"p'\*log\(softmax\((z\d)\)\)", part)
        if m:
            total = total + W["p"] @ jax.nn.log_softmax(W[m.group(1)])
            continue
        m = re.fullmatch(r"sum\(tanh\((z\d)\)\)", part)
        if m:
            total = total + jnp.sum(jnp.tanh(W[m.group(1)]))
            continue
        m = re.fullmatch(r"tr\((z\d)\)", part)
        if m:
            total = total + jnp.trace(W[m.group(1)])
            continue
        m = re.fullmatch(r"sum\(sum\((z\d)\.\^2\)\)", part)
        if m:
            total = total + jnp.sum(W[m.group(1)] ** 2)
            continue
        m = re.fullmatch(r"x'\*(z\d)\*y", part)
        if m:
            total = total + W["x"] @ W[m.group(1)] @ W["y"]
            continue
        m = re.fullmatch(r"-sum\(sum\(Y\.\*logsoftmax\((z\d), 2\)\)\)", part)
        if m:
            total = total - jnp.sum(W["Y"] * jax.nn.log_softmax(W[m.group(1)], axis=1))
            continue
        m = re.fullmatch(r"sum\((z\d)\)", part)
        if m:
            total = total + jnp.sum(W[m.group(1)])
            continue
        raise ValueError(part)
    return total


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "random":
        run_random(int(sys.argv[2]), int(sys.argv[3]))
    elif what == "programs":
        run_programs(int(sys.argv[2]), int(sys.argv[3]))
    else:
        import soak_more  # noqa: F401
        soak_more.main(what)
        import soak as _same  # soak_more's failures were recorded on the module, not __main__
        FAILS.extend(_same.FAILS)
    print(f"TOTAL failures: {len(FAILS)}")
