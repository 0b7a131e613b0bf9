"""The backward pass: every gradient against finite differences of a NumPy twin, and the
printed backward program run after the forward program computes exactly those gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from conftest import assert_matches, numeric_derivative
from program_kinds import typed_programs, values_for

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


def mlp(layers: int, act: str) -> tuple[str, list[str], dict, callable]:
    """A program of `layers` dense layers with a softmax cross-entropy loss, and its twin."""
    rng = np.random.default_rng(layers * 10 + len(act))
    sizes = [3] + [4] * (layers - 1) + [3]
    lines = [", ".join(f"b{k}" for k in range(1, layers + 1)) + ": vector"]
    h = "x"
    for k in range(1, layers + 1):
        lines.append(f"z{k} = W{k}*{h} + b{k}")
        if k < layers:
            lines.append(f"h{k} = {act}(z{k})")
            h = f"h{k}"
    lines.append(f"L = -y'*log(softmax(z{layers}))")
    values = {"x": rng.normal(size=3), "y": np.array([0.2, 0.3, 0.5])}
    params = []
    for k in range(1, layers + 1):
        values[f"W{k}"] = rng.normal(size=(sizes[k], sizes[k - 1]))
        values[f"b{k}"] = rng.normal(size=sizes[k]) * 0.5
        params += [f"W{k}", f"b{k}"]

    def twin(v):
        a = v["x"]
        for k in range(1, layers + 1):
            z = v[f"W{k}"] @ a + v[f"b{k}"]
            a = ACTIVATIONS[act](z) if k < layers else z
        a = a - a.max()
        return float(-v["y"] @ (a - np.log(np.exp(a).sum())))

    return "\n".join(lines), params, values, twin


def check_program(text: str, params: list[str], values: dict, twin, declare=None) -> None:
    g = matdiff.grad(text, wrt=params, declare=declare)
    by_backward = g.evaluate(values)
    full = g.program_text()
    for name in params:
        want = numeric_derivative(twin, values, name)
        assert_matches(g[name].evaluate(values), want, what=f"d/d{name}")
        assert_matches(by_backward[name], want, what=f"backward d/d{name}")
        # the printed backward program, parsed after the forward program, computes it
        printed = matdiff.parse(full, declare=declare, of=g.names()[name])
        assert_matches(printed.evaluate(values), want, what=f"printed d{name}")


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_mlp_gradients_and_printed_backward_pass(layers, act) -> None:
    text, params, values, twin = mlp(layers, act)
    check_program(text, params, values, twin)


def test_two_layer_backward_pass_reads_like_the_textbook() -> None:
    text, params, _, _ = mlp(2, "relu")
    g = matdiff.grad(text, wrt=params)
    lines = str(g).splitlines()
    assert lines == [
        "dz2 = sum(y)*softmax(z2) - y",
        "dW2 = dz2*h1'",
        "db2 = dz2",
        "dz1 = (W2'*dz2).*step(z1)",
        "dW1 = dz1*x'",
        "db1 = dz1",
    ]
    latex = g.latex()
    assert "\\delta_{z_{1}}" in latex and "\\odot" in latex
    assert "\\frac{\\partial L}{\\partial W_{1}}" in latex
    steps = g.explain()
    assert steps.count("vector chain rule") == len(lines)
    assert "`dW1 = dz1*x'`" in g.explain(format="markdown")
    assert "\\delta" in g.explain(format="latex")


def test_a_reused_intermediate_accumulates_error_signals() -> None:
    text = "h1 = tanh(W1*x)\nh2 = h1 + relu(W*h1)\nh3 = h2 + tanh(V*h1)\nL = sum(h3.^2)"
    rng = np.random.default_rng(3)
    values = {"W1": rng.normal(size=(3, 2)), "x": rng.normal(size=2),
              "W": rng.normal(size=(3, 3)), "V": rng.normal(size=(3, 3))}

    def twin(v):
        h1 = np.tanh(v["W1"] @ v["x"])
        h2 = h1 + np.maximum(v["W"] @ h1, 0)
        h3 = h2 + np.tanh(v["V"] @ h1)
        return float((h3 ** 2).sum())

    check_program(text, ["W1", "W", "V"], values, twin)
    g = matdiff.grad(text, wrt=["W1", "W", "V"])
    dh1 = next(ln for ln in str(g).splitlines() if ln.startswith("dW1 ="))
    assert "+" in dh1  # h1 is used twice: the signals from h2 and h3 add up


def test_scalar_and_matrix_inputs_and_a_mean() -> None:
    text = "c: scalar\nZ = X*W + c\nH = tanh(Z)\nL = mean((H*v - y).^2)"
    rng = np.random.default_rng(5)
    values = {"X": rng.normal(size=(6, 3)), "W": rng.normal(size=(3, 2)), "c": 0.3,
              "v": rng.normal(size=2), "y": rng.normal(size=6)}

    def twin(v):
        H = np.tanh(v["X"] @ v["W"] + v["c"])
        return float(np.mean((H @ v["v"] - v["y"]) ** 2))

    check_program(text, ["W", "c", "v"], values, twin)


def test_an_unused_declared_input_has_a_zero_gradient() -> None:
    g = matdiff.grad("q: vector\nz = W*x\nL = sum(z)", wrt=["W", "q"])
    assert "dq = " in str(g)
    out = g.evaluate({"W": np.ones((2, 3)), "x": np.ones(3), "q": np.ones(4)})
    assert np.all(out["q"] == 0)


def test_a_single_expression_has_a_backward_pass_too() -> None:
    g = matdiff.grad("sum(log(1 + exp(-y .* (X*w))))", wrt=["w", "X"])
    text = g.program_text()
    assert text.startswith("f = ")
    rng = np.random.default_rng(2)
    v = {"X": rng.normal(size=(5, 3)), "w": rng.normal(size=3), "y": rng.normal(size=5)}
    for name in ("w", "X"):
        assert_matches(matdiff.parse(text, of=g.names()[name]).evaluate(v),
                       g[name].evaluate(v), what=name)


# --------------------------------------------------------------------------- random programs

UNARY = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
         "softplus": lambda z: np.log1p(np.exp(z)), "sin": np.sin}


@st.composite
def programs(draw):
    """2 to 6 lines over vectors of length 3, each using earlier names, ending in a scalar."""
    n_lines = draw(st.integers(2, 6))
    names = ["x"]              # vector-valued names so far
    lines, steps = [], []
    matrices = []
    for k in range(1, n_lines):
        kind = draw(st.sampled_from(["layer", "add", "had", "scale"]))
        u = draw(st.sampled_from(names))
        v = draw(st.sampled_from(names))
        if kind == "layer":
            f = draw(st.sampled_from(sorted(UNARY)))
            m = f"M{k}"
            matrices.append(m)
            lines.append(f"h{k} = {f}({m}*{u})")
            steps.append((f"h{k}", lambda e, f=f, m=m, u=u: UNARY[f](e[m] @ e[u])))
        elif kind == "add":
            lines.append(f"h{k} = {u} + {v}")
            steps.append((f"h{k}", lambda e, u=u, v=v: e[u] + e[v]))
        elif kind == "had":
            lines.append(f"h{k} = {u} .* {v}")
            steps.append((f"h{k}", lambda e, u=u, v=v: e[u] * e[v]))
        else:
            lines.append(f"h{k} = c*{u} - {v}")
            steps.append((f"h{k}", lambda e, u=u, v=v: e["c"] * e[u] - e[v]))
        names.append(f"h{k}")
    u = draw(st.sampled_from(names[1:]))
    v = draw(st.sampled_from(names))
    end = draw(st.sampled_from(["dot", "lse", "sq"]))
    if end == "dot":
        lines.append(f"L = {u}'*{v}")
        steps.append(("L", lambda e, u=u, v=v: float(e[u] @ e[v])))
    elif end == "lse":
        lines.append(f"L = logsumexp({u}) + sum({v})")
        steps.append(("L", lambda e, u=u, v=v: float(np.log(np.exp(e[u]).sum()) + e[v].sum())))
    else:
        lines.append(f"L = sum({u}.^2)")
        steps.append(("L", lambda e, u=u: float((e[u] ** 2).sum())))
    return lines, steps, matrices


def program_case(case):
    """A drawn program as (text, its parameters, values, its NumPy twin computing L)."""
    lines, steps, matrices = case
    text = "c: scalar\n" + "\n".join(lines)
    rng = np.random.default_rng(len(text))
    values = {"x": rng.normal(size=3), "c": 0.7}
    values |= {m: rng.normal(size=(3, 3)) * 0.7 for m in matrices}

    def twin(v):
        env = dict(v)
        for name, fn in steps:
            env[name] = fn(env)
        return env["L"]

    f = matdiff.parse(text)
    params = [p for p in ["x", "c", *matrices] if p in f.variables]
    return text, params, values, twin


@settings(max_examples=30)
@given(programs())
def test_random_programs(case) -> None:
    check_program(*program_case(case))


# --------------------------------------------------------------------------- compiled

@pytest.mark.parametrize("layers, act", [(1, "tanh"), (2, "relu"), (3, "sigmoid")])
def test_compiled_value_and_every_gradient(layers, act) -> None:
    text, params, values, twin = mlp(layers, act)
    fn = matdiff.value_and_grad(text, wrt=params)
    loss, grads = fn(**values)
    assert loss == pytest.approx(twin(values))
    for name, got in zip(params, grads):
        assert_matches(got, numeric_derivative(twin, values, name), what=name)
    one = matdiff.value_and_grad(text, wrt=params[0])
    assert_matches(one(**values)[1], grads[0], what="single wrt")


def test_compiled_source_reads_like_a_backward_pass() -> None:
    text, params, values, _ = mlp(2, "relu")
    src = matdiff.grad(text, wrt=params).compile().source()
    body = [ln.strip().split(" = ")[0] for ln in src.splitlines() if " = " in ln]
    for name in ("z1", "h1", "z2", "dz2", "dz1", "dW1", "dW2"):
        assert name in body, src
    assert body.index("dz2") < body.index("dz1") < body.index("dW1")


# --------------------------------------------------------------------------- every declaration kind

def signal_by_forward_mode(program, name: str, values: dict):
    """The gradient of the program's function with respect to the value of intermediate
    `name`, by forward mode: the function over that value (a leaf) and the inputs."""
    from matdiff.backward import substitute
    from matdiff.derive import differentiate
    from matdiff.evaluate import evaluate

    leaves = program.leaves
    env, at = {}, dict(values)
    for s in program.statements:
        rhs = substitute(s.local, env)
        if s.name == name:
            at[name] = evaluate(rhs, values, program.inputs)
        elif s.name is not None:
            env[leaves[s.name]] = rhs
    variables = {**program.inputs, name: leaves[name]}
    return evaluate(differentiate(rhs, leaves[name]), at, variables)


def check_against_forward_mode(text: str, used: list[str], backends=("numpy",)) -> None:
    """The printed backward pass, its evaluation and the compiled value_and_grad give, from
    the inputs' values alone, each input's forward-mode derivative; every dNAME line has
    NAME's shape and orientation, and an error signal's value is the forward-mode gradient
    with respect to its intermediate's value."""
    values = values_for(used, len(text))
    program = matdiff.parse(text)
    g = matdiff.grad(program, wrt=used)
    want = {w: matdiff.diff(program, wrt=w).evaluate(values) for w in used}
    by_backward = g.evaluate(values)
    full = g.program_text()
    for w in used:
        assert_matches(by_backward[w], want[w], what=f"evaluate d{w}\n{full}")
        assert_matches(g[w].evaluate(values), want[w], what=f"g[{w!r}]\n{full}")
        printed = matdiff.parse(full, of=g.names()[w])
        assert_matches(printed.evaluate(values), want[w], what=f"printed d{w}\n{full}")
    kinds = {**program.program.kinds, **{s.name: s.kind for s in program.program.statements}}
    for ln in g.backward.lines:
        line = matdiff.parse(full, of=ln.name)
        of = program.variables.get(ln.of) or program.program.leaves[ln.of]
        assert len(line.shape) == of.ndim, (ln.name, full)  # sizes may be a constant's own
        assert line.orientation == ("row" if kinds[ln.of] == "row" else None), (ln.name, full)
        if ln.kind == "signal":
            assert_matches(line.evaluate(values),
                           signal_by_forward_mode(program.program, ln.of, values),
                           what=f"printed {ln.name}\n{full}")
    for backend in backends:
        args = values
        if backend == "torch":
            import torch

            args = {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}
        _, grads = matdiff.value_and_grad(text, wrt=used, backend=backend)(**args)
        for w, got in zip(used, grads):
            assert_matches(np.asarray(got), want[w], what=f"{backend} value_and_grad d{w}")


