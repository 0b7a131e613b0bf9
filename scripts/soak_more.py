# ruff: noqa: B023, B007, F841, E731, F541, E501, I001 -- a soak tool: closures called at once in their loop
"""The soak's hostile input, learners' wrong answers and textbook identities (see soak.py)."""

from __future__ import annotations

import time

import numpy as np

import matdiff
from soak import fail, guarded

_COUNTS: dict[str, int] = {}


def _count(cat):
    _COUNTS[cat] = _COUNTS.get(cat, 0) + 1


# ---------------------------------------------------------------- hostile input
def hostile_cases():
    deep = "(" * 3000 + "x" + ")" * 3000
    many = " + ".join(["x'*x"] * 10000)
    many_names = " + ".join(f"a{i}" for i in range(2000))
    nested_fn = "sin(" * 2000 + "a" + ")" * 2000
    cases = [
        ("x'*A*x)", "x", None), ("(x'*A*x", "x", None), ("x'*A*x]", "x", None),
        ("[x; y", "x", None), ("sum(x", "x", None), ("sum x)", "x", None),
        ("foo(x)", "x", None), ("softmaxx(x)", "x", None), ("sum(x, 3)", "x", None),
        ("x.^1e308", "x", None), ("x.^1e400", "x", None), ("a^1000000000", "a", None),
        ("exp(exp(exp(exp(a))))", "a", None), ("a^-1e308", "a", None),
        (deep, "x", None), (many, "x", None), (many_names, "a0", None), (nested_fn, "a", None),
        ("x′*x", "x", None), ("x'·x", "x", None), ("∑(x)", "x", None), ("α*x", "x", None),
        ("x'*x", "α", None), ("x'*x\u200b", "x", None), ("ｘ'*x", "x", None),
        ("", "x", None), ("   ", "x", None), ("\n\n", "x", None), ("x'*x", "", None),
        ("sum(sum)", "sum", None), ("sin*x", "x", None), ("exp + 1", "exp", None),
        ("log(x)'*x", "log", None), ("tr(tr)", "tr", None), ("eye*x", "x", None),
        ("x'*A*x", "X", None), ("x'*A*x", "xx", None), ("x'*A*x", "a", None),
        ("x'*A*x", "x ", None), ("x'*A*x", "x,A", None), ("x'*A*x", "1x", None),
        ("x'*A*x", ["x", "x"], None),
        ("x*x", "x", None), ("A*x*A", "A", None), ("x + A", "x", None),
        ("x'*A*x", "x", {"x": "matrix"}), ("x'*A*x", "x", {"A": "vector"}),
        ("x'*A*x", "x", {"A": "tensor"}), ("x'*A*x", "x", {"A": "matrix(0, 3)"}),
        ("x'*A*x", "x", {"A": "matrix(-1, 3)"}), ("x'*A*x", "x", {"A": 3}),
        ("x'*A*x", "x", {"x": "vector(3)", "A": "matrix(4, 4)"}),
        ("x'*A*x", "x", {"1A": "matrix"}), ("x'*A*x", "x", {"A": "symmetric matrix(3, 4)"}),
        ("x'*A*x", "x", {"A": "probability rows(3, 4, 5)"}),
        ("x'*A*x", "x", {"A": "labels(-1, 2)"}),
        ("a = x'*x\na = 2*a", "x", None), ("b = c\nc = 1", "x", None),
        ("L = L + 1", "L", None), ("x = 1\nL = x'*x", "x", None),
        ("z = x'*x\n", "x", None), ("z = \nL = z", "x", None), ("= x", "x", None),
        ("x: vector\nx: matrix\nL = sum(x)", "x", None), ("x: bogus\nL = sum(x)", "x", None),
        ("L = sum(x);;;", "x", None), ("L = sum(x)\n\n\n", "x", None),
        ("x'*A*x;", "x", None), ("1/0", "x", None), ("x/0", "x", None),
        ("x'*x/(a - a)", "x", None), ("log(0*x)", "x", None), ("sqrt(-1)*a", "a", None),
        ("1e999*a", "a", None), ("nan*a", "a", None), ("inf*a", "a", None),
        ("a^^2", "a", None), ("a**2", "a", None), ("a++b", "a", None), ("a+-+-b", "a", None),
        ("x'''*x", "x", None), ("x.'*x", "x", None), ("x.*.*x", "x", None),
        ("sum(x,,1)", "x", None), ("max(x, [], 3)", "x", None), ("max(X, [], 0)", "X", None),
        ("softmax(X, 0)", "X", None), ("sum(X, -1)", "X", None), ("sum(X, 1.5)", "X", None),
        ("X(1, 2)", "X", None), ("x(1)", "x", None), ("x{1}", "x", None),
        ("[x, A]", "x", None), ("[a; x]", "x", None), ("[]", "x", None),
        ("conv2(X, K, 5)", "X", None), ("maxpool(X, 0)", "X", None),
        ("maxpool(X, 1.5)", "X", None), ("vector(-1)'*x", "x", None),
        ("matrix(1, 0)*x", "x", None), ("eye(0)*x", "x", None), ("eye(1e12)*x", "x", None),
        ("vector(1, 1e12)'*vector(1, 1e12)", "x", None),
        ("size(x, 3)*a", "a", None), ("numel(a)", "a", None),
        ("x'*A*x" + "\x00", "x", None), ("x'*A*x\r\n", "x", None), ("\ufeffx'*x", "x", None),
        ("x' * A * x # comment", "x", None), ("x'*x % comment", "x", None),
        ("a" * 5000, "a", None), ("x'*x", "x" * 5000, None),
    ]
    return cases


