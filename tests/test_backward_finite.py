"""The backward pass of a program is finite wherever the function is (issue 18, section 6).

A program names a stable function on a line of its own (`s = softmax(z)`, `l =
logsoftmax(z)`, `p = sigmoid(z)`, `e = exp(z)`, along an axis too) and takes its log on a
later line, perhaps through another line (`c = sum(e)`, `q = exp(l)`), perhaps also using
the line's value elsewhere (`sum(s.^2)`): reverse mode over the lines as written sends
`y./s` back through s, NaN once s underflows, though the loss and its gradient are finite.
Hypothesis draws such programs and checks the compiled `value_and_grad` (NumPy and
PyTorch; logits up to 1000 in float64, 200 in float32) finite at the extremes and equal,
at moderate inputs, to the forward-mode derivative evaluated in float64; and the printed
backward pass, parsed back with the forward program (and run line by line by
`Gradients.evaluate`), finite at the extremes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import matdiff

torch = pytest.importorskip("torch")

DECLARE = {"X": "matrix(n, k)", "W": "matrix(k, k)", "b": "vector(k)", "u": "vector(n)",
           "w": "vector(k)", "Y": "one-hot rows(n, k)", "y": "one-hot vector(n)",
           "t": "vector(n)"}
DATA = ("Y", "y", "t")  # labels: not differentiated
MATRICES = ["X", "X*W", "X + vector(1)*b'", "X*W + vector(1)*b'"]
VECTORS = ["u", "X*w", "u + X*w"]

# a named stable line over the logits {a}, then the terms that take its log ({n} its name,
# {m} the name of a line in between, whose text is `between`)
VECTOR_LINES = [
    ("softmax({a})", None, ["-y'*log({n})", "-sum(log({n}))", "sum({n}.^2)"]),
    ("logsoftmax({a})", "exp({n})", ["-y'*log({m})", "-y'*{n}"]),
    ("sigmoid({a})", None, ["-sum(t.*log({n}) + (1 - t).*log(1 - {n}))", "-sum(log({n}))",
                            "-sum(log(1 - {n}))", "sum({n})"]),
    ("sigmoid({a})", "1 - {n}", ["-sum(log({m}))", "-t'*log({m})"]),
    ("exp({a})", None, ["log(sum({n}))", "sum(log({n}))"]),
    ("exp({a})", "sum({n})", ["log({m})", "2*log({m})"]),
]
MATRIX_LINES = [
    ("softmax({a}, 2)", None, ["-sum(sum(Y .* log({n})))", "sum(sum({n} .* Y))"]),
    ("softmax({a}, 1)", None, ["-sum(sum(Y .* log({n})))"]),
    ("exp({a})", "sum({n}, 2)", ["sum(log({m}))"]),
    ("exp({a})", None, ["sum(log(sum({n}, 2)))", "sum(log(sum({n}, 1)))"]),
]


@st.composite
def programs(draw) -> str:
    """A program of a named pre-activation (or none), 1 or 2 stable lines, and L."""
    lines: list[str] = []
    terms: list[str] = []
    for k in range(draw(st.integers(1, 2))):
        matrix = draw(st.booleans())
        a = draw(st.sampled_from(MATRICES if matrix else VECTORS))
        if draw(st.booleans()):  # the logits on a line of their own
            z = f"Z{k}" if matrix else f"z{k}"
            lines.append(f"{z} = {a}")
            a = z
        line, between, uses = draw(st.sampled_from(MATRIX_LINES if matrix else VECTOR_LINES))
        n, m = f"s{k}", f"c{k}"
        lines.append(f"{n} = {line.format(a=a)}")
        if between is not None:
            lines.append(f"{m} = {between.format(n=n)}")
        chosen = draw(st.lists(st.sampled_from(uses), min_size=1, max_size=2, unique=True))
        if between is not None and not any("{m}" in u for u in chosen):
            chosen.append(next(u for u in uses if "{m}" in u))
        terms += [u.format(n=n, m=m) for u in chosen]
    lines.append("L = " + " + ".join(terms))
    return "\n".join(lines)


def values(seed: int, limit: float, n: int = 4, k: int = 3) -> dict:
    """Logits up to `limit` (a row at the extremes: a gap of 2*limit), weights of order one."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, k)) * limit
    X[0] = [limit, -limit, 0.0]
    return {"X": X, "u": rng.uniform(-1, 1, n) * limit,
            "W": rng.uniform(-1, 1, (k, k)) / k, "b": rng.uniform(-1, 1, k),
            "w": rng.uniform(-1, 1, k) / k, "Y": np.eye(k)[rng.integers(0, k, n)],
            "y": np.eye(n)[rng.integers(0, n)], "t": rng.uniform(0, 1, n)}


