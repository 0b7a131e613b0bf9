"""The command line: `matdiff diff EXPR --wrt x [--declare A="symmetric matrix"] [--order 2]
[--check] [--json]`.

Answers are checked by meaning, not by spelling: the printed derivative is
parsed back with matdiff.parse and evaluated, and must equal central finite
differences of a NumPy implementation (docs/language.md: what is printed
evaluates to exactly what d.evaluate returns). Bad input exits with status 2
and a message on stderr, never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import matdiff
from conftest import assert_matches, numeric_derivative, symmetric, uniform
from matdiff.cli import main

rng = np.random.default_rng(11)
X3 = uniform(rng, 3)
A3 = uniform(rng, (3, 3))
S3 = symmetric(rng)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def quadratic(v):
    return v["x"] @ v["A"] @ v["x"]


# --------------------------------------------------------------------------- answers

# argv after "diff", declarations for re-parsing the answer, values, NumPy function, order
ANSWERS = [
    (["x'*A*x", "--wrt", "x"], None, {"x": X3, "A": A3}, quadratic, 1),
    (["x'*A*x", "--wrt", "x", "--order", "2"], None, {"x": X3, "A": A3}, quadratic, 2),
    (["x'*A*x", "--wrt", "A"], None, {"x": X3, "A": A3}, quadratic, 1),
    (["x'*A*x", "--wrt", "x", "--declare", "A=symmetric matrix"], {"A": "symmetric matrix"},
     {"x": X3, "A": S3}, quadratic, 1),
    (["max(0, w'*x + b)", "--wrt", "w", "--declare", "b=scalar", "--declare", "x=vector"],
     {"b": "scalar", "x": "vector"},
     {"w": np.array([1.0, 0.5, 0.2]), "x": np.array([0.3, 0.4, 0.5]), "b": np.float64(0.1)},
     lambda v: np.maximum(0.0, v["w"] @ v["x"] + v["b"]), 1),
    (["sum(x * z)", "--wrt", "z", "--declare", "z=scalar"], {"z": "scalar"},
     {"x": X3, "z": np.float64(0.7)}, lambda v: np.sum(v["x"] * v["z"]), 1),
    (["w \u2297 x", "--wrt", "w"], None, {"w": X3, "x": X3 + 2},
     lambda v: v["w"] * v["x"], 1),
    (["logdet(X)", "--wrt", "X"], None, {"X": np.eye(3) * 2 + 0.1 * A3},
     lambda v: np.log(np.linalg.det(v["X"])), 1),
]


@pytest.mark.parametrize(("argv", "declare", "values", "f", "order"), ANSWERS,
                         ids=[" ".join(a[0]) for a in ANSWERS])
def test_answer_evaluates_to_the_derivative(capsys, argv, declare, values, f, order) -> None:
    code, out, err = run(capsys, "diff", *argv)
    assert code == 0, err
    printed = out.strip()
    assert printed and "\n" not in printed, f"one line expected, got {out!r}"
    assert "\u2297" not in printed, "⊗ must stay out of the output (it reads as Kronecker)"
    wrt = argv[argv.index("--wrt") + 1]
    got = np.asarray(matdiff.parse(printed, declare=declare).evaluate(dict(values)))
    assert_matches(got, numeric_derivative(f, values, wrt, order), what=f"printed {printed!r}")
    # the same text as the Python API prints
    d = matdiff.diff(argv[0], wrt=wrt, declare=declare, order=order)
    assert printed == str(d)


def test_json_record(capsys) -> None:
    code, out, err = run(capsys, "diff", "x'*A*x", "--wrt", "x", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["expression"] == "x'*A*x"
    assert record["wrt"] == "x"
    assert record["order"] == 1
    assert len(record["shape"]) == 1
    values = {"x": X3, "A": A3}
    got = np.asarray(matdiff.parse(record["derivative"]).evaluate(values))
    assert_matches(got, numeric_derivative(quadratic, values, "x"))


def test_json_record_second_order(capsys) -> None:
    code, out, err = run(capsys, "diff", "x'*A*x", "--wrt", "x", "--order", "2", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["order"] == 2
    assert len(record["shape"]) == 2
    values = {"x": X3, "A": A3}
    got = np.asarray(matdiff.parse(record["derivative"]).evaluate(values))
    assert_matches(got, numeric_derivative(quadratic, values, "x", order=2))


def test_json_keeps_the_tensor_product_sign_out(capsys) -> None:
    code, out, err = run(capsys, "diff", "w \u2297 x", "--wrt", "w", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert "\u2297" not in record["derivative"]
    assert "\\otimes" not in json.dumps(record.get("latex", ""))


def _numbers(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", text)]


def test_check_prints_a_small_error(capsys) -> None:
    code, out, err = run(capsys, "diff", "x'*A*x", "--wrt", "x", "--check")
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if "check" in ln.lower() or "error" in ln.lower()]
    assert lines, f"no check line in {out!r}"
    numbers = _numbers(lines[-1])
    assert numbers and min(abs(n) for n in numbers) < 1e-5, lines[-1]


def test_check_second_order(capsys) -> None:
    code, out, err = run(capsys, "diff", "sum(log(1 + exp(-y .* (X*w))))", "--wrt", "w",
                         "--order", "2", "--check")
    assert code == 0, err
    line = [ln for ln in out.splitlines() if "check" in ln.lower()][-1]
    assert min(abs(n) for n in _numbers(line)) < 1e-5, line


def test_json_with_check(capsys) -> None:
    code, out, err = run(capsys, "diff", "x'*A*x", "--wrt", "x", "--json", "--check")
    assert code == 0, err
    record = json.loads(out)
    checks = [v for k, v in record.items() if "check" in k.lower()]
    assert checks and isinstance(checks[0], float) and checks[0] < 1e-5, record


# --------------------------------------------------------------------------- bad input

BAD = [
    (["x'*A*", "--wrt", "x"], "^"),
    (["", "--wrt", "x"], "empty"),
    (["(x", "--wrt", "x"], "("),
    (["frobnicate(x)", "--wrt", "x"], "frobnicate"),
    (["max(X)", "--wrt", "X", "--declare", "X=matrix"], "max"),
    (["x*A", "--wrt", "x", "--declare", "x=vector,A=matrix"], "matrix"),  # else one a scalar
    (["x'*A*x", "--wrt", "y"], "y"),
    (["x'*x", "--wrt", "x", "--declare", "x=tensor"], "tensor"),
    (["x'*x", "--wrt", "x", "--declare", "x"], "declare"),
    (["x'*x", "--wrt", "x", "--order", "0"], "order"),
    (["(" * 1000 + "x" + ")" * 1000, "--wrt", "x"], "^"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_input_exits_2_with_a_message(capsys, argv, needle) -> None:
    code, out, err = run(capsys, "diff", *argv)
    assert code == 2
    assert "Traceback" not in err and "Traceback" not in out
    assert needle in err, f"{needle!r} not in {err!r}"


@pytest.mark.parametrize("argv", [
    ["diff", "x'*x"],                           # --wrt is required
    ["diff", "x'*x", "--wrt", "x", "--order", "two"],
    ["diff", "--wrt", "x"],                     # no expression
], ids=["no --wrt", "--order two", "no expression"])
def test_usage_errors_exit_2(capsys, argv) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    _, err = capsys.readouterr()
    assert "Traceback" not in err


# --------------------------------------------------------------------------- the installed command

def _matdiff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from matdiff.cli import main; "
                           "sys.exit(main())", *args], capture_output=True, text=True, timeout=60)


def test_console_script_answers() -> None:
    done = subprocess.run(["matdiff", "diff", "x'*A*x", "--wrt", "x"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = np.asarray(matdiff.parse(done.stdout.strip()).evaluate({"x": X3, "A": A3}))
    assert_matches(got, (A3 + A3.T) @ X3)


@pytest.mark.parametrize("argv", [
    ["diff", "x'*A*", "--wrt", "x"],
    ["diff", "x*A", "--wrt", "x", "--declare", "x=vector,A=matrix"],
    ["diff", "x'*x", "--wrt", "y"],
    ["diff", "x'*x"],
])
def test_console_script_bad_input(argv) -> None:
    done = _matdiff(*argv)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


def test_python_dash_m_runs_the_command_line() -> None:
    # `python -m matdiff` was "No module named matdiff.__main__"
    import os
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-m", "matdiff", "diff", "x'*A*x)", "--wrt", "x"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "column 7" in p.stderr



@pytest.mark.parametrize("name", ["text", "latex", "mathml", "shout"])
def test_every_notation_of_the_registry_is_offered(capsys, monkeypatch, name) -> None:
    """--notation offers each notation of printing.NOTATIONS (one added there too), for a
    derivative, for each of several, and for a backward pass: its text, or made from its
    LaTeX; a notation that is neither is refused there with a message."""
    from matdiff.printing import NOTATIONS, Notation, TextPrinter

    monkeypatch.setitem(NOTATIONS, "shout", Notation(
        "shout", lambda form: TextPrinter().doprint(form).upper(), "the text, in capitals"))
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    assert f"{name}: {NOTATIONS[name].summary}" in " ".join(capsys.readouterr().out.split())
    code, out, _ = run(capsys, "diff", "x'*A*x", "--wrt", "x", "--notation", name)
    assert code == 0 and out.strip() == matdiff.diff("x'*A*x", wrt="x").printed(name)
    code, out, _ = run(capsys, "diff", "x'*A*x", "--wrt", "x,A", "--order", "2",
                       "--notation", name)
    hessian = matdiff.diff("x'*A*x", wrt="x", order=2).printed(name)
    assert code == 0 and f"d/dx: {hessian}" in out
    code, out, err = run(capsys, "diff", "x'*A*x", "--wrt", "x,A", "--notation", name)
    grads = matdiff.grad("x'*A*x", wrt=["x", "A"])
    spell = NOTATIONS[name].of_latex
    if name == "text":
        assert code == 0 and out.strip() == grads.to_text()
    elif spell is not None:
        assert code == 0 and out.strip() == spell(grads.latex())
    else:
        assert code == 2 and "no shout printing" in err
