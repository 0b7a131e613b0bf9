"""Programs: named assignments, declarations, the function by `of`, and their errors.

Expected values come from NumPy implementations of the same programs,
differentiated by central finite differences (conftest).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, numeric_derivative
from matdiff.cli import main

RNG = np.random.default_rng(7)

MLP = """b1, b2: vector
z1 = W1*x + b1
h1 = relu(z1)
z2 = W2*h1 + b2
L = -y'*log(softmax(z2))"""


def mlp_values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"W1": rng.normal(size=(5, 3)), "x": rng.normal(size=3), "b1": rng.normal(size=5),
            "W2": rng.normal(size=(4, 5)), "b2": rng.normal(size=4),
            "y": np.array([0.1, 0.2, 0.3, 0.4])}


def mlp_numpy(v) -> float:
    z1 = v["W1"] @ v["x"] + v["b1"]
    z2 = v["W2"] @ np.maximum(z1, 0) + v["b2"]
    z2 = z2 - z2.max()
    return float(-v["y"] @ (z2 - np.log(np.exp(z2).sum())))


def test_a_program_parses_to_its_inlined_function() -> None:
    f = matdiff.parse(MLP)
    assert f.shape == ()
    assert set(f.variables) == {"W1", "x", "b1", "W2", "b2", "y"}
    assert f.variables["b1"].shape == f.variables["W1"].shape[:1]   # declared a vector
    assert [s.name for s in f.program.statements] == ["z1", "h1", "z2", "L"]
    assert f.evaluate(mlp_values()) == pytest.approx(mlp_numpy(mlp_values()))


@pytest.mark.parametrize("wrt", ["W1", "b1", "W2", "b2"])
def test_program_gradients_match_finite_differences(wrt) -> None:
    d = matdiff.diff(MLP, wrt=wrt)
    v = mlp_values()
    assert_matches(d.evaluate(v), numeric_derivative(mlp_numpy, v, wrt), what=wrt)


def test_semicolons_comments_and_continuation() -> None:
    one = matdiff.parse("z = W*x + b; h = tanh(z); sum(h)", declare={"b": "vector"})
    two = matdiff.parse("# a layer\nz = W*x +\n    b   # bias\nh = tanh(\n z)\nsum(h)",
                        declare={"b": "vector"})
    v = {"W": RNG.normal(size=(3, 2)), "x": RNG.normal(size=2), "b": RNG.normal(size=3)}
    want = np.tanh(v["W"] @ v["x"] + v["b"]).sum()
    assert one.evaluate(v) == pytest.approx(want)
    assert two.evaluate(v) == pytest.approx(want)


def test_of_names_the_function() -> None:
    f = matdiff.parse("z = W*x; h = relu(z); s = sum(h); t = s^2", of="s")
    assert f.shape == ()
    assert [s.name for s in f.program.statements] == ["z", "h", "s"]
    v = {"W": RNG.normal(size=(3, 2)), "x": RNG.normal(size=2)}
    assert f.evaluate(v) == pytest.approx(np.maximum(v["W"] @ v["x"], 0).sum())


def test_a_single_expression_is_unchanged() -> None:
    f = matdiff.parse("x'*A*\nx")   # a newline inside one expression stays a space
    assert f.program is None and f.shape == ()
    assert str(matdiff.diff("x'*A*x", wrt="x")) == "(A + A')*x"


def test_intermediates_are_typed_by_inference() -> None:
    f = matdiff.parse("r = x'*A; M = x*x'; s = r*y; t = tr(M); s + t")
    kinds = {s.name: s.kind for s in f.program.statements}
    assert kinds == {"r": "row", "M": "matrix", "s": "scalar", "t": "scalar", None: "scalar"}


def test_program_declarations_share_dimensions() -> None:
    f = matdiff.parse("W1: matrix(h, d)\nb1: vector(h)\nz = W1*x + b1\nsum(z)")
    assert f.variables["x"].shape == ("d",)
    assert f.variables["b1"].shape == ("h",)


BAD = [
    ("", "empty", 1, 1),
    ("  \n# only a comment\n", "empty program", 1, 1),
    ("a = ", "nothing after '='", 1, 3),
    ("z = x\nz = y", "assigned twice", 2, 1),
    ("a = b + 1\nb = a", "cycle", 1, 5),
    ("a = x\nc = d + 1\nd = a", "used before it is assigned", 2, 5),
    ("a = a + 1", "its own assignment", 1, 5),
    ("2*z = x", "one name", 1, 1),
    ("a = b = c", "one '='", 1, 7),
    ("a == b", "one '='", 1, 4),
    ("= x", "name on its left", 1, 1),
    ("z = x; x'*z; sum(z)", "bare expression", 1, 8),
    ("exp = x\nsum(exp)", "function of the language", 1, 1),
    ("b: vector\nb = x\nsum(b)", "declared", 2, 1),
    ("b: vector\nb: matrix\nsum(b)", "declared twice", 2, 1),
    ("b: tensor\nsum(b)", "declaration", 1, 4),
    ("z = x;;sum(z)", "empty statement", 1, 7),
    ("x: vector\nz = W*x\nh = z*x\nsum(h)", "cannot multiply", 3, 6),
    ("z = W*x\nh = relu(z\nsum(h)", "never closed", 2, 9),
    ("z = W*x\nh = frob(z)\nsum(h)", "frob", 2, 5),
]