@settings(max_examples=60, deadline=None)
@given(typed_programs())
def test_backward_pass_of_programs_over_every_declaration_kind(case) -> None:
    check_against_forward_mode(*case)


@settings(max_examples=8, deadline=None)
@given(typed_programs(max_lines=3))
def test_torch_value_and_grad_of_programs_over_every_declaration_kind(case) -> None:
    pytest.importorskip("torch")
    check_against_forward_mode(*case, backends=("torch",))


@pytest.mark.parametrize("text", [
    "S: symmetric matrix(m)\no2 = sqrt(1 + S.^2)\nz4 = (o2*S)^3\nL = tr(z4)",
    "S: symmetric matrix(m)\nh = S.^2\nL = sum(sum(h))",
    "S: symmetric matrix(m)\no2 = softmax(S, 2)\nL = sum(sum(o2.*S))",
])
def test_an_intermediate_of_a_symmetric_input_is_no_input(text) -> None:
    check_against_forward_mode(text.replace("(m)", "(n)"), ["S"])


def test_the_batch_norm_backward_pass_has_its_rows_the_right_way_round() -> None:
    text = ("gamma, beta: vector(n)\neps: scalar\nX, G: matrix(m, n)\nmu = mean(X, 1)\n"
            "v = mean((X - mu).^2, 1)\nXh = (X - mu)./sqrt(v + eps)\n"
            "Y = gamma'.*Xh + beta'\nL = sum(sum(G .* Y))")
    g = matdiff.grad(text, wrt=["X", "gamma", "beta"])
    full = g.program_text()
    rng = np.random.default_rng(4)
    values = {"X": rng.normal(size=(5, 3)), "G": rng.normal(size=(5, 3)), "eps": 0.1,
              "gamma": rng.normal(size=3), "beta": rng.normal(size=3)}
    assert matdiff.parse(full, of="dv").orientation == "row"
    # the rows are written as rows: no transposes on mu or v (a transpose goes inside sqrt)
    assert "dv = -(sum(dXh.*(X - mu), 1)./sqrt(v + eps).^3)/2" in full.splitlines()
    for w in ("X", "gamma", "beta"):
        assert_matches(matdiff.parse(full, of="d" + w).evaluate(values),
                       g[w].evaluate(values), what=w)


