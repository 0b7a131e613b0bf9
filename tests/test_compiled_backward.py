"""Compiled value_and_grad of programs and of single expressions with several wrt: the
generated code is the backward pass (forward lines once, then one named error signal per
layer, every gradient from it), and it computes the gradients finite differences give."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import matdiff
from conftest import assert_matches, numeric_derivative
from test_backward import ACTIVATIONS, program_case, programs


def batch_mlp(layers: int, act: str, residual: bool = False):
    """A batched MLP program (rows are examples) with a softmax cross-entropy, and its twin."""
    rng = np.random.default_rng(7 * layers + len(act))
    width = 4
    sizes = [3] + [width] * (layers - 1) + [3]
    lines = [", ".join(f"b{k}" for k in range(1, layers + 1)) + ": vector", "Y: one-hot rows"]
    h = "X"
    for k in range(1, layers + 1):
        lines.append(f"Z{k} = {h}*W{k} + b{k}'")
        if k < layers:
            if residual and k > 1:
                lines.append(f"H{k} = {act}(Z{k}) + {h}")
            else:
                lines.append(f"H{k} = {act}(Z{k})")
            h = f"H{k}"
    lines.append(f"L = -sum(Y .* logsoftmax(Z{layers}, 2))/size(X, 1)")
    n = 5
    values = {"X": rng.normal(size=(n, 3)), "Y": np.eye(3)[rng.integers(0, 3, n)]}
    params = []
    for k in range(1, layers + 1):
        values[f"W{k}"] = rng.normal(size=(sizes[k - 1], sizes[k]))
        values[f"b{k}"] = rng.normal(size=sizes[k]) * 0.5
        params += [f"W{k}", f"b{k}"]

    def twin(v):
        a = v["X"]
        for k in range(1, layers + 1):
            z = a @ v[f"W{k}"] + v[f"b{k}"]
            if k < layers:
                a = ACTIVATIONS[act](z) + (a if residual and k > 1 else 0)
            else:
                a = z
        a = a - a.max(axis=1, keepdims=True)
        logp = a - np.log(np.exp(a).sum(axis=1, keepdims=True))
        return float(-(v["Y"] * logp).sum() / v["X"].shape[0])

    return "\n".join(lines), params, values, twin


def check_compiled(text, params, values, twin, declare=None) -> str:
    fn = matdiff.value_and_grad(text, wrt=params, declare=declare)
    loss, grads = fn(**values)
    assert loss == pytest.approx(twin(values), rel=1e-10, abs=1e-12)
    for name, got in zip(params, grads):
        assert_matches(got, numeric_derivative(twin, values, name), what=name)
    return fn.source(**values)


def lines_of(src: str) -> dict[str, str]:
    """name -> right-hand side of each assignment in the generated function."""
    out = {}
    for ln in src.split("def value_and_grad", 1)[1].splitlines():
        if " = " in ln and not ln.strip().startswith(("if ", "raise")):
            name, rhs = ln.strip().split(" = ", 1)
            out[name] = rhs.split("  #")[0]
    return out


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_compiled_batched_mlp_programs(layers, act) -> None:
    text, params, values, twin = batch_mlp(layers, act)
    src = check_compiled(text, params, values, twin)
    body = lines_of(src)
    # the loss's logsumexp and the signal's softmax share one exp of the logits
    assert src.split("def value_and_grad")[1].count("np.exp(") == 1, src
    for k in range(1, layers + 1):  # every gradient is a product with its layer's signal
        assert f"dZ{k}" in body, body
        assert body[f"dW{k}"].endswith(f"@ dZ{k}"), body
        assert body[f"db{k}"] == f"dZ{k}.sum(axis=0)", body
    assert "einsum" not in " ".join(body.values())


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_compiled_residual_program_adds_error_signals(act) -> None:
    text, params, values, twin = batch_mlp(4, act, residual=True)
    body = lines_of(check_compiled(text, params, values, twin))
    assert "dH2" in body and "dH3" in body, body  # H2 feeds Z3 and H3: its signal is a sum


def test_the_compiled_two_layer_program_is_the_textbook_backward_pass() -> None:
    text, params, values, twin = batch_mlp(2, "relu")
    src = check_compiled(text, params, values, twin)
    body = lines_of(src)
    names = list(body)
    order = ["Z1", "H1", "Z2", "dZ2", "dW2", "db2", "dZ1", "dW1", "db1"]
    assert [n for n in names if n in order] == order, src
    assert body["dZ1"] == "(Z1 > 0) * (dZ2 @ W2.T)", src
    assert body["dW1"] == "X.T @ dZ1" and body["dW2"] == "H1.T @ dZ2", src
    code = src.split("def value_and_grad")[1]
    assert code.count(" @ ") == 5, src  # two forward products, three backward: none twice
    assert code.count("@ W2 +") == 1, src  # the loss reads Z2, it does not recompute it


@settings(max_examples=15, deadline=None)
@given(programs())
def test_compiled_random_programs(case) -> None:
    check_compiled(*program_case(case))


# --------------------------------------------------------------------------- one expression

LOSS = "-sum(Y .* logsoftmax(relu(X*W1 + b1')*W2 + b2', 2))/size(X, 1)"
DECLARE = {"X": "matrix(n, p)", "W1": "matrix(p, h)", "b1": "vector(h)",
           "W2": "matrix(h, k)", "b2": "vector(k)", "Y": "one-hot rows(n, k)"}


def test_one_expression_with_several_wrt_is_compiled_as_a_backward_pass() -> None:
    text, params, values, twin = batch_mlp(2, "relu")
    src = check_compiled(LOSS, params, values, twin, declare=DECLARE)
    body = lines_of(src)
    assert body["dW1"] == "X.T @ dz1" and body["db1"] == "dz1.sum(axis=0)", src
    assert body["dW2"].endswith("@ dz2") and body["db2"] == "dz2.sum(axis=0)", src
    assert "einsum" not in src.split("def value_and_grad")[1]


@pytest.mark.parametrize("expression, wrt, declare", [
    ("mean((y - relu(X*w + b)).^2)", ["w", "b"], {"b": "scalar"}),
    ("sum(log(1 + exp(-y .* (X*w + b))))", ["w", "b"], {"b": "scalar"}),
    ("sum((X*w - y).^2) + c*w'*w", ["w", "c"], {"c": "scalar"}),
    ("sum(tanh(X*w) .* (X*w)) + sum(sigmoid(X*v))", ["w", "v", "X"], None),
])
def test_one_expression_several_wrt_against_finite_differences(expression, wrt, declare):
    rng = np.random.default_rng(4)
    values = {"X": rng.normal(size=(6, 3)), "w": rng.normal(size=3), "v": rng.normal(size=3),
              "y": rng.normal(size=6), "b": 0.3, "c": 0.8}
    f = matdiff.parse(expression, declare=declare)
    values = {k: v for k, v in values.items() if k in f.variables}
    check_compiled(expression, wrt, values, lambda v: float(f.evaluate(v)), declare=declare)


def test_a_declared_input_the_expression_does_not_use_gets_a_zero_gradient() -> None:
    fn = matdiff.value_and_grad("sum(tanh(W*x))", wrt=["W", "q"], declare={"q": "vector"})
    rng = np.random.default_rng(0)
    value, (dW, dq) = fn(W=rng.normal(size=(2, 3)), x=rng.normal(size=3), q=np.ones(4))
    assert dW.shape == (2, 3) and dq.shape == (4,) and not dq.any()


def test_a_line_is_its_value_by_name_whatever_its_leaf_carries() -> None:
    """Generated code binds a program's line by name: a leaf of that name marked symmetric
    (as intermediates of a symmetric input once were) is the line, never a missing input."""
    from matdiff.codegen import compile_value_and_grad
    from matdiff.ir import expr as ir
    from matdiff.language.program import build_program

    prog = build_program("S: symmetric matrix(n)\nh = S.^2\nL = sum(sum(h))")
    h = ir.var("h", prog.statements[0].local.shape, symmetric=True)
    total = ir.einsum([h], [[0, 1]], [])
    lines = [("h", prog.statements[0].local), ("L", total)]
    value = ir.var("L", ())
    fn = compile_value_and_grad(value, [value], ["S"], prog.inputs, True, "", lines=lines)
    S = np.array([[1.0, 2.0], [2.0, 3.0]])
    assert fn(S=S)[0] == pytest.approx(18.0)