def _wrt(text: str) -> tuple[list[str], list[str]]:
    names = sorted(matdiff.parse(text, declare=DECLARE).variables)
    return names, [n for n in names if n not in DATA]


def _compiled(text, names, wrt, backend, vals, dtype):
    fn = matdiff.value_and_grad(text, wrt=wrt, declare=DECLARE, backend=backend)
    if backend == "torch":
        args = {n: torch.as_tensor(np.asarray(vals[n], dtype=dtype)) for n in names}
    else:
        args = {n: np.asarray(vals[n], dtype=dtype) for n in names}
    with np.errstate(all="ignore"):
        value, grads = fn(**args)
    out = [value, *grads]
    return [np.asarray(a.detach().numpy() if torch.is_tensor(a) else a, dtype=np.float64)
            for a in out]


@settings(max_examples=25, deadline=None,  # explain off: its phase fails on these draws
          phases=[p for p in Phase if p is not Phase.explain])
@given(programs(), st.integers(0, 2**32 - 1))
def test_a_programs_backward_pass_is_finite_through_a_named_stable_line(text, seed):
    names, wrt = _wrt(text)
    # compiled, at the extremes: finite on both backends, in float64 and float32
    for backend, dtype, limit in (("numpy", "float64", 1000.0), ("torch", "float64", 1000.0),
                                  ("torch", "float32", 200.0)):
        got = _compiled(text, names, wrt, backend, values(seed, limit), dtype)
        for name, a in zip(["value", *wrt], got):
            assert np.all(np.isfinite(a)), f"{text}\n{backend} {dtype}: {name} = {a}"
    # compiled, at moderate inputs: the forward-mode derivative, in float64
    moderate = values(seed, 3.0)
    want = [matdiff.diff(text, wrt=w, declare=DECLARE).evaluate(moderate) for w in wrt]
    for backend in ("numpy", "torch"):
        got = _compiled(text, names, wrt, backend, moderate, "float64")
        for w, a, b in zip(wrt, got[1:], want):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9,
                                       err_msg=f"{text}\n{backend}: d/d{w}")
    # printed, at the extremes: the backward pass parsed back with the forward program
    g = matdiff.grad(text, wrt=wrt, declare=DECLARE)
    extreme = values(seed, 1000.0)
    with np.errstate(all="ignore"):  # the pass run line by line, as Gradients.evaluate does
        ran = g.evaluate(extreme)
    for w in wrt:
        assert np.all(np.isfinite(ran[w])), f"{text}\nprinted:\n{g.to_text()}\nd/d{w}"
    for w, b in zip(wrt, want):
        a = _printed(g, w, extreme)
        assert np.all(np.isfinite(a)), f"{text}\nprinted:\n{g.to_text()}\nd/d{w} = {a}"
        np.testing.assert_allclose(_printed(g, w, moderate), b, rtol=1e-9, atol=1e-9,
                                   err_msg=f"{text}\nprinted:\n{g.to_text()}")


def _printed(g, w: str, vals: dict) -> np.ndarray:
    """d/dw by the printed forward and backward program, parsed back and evaluated from the
    variables' values alone."""
    with np.errstate(all="ignore"):
        a = matdiff.parse(g.program_text(), of=g.names()[w]).evaluate(vals)
    return np.asarray(a, dtype=np.float64)


VECTOR = {"W": "matrix(k, d)", "x": "vector(d)", "b": "vector(k)", "y": "one-hot vector(k)"}
BATCH = {"X": "matrix(n, d)", "W": "matrix(d, k)", "Y": "one-hot rows(n, k)", "N": "scalar"}


@pytest.mark.parametrize("text, declare, printed", [
    ("z = W*x + b\ns = softmax(z)\nL = -y'*log(s)", VECTOR, "dz = s - y"),
    ("z = W*x + b\ne = exp(z)\nL = log(sum(e))", VECTOR, "dz = softmax(z)"),
    ("Z = X*W\ns = softmax(Z, 2)\nL = -sum(sum(Y .* log(s)))/N", BATCH, "dW = X'*(s - Y)/N"),
])
def test_the_printed_pass_runs_through_the_stable_form(text, declare, printed):
    """The error signal of the logits is the textbook's (softmax(z) - y, written through
    the line s), not the chain through y./s."""
    wrt = [n for n in ("W", "b") if n in text]
    assert printed in matdiff.grad(text, wrt=wrt, declare=declare).to_text().splitlines()


def test_the_explanation_says_which_log_is_taken_in_its_stable_form():
    text = "z = W*x + b\ns = softmax(z)\nL = -y'*log(s)"
    why = matdiff.grad(text, wrt=["W", "b"], declare=VECTOR).explain().splitlines()[2]
    assert "through L" in why and "L takes log(s) as z - logsumexp(z)" in why, why