def test_a_declared_row_vector_prints_as_a_row_in_the_backward_pass() -> None:
    g = matdiff.grad("r*A*x", wrt=["r", "A", "x"], declare={"r": "row vector"})
    assert str(g).splitlines() == ["dA = r'*x'", "dr = x'*A'", "dx = A'*r'"]
    full = g.program_text()  # declare= is written in: the text stands on its own
    assert full.startswith("r: row vector\n")
    rng = np.random.default_rng(1)
    values = {"r": rng.normal(size=3), "A": rng.normal(size=(3, 4)), "x": rng.normal(size=4)}
    assert matdiff.parse(full, of="dr").orientation == "row"
    for w in "rAx":
        assert_matches(matdiff.parse(full, of="d" + w).evaluate(values),
                       g[w].evaluate(values), what=w)


def test_every_gradient_as_a_derivative_is_read_off_the_one_backward_pass(monkeypatch) -> None:
    text, params, values, twin = mlp(3, "tanh")
    g = matdiff.grad(text, wrt=params)
    import matdiff.gradients as gradients

    def again(*args, **kwargs):
        raise AssertionError("a gradient derived again, one name at a time")

    monkeypatch.setattr(gradients, "diff", again)
    every = dict(g.items())
    for name in params:
        assert_matches(every[name].evaluate(values), numeric_derivative(twin, values, name),
                       what=name)
    d = every["W1"]  # still a whole Derivative: printed, explained, checked
    biases = dict.fromkeys(("b1", "b2", "b3"), "vector")
    assert_matches(matdiff.parse(str(d), declare=biases).evaluate(values),
                   d.evaluate(values), what="printed W1")
    assert d.steps and d.raw is not None and d.check(values) < 1e-6


@pytest.mark.parametrize("text", ["r*A*x", "sum(tanh(r*A))", "r*B*r'", "sum(exp(r'*r))"])
def test_a_declared_row_vector_prints_as_a_row_in_every_derivative(text) -> None:
    declare = {"r": "row vector"}
    rng = np.random.default_rng(6)
    values = {"r": rng.normal(size=3), "A": rng.normal(size=(3, 4)), "x": rng.normal(size=4),
              "B": rng.normal(size=(3, 3))}
    e = matdiff.parse(text, declare=declare)
    assert_matches(matdiff.parse(str(e), declare=declare).evaluate(values), e.evaluate(values),
                   what=str(e))
    for w in e.variables:
        d = matdiff.diff(e, wrt=w)
        assert_matches(matdiff.parse(str(d), declare=declare).evaluate(values),
                       d.evaluate(values), what=f"d/d{w} printed {d}")