@pytest.mark.parametrize("text, words, line, column", BAD, ids=[b[1] for b in BAD])
def test_bad_programs_name_line_and_column(text, words, line, column) -> None:
    with pytest.raises(matdiff.MatdiffError) as info:
        matdiff.diff(text, wrt="x")
    e = info.value
    assert words in str(e)
    assert (e.line, e.column) == (line, column), str(e)
    assert "Traceback" not in str(e) and "internal" not in str(e)


def test_of_must_name_an_assignment() -> None:
    with pytest.raises(matdiff.MatdiffError, match="not assigned"):
        matdiff.parse("z = W*x; sum(z)", of="q")
    with pytest.raises(matdiff.MatdiffError, match="of must name"):
        matdiff.parse("z = W*x; sum(z)", of="1x")


def test_declare_and_program_declarations_must_agree() -> None:
    with pytest.raises(matdiff.MatdiffError, match="declare="):
        matdiff.parse("b: vector\nsum(b)", declare={"b": "matrix"})
    f = matdiff.parse("b: vector\nsum(b)", declare={"b": "vector"})
    assert f.variables["b"].ndim == 1


def test_wrt_an_intermediate_is_a_clear_error() -> None:
    with pytest.raises(matdiff.MatdiffError, match="intermediate"):
        matdiff.diff("z = W*x; sum(relu(z))", wrt="z")
    with pytest.raises(matdiff.MatdiffError, match="intermediate"):
        matdiff.grad("z = W*x; sum(relu(z))", wrt=["W", "z"])


def test_a_gradient_of_a_non_scalar_program_is_a_clear_error() -> None:
    with pytest.raises(matdiff.MatdiffError, match="scalar"):
        matdiff.grad("z = W*x; relu(z)", wrt=["W", "x"])
    j = matdiff.diff("z = W*x; relu(z)", wrt=["W", "x"])   # Jacobians are fine with diff
    assert j["x"].shape == j["x"].function.shape + j["x"].function.variables["x"].shape


# --------------------------------------------------------------------------- the command line

def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_reads_a_program_file_and_accumulates_wrt(capsys, tmp_path) -> None:
    model = tmp_path / "model.txt"
    model.write_text("# two layers\n" + MLP + "\n", encoding="utf-8")
    code, out, err = run(capsys, "diff", "-f", str(model), "--wrt", "W1,b1", "--wrt", "W2",
                         "--wrt", "b2")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert {ln.split(" = ")[0] for ln in lines} >= {"dW1", "db1", "dW2", "db2"}
    assert "dz1 = (W2'*dz2).*step(z1)" in lines


def test_cli_json_has_one_entry_per_parameter(capsys) -> None:
    code, out, err = run(capsys, "diff", MLP.replace("\n", "; "), "--wrt", "W1,b2", "--json",
                         "--check")
    assert code == 0, err
    record = json.loads(out)
    assert [g["wrt"] for g in record["gradients"]] == ["W1", "b2"]
    assert all(g["check_max_relative_error"] < 1e-6 for g in record["gradients"])
    assert record["backward_names"] == {"W1": "dW1", "b2": "db2"}
    assert "dW1 = " in record["backward"]


def test_cli_of_and_errors(capsys) -> None:
    code, out, _ = run(capsys, "diff", "z = W*x; s = sum(relu(z)); t = s^2", "--of", "s",
                       "--wrt", "W")
    assert code == 0 and out.strip() == "step(W*x)*x'"
    code, _, err = run(capsys, "diff", "z = W*x\nz = x", "--wrt", "W")
    assert code == 2 and "line 2, column 1" in err and "Traceback" not in err
    code, _, err = run(capsys, "diff", "-f", "/nonexistent/model.txt", "--wrt", "W")
    assert code == 2 and "cannot read" in err
    code, _, err = run(capsys, "diff", "x'*x", "--wrt", "x", "--wrt", "x")
    assert code == 2 and "twice" in err


def test_the_web_page_computes_programs_and_several_gradients() -> None:
    from matdiff.web.compute import answer

    status, body = answer({"expression": MLP, "wrt": "W1, b1, W2, b2"})
    assert status == 200
    assert [g["wrt"] for g in body["gradients"]] == ["W1", "b1", "W2", "b2"]
    assert "dz1 = (W2'*dz2).*step(z1)" in body["backward"]
    status, body = answer({"expression": "z = W*x\nz = x", "wrt": "W"})
    assert status == 400 and body["error"]["line"] == 2
    status, body = answer({"expression": MLP, "wrt": "W1, q"})
    assert status == 400 and body["error"]["field"] == "wrt"
