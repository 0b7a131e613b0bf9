"""The notebook displays, in a real notebook executed headless (nbclient and ipykernel).

Every public object is the value of a cell; the test reads what the kernel sent
back, as a notebook front end would. Mathematics comes as MathML inside HTML
(drawn by the browser, no MathJax from the network); the Markdown/LaTeX
displays stay for other front ends; `explain()` still is the string it was.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("latex2mathml")

SETUP = """\
import warnings
import numpy as np
import matdiff
warnings.simplefilter("ignore", matdiff.MatdiffWarning)
rng = np.random.default_rng(0)
X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
NET = '''b1, b2: vector
z1 = W1*x + b1
h1 = relu(z1)
z2 = W2*h1 + b2
L = -y'*log(softmax(z2))'''
d = matdiff.diff("x'*A*x", wrt="x")
g = matdiff.grad(NET, wrt=["W1", "b1", "W2", "b2"])
"""

# (name, the cell's last expression) in the order of the notebook
CELLS = [
    ("expression", 'matdiff.parse("W*x + b", declare={"b": "vector"})'),
    ("derivative", "d"),
    ("gradients", "g"),
    ("explain", "d.explain()"),
    ("explain_backward", "g.explain()"),
    ("step_check", "d.check_steps()"),
    ("comparison_wrong", 'matdiff.compare("2*A*x", of="x\'*A*x", wrt="x")'),
    ("comparison_right", 'matdiff.compare("A*x + A\'*x", of="x\'*A*x", wrt="x")'),
    ("pass_comparison", 'matdiff.compare("dz2 = sum(y)*softmax(z2) - y\\ndW2 = dz2*h1\\n'
                        'db2 = dz2", of=NET, wrt=["W2", "b2"])'),
    ("compiled", "d.compile()"),
    ("value_and_grad", 'matdiff.value_and_grad("mean((X*w - y).^2)", wrt="w")'),
    ("fit_result", 'matdiff.fit("mean((X*w - y).^2)", {"w": "zeros"}, {"X": X, "y": y}, '
                   'optimizer="lbfgs", epochs=20)'),
    ("still_a_string", "e = d.explain(); (isinstance(e, str), e == str(e), e.upper()[:5], "
                       "g.explain().splitlines()[0])"),
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """{cell name: the data of its result}, from one headless run of the notebook."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(code), metadata={"name": name})
                 for name, code in CELLS]
    src = str(Path(__file__).parent.parent / "src")
    env = os.environ.get("PYTHONPATH", "")
    if src not in env.split(os.pathsep):  # the kernel imports this tree's matdiff
        os.environ["PYTHONPATH"] = src + (os.pathsep + env if env else "")
    try:
        client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                         resources={"metadata": {
                                             "path": str(tmp_path_factory.mktemp("nb"))}})
        client.execute()
    finally:
        if env:
            os.environ["PYTHONPATH"] = env
        else:
            os.environ.pop("PYTHONPATH", None)
    out = {}
    for cell in nb.cells[1:]:
        results = [o for o in cell.outputs if o.output_type == "execute_result"]
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (cell.metadata["name"], errors)
        assert len(results) == 1, cell.metadata["name"]
        out[cell.metadata["name"]] = results[0]["data"]
    return out


def _html(outputs, name):
    data = outputs[name]
    assert "text/html" in data, (name, list(data))
    return data["text/html"]


@pytest.mark.parametrize("name", ["expression", "derivative", "gradients", "explain",
                                  "explain_backward", "comparison_wrong", "comparison_right",
                                  "pass_comparison"])
def test_mathematics_is_mathml_in_html(outputs, name):
    html = _html(outputs, name)
    assert "<math xmlns=\"http://www.w3.org/1998/Math/MathML\"" in html
    assert "\\frac" not in html and "$$" not in html  # no LaTeX left for MathJax
    assert "matdiff-latex" not in html  # every equation converted


def test_every_public_object_has_a_rich_display(outputs):
    assert {name for name, _ in CELLS} - {"still_a_string"} <= {
        name for name, data in outputs.items() if "text/html" in data}


def test_derivative_and_gradients_keep_their_latex_and_markdown(outputs):
    assert outputs["derivative"]["text/markdown"].startswith("$$ \\frac{\\partial}")
    assert outputs["expression"]["text/latex"].startswith("$\\displaystyle")
    assert "\\begin{aligned}" in outputs["gradients"]["text/latex"]
    assert "\\begin{aligned}" in outputs["gradients"]["text/markdown"]
    assert outputs["explain"]["text/markdown"].startswith("1. **")


def test_gradients_show_the_backward_pass(outputs):
    html = _html(outputs, "gradients")
    assert "the backward pass" in html and "<mtable" in html  # one equation a row
    assert "dW1 = dz1*x&#x27;" in html  # the text form, to copy
    assert "<Gradients" in outputs["gradients"]["text/plain"]


def test_explain_shows_the_steps_and_stays_a_string(outputs):
    html = _html(outputs, "explain")
    assert "Local derivatives" in html or "Introduce intermediate variables" in html
    assert html.count("<math") >= 3
    assert "Backward pass of L" in _html(outputs, "explain_backward")
    assert " ".join(outputs["still_a_string"]["text/plain"].split()) == (
        "(True, True, '1. IN', 'Backward pass of L (reverse mode: from the function back to "
        "the inputs)')")


def test_step_check_and_comparison(outputs):
    assert "every step holds" in _html(outputs, "step_check")
    wrong = _html(outputs, "comparison_wrong")
    assert "not equal (symmetric)" in wrong and "they differ at" in wrong
    assert "equal: the answer is the derivative" in _html(outputs, "comparison_right")


def test_a_compared_backward_pass_shows_each_line(outputs):
    """A row per line: its name, the answer, the verdict, the mistake, the right gradient."""
    html = _html(outputs, "pass_comparison")
    assert "not equal: 1 of 3 lines wrong, the first dW2" in html
    assert "<th style='text-align:left'>the right gradient</th>" in html
    for name in ("dz2", "dW2", "db2"):
        assert f"<td style='text-align:left'><code>{name}</code></td>" in html
    assert html.count("<strong>wrong</strong>") == 1 and "shape: the answer" in html


def test_compiled_functions_show_their_call_and_module(outputs):
    html = _html(outputs, "compiled")
    assert "fn(x=..., A=...)" in html and "<details><summary>generated module" in html
    assert "def derivative(" in html
    assert "matdiff.value_and_grad(&#x27;mean((X*w - y).^2)&#x27;, wrt=&#x27;w&#x27;)" in \
        _html(outputs, "value_and_grad")


def test_a_fit_result_shows_its_loss_curve_inline(outputs):
    pytest.importorskip("matplotlib")
    html = _html(outputs, "fit_result")
    assert '<img alt="training loss" src="data:image/png;base64,' in html
    assert "converged" in html and "gradient evaluations" in html