def run_hostile():
    for text, wrt, declare in hostile_cases():
        _count("hostile")
        what = f"diff({text[:60]!r}{'...' if len(text) > 60 else ''}, wrt={str(wrt)[:30]!r}, " \
               f"declare={declare!r})"
        start = time.time()

        def one():
            try:
                if isinstance(wrt, list):
                    g = matdiff.grad(text, wrt=wrt, declare=declare)
                    str(g)
                else:
                    d = matdiff.diff(text, wrt=wrt, declare=declare)
                    str(d)
                    d.latex()
            except matdiff.MatdiffError as e:
                msg = str(e)
                assert "internal" not in msg.lower(), f"internal error: {msg[:200]}"
                assert msg.strip(), "empty message"
                return
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            guarded("hostile", what, one, 12)
        if time.time() - start > 10:
            fail("hostile", what, f"took {time.time() - start:.1f} s")
    # the CLI: no traceback, exit 2
    import subprocess
    import sys
    for args in (["diff", "x'*A*x)", "--wrt", "x"], ["diff", "", "--wrt", "x"],
                 ["diff", "x'*x", "--wrt", "y"], ["diff", "foo(x)", "--wrt", "x"],
                 ["compare", "x", "--of", "x'*x)", "--wrt", "x"],
                 ["diff", "x'*A*x", "--wrt", "x", "--declare", "A=tensor"],
                 ["codegen", "x'*x", "--wrt", "x", "--shape", "x=axb"],
                 ["diff", "x'*x", "--wrt", "x", "--layout", "sideways"]):
        _count("hostile")
        p = subprocess.run([sys.executable, "-m", "matdiff", *args], capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 2 or "Traceback" in p.stderr:
            fail("hostile", f"cli {args}", f"rc {p.returncode} {p.stderr[-300:]!r}")


# ---------------------------------------------------------------- wrong answers
# (of, wrt, declare, right answer, [wrong answers])
WRONG = [
    ("x'*A*x", "x", None, "(A + A')*x", ["2*A*x", "A*x", "(A + A')*x'", "A'*x", "-(A + A')*x",
                                          "(A + A')*x + x"]),
    ("tr(A*X*B)", "X", None, "A'*B'", ["A*B", "B*A", "(B*A)'", "A'*B", "2*A'*B'"]),
    ("logdet(X)", "X", {"X": "square matrix"}, "inv(X)'", ["inv(X)", "-inv(X)'", "X'",
                                                            "inv(X)*inv(X)'"]),
    ("det(X)", "X", {"X": "square matrix"}, "det(X)*inv(X)'", ["det(X)*inv(X)", "inv(X)'",
                                                               "-det(X)*inv(X)'"]),
    ("tr(inv(X)*A)", "X", {"X": "square matrix"}, "-(inv(X)*A*inv(X))'",
     ["-inv(X)*A*inv(X)", "(inv(X)*A*inv(X))'", "-inv(X)'*A*inv(X)'"]),
    ("norm2(X*w - y)^2", "w", None, "2*X'*(X*w - y)",
     ["X'*(X*w - y)", "2*X*(X*w - y)", "2*(X*w - y)'*X", "2*X'*(y - X*w)", "2*X'*X*w"]),
    ("mean((X*w - y).^2)", "w", None, "2*X'*(X*w - y)/size(X, 1)",
     ["2*X'*(X*w - y)", "X'*(X*w - y)/size(X, 1)", "2*X'*(X*w - y)/size(X, 2)"]),
    ("max(0, w'*x + b)", "w", {"b": "scalar"}, "step(w'*x + b)*x",
     ["x", "relu(w'*x + b)*x", "step(w'*x)*x", "-step(w'*x + b)*x", "step(w'*x + b)*w"]),
    ("sum(log(1 + exp(-y.*(X*w))))", "w", None, "-X'*(y.*sigmoid(-y.*(X*w)))",
     ["-X'*(y.*sigmoid(y.*(X*w)))", "-X'*sigmoid(-y.*(X*w))", "X'*(y.*sigmoid(-y.*(X*w)))",
      "-X*(y.*sigmoid(-y.*(X*w)))"]),
    ("-sum(sum(Y.*logsoftmax(X*W, 2)))", "W", {"Y": "one-hot rows"},
     "X'*(softmax(X*W, 2) - Y)",
     ["X'*(softmax(X*W, 2) - Y)/size(X, 1)", "X*(softmax(X*W, 2) - Y)",
      "(softmax(X*W, 2) - Y)'*X", "X'*(Y - softmax(X*W, 2))", "X'*softmax(X*W, 2)"]),
    ("sum(sum((X*W + b').^2))", "b", {"b": "vector"}, "2*sum(X*W + b', 1)'",
     ["sum(X*W + b', 1)'", "2*sum(X*W + b', 2)", "2*(X*W + b')'"]),
    ("x'*S*x", "x", {"S": "symmetric matrix"}, "2*S*x", ["S*x", "S'*x", "2*x"]),
    ("sum(sum(relu(X*W)))", "W", None, "X'*step(X*W)",
     ["X'*relu(X*W)", "X'*ones(size(X,1), size(W,2))", "step(X*W)'*X"]),
    ("sum(tanh(W*x))", "W", None, "(1 - tanh(W*x).^2)*x'",
     ["(1 - tanh(W*x).^2)'*x", "(1 - tanh(W*x))*x'", "tanh(W*x)*x'", "(1 + tanh(W*x).^2)*x'"]),
    ("y'*log(softmax(W*x))", "W", {"y": "probability vector"}, "(y - softmax(W*x))*x'",
     ["(softmax(W*x) - y)*x'", "(y - softmax(W*x))*x", "y*x'"]),
    ("sum(abs(x - y))", "x", None, "sign(x - y)", ["sign(y - x)", "abs(x - y)", "x - y"]),
    ("a*sum(x.^2)", "a", {"a": "scalar"}, "sum(x.^2)", ["2*sum(x)", "sum(x)^2", "x'*x*a"]),
]


def run_wrong():
    import warnings
    rng = np.random.default_rng(0)
    for of, wrt, declare, right, wrongs in WRONG:
        _count("wrong")

        def right_one():
            r = matdiff.compare(right, of=of, wrt=wrt, declare=declare)
            assert r.equal, f"right answer {right!r} judged {str(r)[:200]}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            guarded("wrong", f"compare({right!r}, of={of!r}, wrt={wrt!r})", right_one, 30)
        for w in wrongs:
            _count("wrong")

            def one(w=w):
                r = matdiff.compare(w, of=of, wrt=wrt, declare=declare)
                assert not r.equal, f"wrong answer judged equal: {str(r)[:200]}"
                # a diagnosis with a fix must make the answer right
                fixed = getattr(r, "fixed", None) or getattr(r, "corrected", None)
                if fixed:
                    r2 = matdiff.compare(fixed, of=of, wrt=wrt, declare=declare)
                    assert r2.equal, f"the fix {fixed!r} of {w!r} is not right: {str(r2)[:200]}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                guarded("wrong", f"compare({w!r}, of={of!r}, wrt={wrt!r})", one, 30)
    del rng


# ---------------------------------------------------------------- textbook and layers
def _num_grad(f, x, h=1e-6):
    x = np.array(x, float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def run_textbook():
    import warnings
    rng = np.random.default_rng(1)
    n, m = 4, 3
    X = rng.normal(size=(n, n)) + n * np.eye(n)
    A, B = rng.normal(size=(n, n)), rng.normal(size=(n, n))
    S = rng.normal(size=(n, n))
    S = S @ S.T + n * np.eye(n)
    a, b, x, y = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    inv = np.linalg.inv
    V = dict(X=X, A=A, B=B, S=S, a=a, b=b, x=x, y=y)
    SQ = {"X": "square matrix", "A": "square matrix", "B": "square matrix",
          "S": "symmetric matrix", "a": "vector", "b": "vector", "x": "vector", "y": "vector"}
    # (expression, wrt, textbook form): Matrix Cookbook, section 2
    book = [
        ("tr(X)", "X", np.eye(n)), ("tr(A*X)", "X", A.T), ("tr(X*A)", "X", A.T),
        ("tr(A*X*B)", "X", A.T @ B.T), ("tr(A*X'*B)", "X", B @ A),
        ("tr(X'*A)", "X", A), ("tr(X*X)", "X", 2 * X.T), ("tr(X*B*X')", "X", X @ B.T + X @ B),
        ("tr(X'*B*X)", "X", B @ X + B.T @ X), ("tr(X'*X)", "X", 2 * X),
        ("tr(A*X*B*X)", "X", A.T @ X.T @ B.T + B.T @ X.T @ A.T),
        ("tr(X^2)", "X", 2 * X.T), ("tr(inv(X))", "X", -(inv(X) @ inv(X)).T),
        ("tr(A*inv(X)*B)", "X", -(inv(X) @ B @ A @ inv(X)).T),
        ("det(X)", "X", np.linalg.det(X) * inv(X).T),
        ("log(det(X))", "X", inv(X).T), ("logdet(X)", "X", inv(X).T),
        ("det(A*X*B)", "X", np.linalg.det(A @ X @ B) * inv(X).T),
        ("det(X'*A*X)", "X", 2 * np.linalg.det(X.T @ A @ X) * inv(X).T)
        if False else ("det(X'*S*X)", "X", 2 * np.linalg.det(X.T @ S @ X) * inv(X).T),
        ("a'*X*b", "X", np.outer(a, b)), ("a'*X'*b", "X", np.outer(b, a)),
        ("a'*inv(X)*b", "X", -inv(X).T @ np.outer(a, b) @ inv(X).T),
        ("b'*X'*X*a", "X", X @ (np.outer(b, a) + np.outer(a, b))),
        ("(X*b + y)'*S*(X*b + y)", "X", 2 * S @ np.outer(X @ b + y, b)),
        ("x'*A*x", "x", (A + A.T) @ x), ("x'*S*x", "x", 2 * S @ x),
        ("(x - y)'*S*(x - y)", "x", 2 * S @ (x - y)),
        ("norm2(x - y)", "x", (x - y) / np.linalg.norm(x - y)),
        ("a'*x", "x", a), ("x'*a", "x", a), ("(A*x + b)'*S*(A*x + b)", "x", 2 * A.T @ S @ (A @ x + b)),
        ("tr(A'*X'*X*A)", "X", 2 * X @ A @ A.T),
        ("tr(X'*S*X)", "X", 2 * S @ X), ("tr(S*X*X')", "X", 2 * S @ X),
        ("sum(sum(X.*A))", "X", A), ("x'*inv(S)*x", "x", 2 * inv(S) @ x),
        ("logdet(S)", "S", inv(S)), ("tr(expm(X))" if False else "tr(X*X')", "X", 2 * X),
    ]
    for text, wrt, want in book:
        _count("textbook")
        names = {k: SQ[k] for k in SQ if k in text.replace("logdet", "").replace("det", "")
                 .replace("expm", "")}

        def one(text=text, wrt=wrt, want=want, names=names):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = matdiff.diff(text, wrt=wrt, declare=names)
            got = d.evaluate({k: V[k] for k in d.function.variables})
            assert np.allclose(got, want, rtol=1e-8, atol=1e-9), f"{text}: {got} != {want}"
            fn = d.compile()
            got2 = fn(**{k: V[k] for k in d.function.variables})
            assert np.allclose(got2, want, rtol=1e-8, atol=1e-9), f"compiled {text}"
        guarded("textbook", f"diff({text!r}, wrt={wrt!r}, declare={names!r})", one, 30)
    run_layers()


def run_layers():
    import warnings
    rng = np.random.default_rng(2)
    N, D, H, K = 5, 4, 3, 3
    Xd = rng.normal(size=(N, D))
    W1, b1 = rng.normal(size=(D, H)), rng.normal(size=H)
    W2, b2 = rng.normal(size=(H, K)), rng.normal(size=K)
    Y = np.eye(K)[rng.integers(0, K, N)]
    yv = rng.normal(size=N)
    gamma, beta = rng.normal(size=D), rng.normal(size=D)

    def softmax(Z):
        e = np.exp(Z - Z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    # (program or expression, wrt -> textbook gradient)
    Z1 = Xd @ W1 + b1
    Hh = np.maximum(Z1, 0)
    Sc = Hh @ W2 + b2
    P = softmax(Sc)
    dS = (P - Y) / N
    dH = dS @ W2.T * (Z1 > 0)
    mlp = ("X: matrix(N, D)\nb1, b2: vector\nY: one-hot rows(N, K)\nZ1 = X*W1 + b1'\n"
           "H = relu(Z1)\nS = H*W2 + b2'\nL = -sum(sum(Y.*logsoftmax(S, 2)))/size(X, 1)")
    want_mlp = {"W2": Hh.T @ dS, "b2": dS.sum(0), "W1": Xd.T @ dH, "b1": dH.sum(0)}
    vals_mlp = dict(X=Xd, W1=W1, b1=b1, W2=W2, b2=b2, Y=Y)
    # batch norm of X (N x D), loss sum(Yb .* BN(X)) with Yb random: textbook dX
    eps = 1e-5
    G = rng.normal(size=(N, D))
    mu = Xd.mean(0)
    var = ((Xd - mu) ** 2).mean(0)
    Xh = (Xd - mu) / np.sqrt(var + eps)
    dXh = G * gamma
    dX_bn = (1 / N) / np.sqrt(var + eps) * (N * dXh - dXh.sum(0) - Xh * (dXh * Xh).sum(0))
    bn = ("X: matrix(N, D)\nG: matrix(N, D)\ngamma, beta: vector\nmu = mean(X, 1)\n"
          "v = mean((X - mu).^2, 1)\nXh = (X - mu)./sqrt(v + 1e-5)\nY = gamma'.*Xh + beta'\n"
          "L = sum(sum(G.*Y))")
    want_bn = {"X": dX_bn, "gamma": (G * Xh).sum(0), "beta": G.sum(0)}
    vals_bn = dict(X=Xd, G=G, gamma=gamma, beta=beta)
    # layer norm of a vector x: y = (x - mean(x))/sqrt(var + eps); loss g'*y
    xv, gv = rng.normal(size=D), rng.normal(size=D)
    mx, vx = xv.mean(), xv.var()
    xh = (xv - mx) / np.sqrt(vx + eps)
    dx_ln = (gv - gv.mean() - xh * (gv * xh).mean()) / np.sqrt(vx + eps)
    ln = "x, g: vector\nm = mean(x)\ns = mean((x - m).^2)\nL = g'*((x - m)/sqrt(s + 1e-5))"
    # attention: L = sum(sum(G .* softmax(Q*K'/sqrt(d), 2)*V))
    Q, Kk, Vv = rng.normal(size=(N, D)), rng.normal(size=(N, D)), rng.normal(size=(N, D))
    Ga = rng.normal(size=(N, D))
    Sa = Q @ Kk.T / np.sqrt(D)
    Pa = softmax(Sa)
    dP = Ga @ Vv.T
    dSa = Pa * (dP - (dP * Pa).sum(1, keepdims=True))
    att = ("Q, K, V, G: matrix(N, D)\nS = Q*K'/sqrt(size(Q, 2))\nP = softmax(S, 2)\n"
           "L = sum(sum(G.*(P*V)))")
    want_att = {"Q": dSa @ Kk / np.sqrt(D), "K": dSa.T @ Q / np.sqrt(D), "V": Pa.T @ Ga}
    vals_att = dict(Q=Q, K=Kk, V=Vv, G=Ga)
    # RNN cell: h1 = tanh(Wh*h + Wx*x + b); L = u'*h1
    Wh, Wx = rng.normal(size=(H, H)), rng.normal(size=(H, D))
    h0, xr, br, u = rng.normal(size=H), rng.normal(size=D), rng.normal(size=H), rng.normal(size=H)
    h1 = np.tanh(Wh @ h0 + Wx @ xr + br)
    dz = u * (1 - h1 ** 2)
    rnn = "h, x, b, u: vector\nz = Wh*h + Wx*x + b\nh1 = tanh(z)\nL = u'*h1"
    want_rnn = {"Wh": np.outer(dz, h0), "Wx": np.outer(dz, xr), "b": dz, "h": Wh.T @ dz}
    vals_rnn = dict(Wh=Wh, Wx=Wx, h=h0, x=xr, b=br, u=u)
    # linear layer + mse
    lin = "y: vector\nb: scalar\nr = X*w + b - y\nL = mean(r.^2)"
    w = rng.normal(size=D)
    rl = Xd @ w + 0.3 - yv
    want_lin = {"w": 2 * Xd.T @ rl / N, "b": 2 * rl.mean()}
    vals_lin = dict(X=Xd, w=w, b=0.3, y=yv)
    cases = [("mlp", mlp, want_mlp, vals_mlp), ("batchnorm", bn, want_bn, vals_bn),
             ("layernorm", ln, {"x": dx_ln}, dict(x=xv, g=gv)),
             ("attention", att, want_att, vals_att), ("rnn", rnn, want_rnn, vals_rnn),
             ("linear", lin, want_lin, vals_lin)]
    import printed_truth as pt
    for name, prog, want, vals in cases:
        _count("layers")

        def one(prog=prog, want=want, vals=vals):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g = matdiff.grad(prog, wrt=list(want))
            for k, v in want.items():
                got = g[k].evaluate(vals)
                assert np.allclose(got, v, rtol=1e-6, atol=1e-9), f"g[{k}] {got} != {v}"
            allv = g.evaluate(vals)
            for k, v in want.items():
                assert np.allclose(allv[k], v, rtol=1e-6, atol=1e-9), f"g.evaluate [{k}]"
            pt.check_backward(g, vals)
            f = matdiff.value_and_grad(prog, wrt=list(want))
            _, gs = f(**vals)
            for (k, v), gk in zip(want.items(), gs):
                assert np.allclose(gk, v, rtol=1e-6, atol=1e-9), f"value_and_grad {k}"
            import torch
            ft = matdiff.value_and_grad(prog, wrt=list(want), backend="torch")
            _, gs = ft(**{k: torch.tensor(np.asarray(v, float)) for k, v in vals.items()})
            for (k, v), gk in zip(want.items(), gs):
                assert np.allclose(gk.numpy(), v, rtol=1e-6, atol=1e-9), f"torch {k}"
            # float32 finiteness at large inputs
            big = {k: (np.asarray(v) * 1e3).astype(np.float32) if np.ndim(v) else v * 1e3
                   for k, v in vals.items() if k not in ("Y",)}
            if "Y" in vals:
                big["Y"] = vals["Y"].astype(np.float32)
            val, gs = f(**big)
            assert np.all(np.isfinite(val)), f"not finite at large inputs: {val}"
            for k, gk in zip(want, gs):
                assert np.all(np.isfinite(gk)), f"grad {k} not finite at large inputs"
        guarded("layers", f"{name}: grad({prog!r})", one, 60)


def main(what):
    {"hostile": run_hostile, "wrong": run_wrong, "textbook": run_textbook,
     "nets": _main_nets, "mutants": lambda: run_mutants(*_sizes(200)),
     "passes": lambda: run_pass_mutants(*_sizes(15))}[what]()
    print(f"counts: {_COUNTS}")


# ---------------------------------------------------------------- network programs
def run_nets(n=60, seed=0):
    """Random small networks over a batch (non-square sizes, row-vector biases, axis ops)."""
    import random
    import warnings

    import jax
    import jax.numpy as jnp

    import printed_truth as pt
    R = random.Random(seed)
    rng = np.random.default_rng(seed)
    Nn, D, H, K = 5, 4, 3, 2
    acts = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
            "softplus": jax.nn.softplus, "logsigmoid": jax.nn.log_sigmoid,
            "abs": jnp.abs, "exp": jnp.exp}
    for i in range(n):
        _count("nets")
        act1, act2 = R.choice(list(acts)), R.choice(list(acts))
        lines = ["X: matrix(N, D)", "Y: one-hot rows(N, K)", "T: matrix(N, K)",
                 "b1: vector(H)", "b2: vector(K)", "g: vector(H)", "W1: matrix(D, H)",
                 "W2: matrix(H, K)"]
        body = [f"Z1 = X*W1 + b1'", f"A1 = {act1}(Z1)"]
        norm = R.random() < 0.5
        axis = R.choice([1, 2])
        if norm:
            body += [f"M = mean(A1, {axis})", f"V = mean((A1 - M).^2, {axis})",
                     "A1n = g'.*(A1 - M)./sqrt(V + 1e-5)"]
            last = "A1n"
        else:
            last = "A1"
        body += [f"S = {last}*W2 + b2'"]
        loss = R.choice(["ce", "mse", "lse", "act"])
        if loss == "ce":
            body += ["L = -sum(sum(Y.*logsoftmax(S, 2)))/size(X, 1)"]
        elif loss == "mse":
            body += ["L = mean(mean((S - T).^2))" if R.random() < 0.5 else
                     "L = sum(sum((S - T).^2))/numel(S)" if False else
                     "L = sum(sum((S - T).^2))"]
        elif loss == "lse":
            body += ["L = sum(logsumexp(S, 2)) - sum(sum(Y.*S))"]
        else:
            body += [f"L = sum(sum({act2}(S).*T))"]
        prog = "\n".join(lines + body)
        vals = dict(X=rng.normal(size=(Nn, D)), Y=np.eye(K)[rng.integers(0, K, Nn)],
                    T=rng.normal(size=(Nn, K)), b1=rng.normal(size=H), b2=rng.normal(size=K),
                    g=rng.normal(size=H), W1=rng.normal(size=(D, H)),
                    W2=rng.normal(size=(H, K)))

        def jloss(P, act1=act1, act2=act2, norm=norm, axis=axis, loss=loss):
            Z1 = P["X"] @ P["W1"] + P["b1"][None, :]
            A1 = acts[act1](Z1)
            if norm:
                ax = 0 if axis == 1 else 1
                M = A1.mean(ax, keepdims=True)
                V = ((A1 - M) ** 2).mean(ax, keepdims=True)
                A1 = P["g"][None, :] * (A1 - M) / jnp.sqrt(V + 1e-5)
            S = A1 @ P["W2"] + P["b2"][None, :]
            if loss == "ce":
                return -jnp.sum(P["Y"] * jax.nn.log_softmax(S, axis=1)) / P["X"].shape[0]
            if loss == "mse":
                return jnp.sum((S - P["T"]) ** 2) if "mean(mean" not in prog else \
                    jnp.mean((S - P["T"]) ** 2)
            if loss == "lse":
                return jnp.sum(jax.scipy.special.logsumexp(S, axis=1)) - jnp.sum(P["Y"] * S)
            return jnp.sum(acts[act2](S) * P["T"])
        wrt = ["W1", "b1", "W2", "b2"] + (["g"] if norm else [])
        used_names = {k: v for k, v in vals.items() if k in prog.split("\n", 8)[-1] or k in
                      "".join(body)}

        def one(prog=prog, jloss=jloss, wrt=wrt, used_names=used_names):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g = matdiff.grad(prog, wrt=wrt)
            P = {k: jnp.asarray(v) for k, v in used_names.items()}
            want = jax.grad(lambda sub: jloss({**P, **sub}))({w: P[w] for w in wrt})
            allv = g.evaluate(used_names)
            for w in wrt:
                assert np.allclose(g[w].evaluate(used_names), want[w], rtol=1e-6, atol=1e-8), \
                    f"g[{w}]"
                assert np.allclose(allv[w], want[w], rtol=1e-6, atol=1e-8), f"evaluate[{w}]"
            pt.check_backward(g, used_names)
            f = matdiff.value_and_grad(prog, wrt=wrt)
            val, gs = f(**used_names)
            assert np.allclose(val, float(jloss(P)), rtol=1e-7), "value"
            for w, gw in zip(wrt, gs):
                assert np.allclose(gw, want[w], rtol=1e-6, atol=1e-8), f"value_and_grad {w}"
            import torch
            ft = matdiff.value_and_grad(prog, wrt=wrt, backend="torch")
            val, gs = ft(**{k: torch.tensor(v) for k, v in used_names.items()})
            for w, gw in zip(wrt, gs):
                assert np.allclose(gw.numpy(), want[w], rtol=1e-6, atol=1e-8), f"torch {w}"
            # the backward pass, as a learner would hand it in, is judged right line by line
            r = matdiff.compare(g.program_text().split("\n\n")[-1] if False else
                                "\n".join(ln for ln in g.to_text().splitlines()
                                          if ln.strip().startswith("d")),
                                of=prog, wrt=wrt)
            assert r.equal, f"its own backward pass judged: {str(r)[:300]}"
        guarded("nets", f"grad({prog!r}, wrt={wrt})", one, 60)


def _sizes(default):
    import sys
    return (int(sys.argv[2]) if len(sys.argv) > 2 else default,
            int(sys.argv[3]) if len(sys.argv) > 3 else 0)


def _main_nets():
    import sys
    run_nets(int(sys.argv[2]) if len(sys.argv) > 2 else 40, int(sys.argv[3]) if
             len(sys.argv) > 3 else 0)


# ---------------------------------------------------------------- mutated answers
def mutants(text):
    """Slips a learner makes, written into a right answer's text."""
    import re
    out = []
    for m in re.finditer(r"'", text):
        out.append(("drop transpose", text[:m.start()] + text[m.end():]))
    for m in re.finditer(r"(?<![(*/^.eE])-", text):
        out.append(("sign", text[:m.start()] + "+" + text[m.end():]))
    for m in re.finditer(r" \+ ", text):
        out.append(("sign", text[:m.start()] + " - " + text[m.end():]))
    for m in re.finditer(r"\b(\d+(?:\.\d+)?)\*", text):
        out.append(("factor", text[:m.start()] + text[m.end():]))
    for m in re.finditer(r"/size\([^)]*\)|/numel\([^)]*\)", text):
        out.append(("size factor", text[:m.start()] + text[m.end():]))
    for m in re.finditer(r"step\(", text):
        out.append(("indicator", text[:m.start()] + "relu(" + text[m.end():]))
    for m in re.finditer(r"step\(([^()]*)\)\.?\*", text):
        out.append(("missing indicator", text[:m.start()] + text[m.end():]))
    out.append(("whole sign", f"-({text})"))
    out.append(("doubled", f"2*({text})"))
    return out


def run_mutants(n=200, seed=0):
    import random
    import warnings

    import soak
    R = random.Random(seed)
    rng = np.random.default_rng(seed)
    g = soak.Gen(R)
    for i in range(n):
        text, _ = g.gen("s", R.randint(1, 3))
        names = soak.used(text)
        wrts = [w for w in names if w in soak.WRTABLE]
        if not wrts:
            continue
        wrt = R.choice(wrts)
        decl = {k: soak.DECLARE[k] for k in names}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                d = matdiff.diff(text, wrt=wrt, declare=decl)
                right = str(d)
            except matdiff.MatdiffError:
                continue
        points = []
        for k in range(3):
            V = soak.make_values(rng)
            points.append({k2: V[k2] for k2 in names})
        want = [np.asarray(d.evaluate(p), float) for p in points]
        for kind, m in mutants(right)[:6]:
            try:
                e = matdiff.parse(m, declare=decl)
                got = [np.asarray(e.evaluate(p), float) for p in points]
            except (matdiff.MatdiffError, Exception):  # noqa: BLE001
                continue
            if all(a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-8)
                   for a, b in zip(got, want)):
                continue  # the slip changed nothing here
            if any(a.shape != b.shape for a, b in zip(got, want)):
                continue
            _count("mutants")

            def one(m=m, kind=kind, text=text, wrt=wrt, decl=decl):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = matdiff.compare(m, of=text, wrt=wrt, declare=decl)
                assert not r.equal, f"{kind} slip {m!r} for {right!r} judged equal: {str(r)[:200]}"
                if r.mistake == "sign":
                    r2 = matdiff.compare(f"-({m})", of=text, wrt=wrt, declare=decl)
                    assert r2.equal, f"diagnosed sign, but -({m}) is not right: {r.diagnosis}"
                if r.mistake == "layout":
                    r2 = matdiff.compare(f"({m})'", of=text, wrt=wrt, declare=decl)
                    assert r2.equal, f"diagnosed layout, but ({m})' is not right"
            guarded("mutants", f"compare({m!r}, of={text!r}, wrt={wrt!r}, declare={decl!r})",
                    one, 30)


def run_pass_mutants(n=15, seed=0):
    """A network's own backward pass with one slip in one line: never judged all right,
    and the slipped line (or one before it) is named first."""
    import random
    import warnings
    R = random.Random(seed)
    rng = np.random.default_rng(seed)
    progs = [
        ("X: matrix(N, D)\nY: one-hot rows(N, K)\nb1: vector(H)\nb2: vector(K)\n"
         "Z1 = X*W1 + b1'\nH = relu(Z1)\nS = H*W2 + b2'\n"
         "L = -sum(sum(Y.*logsoftmax(S, 2)))/size(X, 1)", ["W1", "b1", "W2", "b2"]),
        ("X: matrix(N, D)\nG: matrix(N, D)\ngamma, beta: vector(D)\nmu = mean(X, 1)\n"
         "v = mean((X - mu).^2, 1)\nXh = (X - mu)./sqrt(v + 1e-5)\nY = gamma'.*Xh + beta'\n"
         "L = sum(sum(G.*Y))", ["X", "gamma", "beta"]),
        ("y: vector\nb: scalar\nr = X*w + b - y\nL = mean(r.^2)", ["w", "b"]),
        ("h, x, b, u: vector\nz = Wh*h + Wx*x + b\nh1 = tanh(z)\nL = u'*h1", ["Wh", "Wx", "b"]),
    ]
    for prog, wrt in progs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = matdiff.grad(prog, wrt=wrt)
            lines = g.to_text().splitlines()
            text = g.program_text()
            e0 = matdiff.parse(prog)
        import printed_truth as pt
        vals = pt.values_for(e0.variables, seed=seed)
        for k, line in enumerate(lines):
            name, _, rhs = line.partition(" = ")
            for kind, m in mutants(rhs)[:4]:
                new_lines = lines[:k] + [f"{name} = {m}"] + lines[k + 1:]
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        new_text = text.replace(line, f"{name} = {m}")
                        got = matdiff.parse(new_text, of=name.strip()).evaluate(vals)
                        want = matdiff.parse(text, of=name.strip()).evaluate(vals)
                except Exception:  # noqa: BLE001
                    continue
                if np.shape(got) == np.shape(want) and np.allclose(got, want):
                    continue
                _count("pass mutants")

                def one(new_lines=new_lines, k=k, m=m, kind=kind, prog=prog, wrt=wrt):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        r = matdiff.compare("\n".join(new_lines), of=prog, wrt=wrt)
                    assert not r.equal, f"{kind} slip in line {k} judged all right"
                    first = next(i for i, ln in enumerate(r.lines) if not ln.equal)
                    assert first <= k, f"{kind} slip in line {k}, first wrong {first}: {r}"
                guarded("pass mutants", f"{lines[k]!r} -> {m!r} in {prog!r}", one, 60)
