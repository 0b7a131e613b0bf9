"""A backward pass checked line by line (issue 19, parts 4 and 5): each `dNAME = ...` line
judged given the right values of the lines before it, so a slip planted in one line makes
that line, and only it, wrong."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matdiff
from matdiff.cli import main
from test_backward import mlp, program_case, programs

NET = """X: matrix(n, p)
Y: one-hot rows(n, k)
W1: matrix(p, h)
b1: vector(h)
W2: matrix(h, k)
b2: vector(k)
Z1 = X*W1 + b1'
H = relu(Z1)
S = H*W2 + b2'
L = -sum(sum(Y .* logsoftmax(S, 2)))/size(X, 1)"""
NET_BACK = """dS = (softmax(S, 2) - Y)/size(X, 1)
dW2 = H'*dS
db2 = sum(dS, 1)'
dH = dS*W2'
dZ1 = dH .* step(Z1)
dW1 = X'*dZ1
db1 = sum(dZ1, 1)'"""
NET_WRT = ["W1", "b1", "W2", "b2"]
# one slip per line, and the mistake it must be named as
NET_SLIPS = {
    "dS": ("softmax(S, 2) - Y", "factor", "lacks the factor 1/size(X, 1)"),
    "dW2": ("H*dS'", "shape", "do not match"),
    "db2": ("sum(dS, 2)", "shape", "the derivative is a column vector (k)"),
    "dH": ("dS*W2", "shape", "do not match"),
    "dZ1": ("dH", "inner factor", "where it has dH, the derivative has dH.*step(Z1)"),
    "dW1": ("X*dZ1'", "shape", "do not match"),
    "db1": ("sum(dZ1, 1)", "layout", "db1 has the shape of b1, a column; transpose it"),
}

BN = """X, G: matrix(n, d)
gamma, beta: vector(d)
eps: scalar
mu = mean(X, 1)
v = mean((X - mu).^2, 1)
Xh = (X - mu)./sqrt(v + eps)
Y = gamma'.*Xh + beta'
L = sum(sum(G .* Y))"""
BN_BACK = """dY = G
dbeta = sum(dY, 1)'
dgamma = sum(dY.*Xh, 1)'
dXh = dY.*gamma'
dv = sum(dXh.*(X - mu), 1).*(-0.5*(v + eps).^(-1.5))
dmu = -sum(dXh, 1)./sqrt(v + eps) + dv.*mean(-2*(X - mu), 1)
dX = dXh./sqrt(v + eps) + 2*dv.*(X - mu)/size(X, 1) + dmu/size(X, 1)"""
BN_WRT = ["X", "gamma", "beta"]
BN_SLIPS = {
    "dY": ("-G", "sign", "minus the derivative"),
    "dbeta": ("sum(dY, 2)", "shape", "column vector (d)"),
    "dgamma": ("sum(dY.*Xh, 1)'/size(X, 1)", "factor",
               "has a factor 1/size(X, 1) too many"),
    "dXh": ("dY", "inner factor", "the inner factor gamma'"),
    "dv": ("sum(dXh.*(X - mu), 1).*(-0.5*(v + eps).^(-0.5))", "power",
           "the derivative has 1./(v + eps).^1.5"),
    "dmu": ("-sum(dXh, 1)", "inner factor", "1./sqrt(v + eps)"),
    "dX": ("dXh./sqrt(v + eps) + dmu/size(X, 1)", "missing term", "leaves out"),
}


def _planted(back: str, name: str, wrong: str) -> str:
    return "\n".join(f"{name} = {wrong}" if line.startswith(f"{name} =") else line
                     for line in back.splitlines())


@pytest.mark.parametrize(("program", "back", "wrt"), [(NET, NET_BACK, NET_WRT),
                                                      (BN, BN_BACK, BN_WRT)],
                         ids=["two-layer net", "batch norm"])
def test_a_right_backward_pass_is_right_line_by_line(program, back, wrt):
    r = matdiff.compare(back, of=program, wrt=wrt)
    assert r.equal and r.first_wrong is None, str(r)
    assert [line.name for line in r.lines] == [t.split(" =")[0] for t in back.splitlines()]
    assert all(line.equal and line.mistake is None and line.expected for line in r.lines)
    assert str(r).startswith("equal")


CASES = [(NET, NET_BACK, NET_WRT, name, *slip) for name, slip in NET_SLIPS.items()] + \
    [(BN, BN_BACK, BN_WRT, name, *slip) for name, slip in BN_SLIPS.items()]


@pytest.mark.parametrize(("program", "back", "wrt", "name", "wrong", "mistake", "words"),
                         CASES, ids=[f"{c[3]} = {c[4]}" for c in CASES])
def test_a_slip_in_one_line_condemns_that_line_only(program, back, wrt, name, wrong,
                                                     mistake, words):
    r = matdiff.compare(_planted(back, name, wrong), of=program, wrt=wrt)
    assert not r.equal and r.first_wrong == name, str(r)
    assert [line.name for line in r.lines if not line.equal] == [name], str(r)
    line = r[name]
    assert line.mistake == mistake and words in line.diagnosis, str(line)
    json.loads(json.dumps(r.to_dict()))


def test_a_missing_gradient_and_an_unknown_name_are_reported():
    back = NET_BACK.replace("db2 = sum(dS, 1)'\n", "") + "\ndQ = dS"
    r = matdiff.compare(back, of=NET, wrt=NET_WRT)
    assert not r.equal and r.first_wrong == "dQ"
    assert r["dQ"].mistake == "unknown name" and "dZ1" in r["dQ"].diagnosis
    assert r["db2"].mistake == "missing" and r["db2"].expected
    assert [line.name for line in r.lines if not line.equal] == ["dQ", "db2"]


def test_a_line_may_use_only_earlier_lines():
    back = "dW1 = X'*dZ1\n" + NET_BACK
    r = matdiff.compare(back, of=NET, wrt=NET_WRT)
    assert r.lines[0].name == "dW1" and r.lines[0].mistake == "error"
    assert "dZ1" in r.lines[0].diagnosis


def test_the_record_has_the_web_pages_fields():
    r = matdiff.compare(_planted(NET_BACK, "dZ1", "dH"), of=NET, wrt=NET_WRT)
    record = json.loads(json.dumps(r.to_dict()))
    assert record["equal"] is False and record["first_wrong"] == "dZ1"
    assert {"name", "equal", "mistake", "expected", "diagnosis"} <= set(record["lines"][0])


def test_an_answer_may_use_the_programs_intermediates():
    r = matdiff.compare("X'*((softmax(S, 2) - Y)*W2'.*step(Z1))/size(X, 1)", of=NET,
                        wrt="W1")
    assert r.equal, str(r)
    r = matdiff.compare("X'*((softmax(S, 2) - Y)*W2')/size(X, 1)", of=NET, wrt="W1")
    assert not r.equal and r.mistake == "inner factor" and "step(Z1)" in r.diagnosis


def test_the_command_line_checks_a_backward_pass(tmp_path, capsys):
    (tmp_path / "net.txt").write_text(NET)
    (tmp_path / "back.txt").write_text(_planted(NET_BACK, "dZ1", "dH"))
    assert main(["compare", "-f", str(tmp_path / "back.txt"), "--of-file",
                 str(tmp_path / "net.txt"), "--wrt", "W1,b1,W2,b2"]) == 1
    out = capsys.readouterr().out
    assert "the first dZ1" in out and "wrong  dZ1 = dH" in out
    (tmp_path / "back.txt").write_text(NET_BACK)
    assert main(["compare", "-f", str(tmp_path / "back.txt"), "--of-file",
                 str(tmp_path / "net.txt"), "--wrt", "W1,b1,W2,b2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["first_wrong"] is None


def test_bad_lines_are_reported_with_their_place_in_the_answer():
    back = "dS = (softmax(S, 2) - Y)/size(X, 1)\ndW2 = H'*dS + ; db2 = sum(dQ, 1)'\nxx"
    r = matdiff.compare(back, of=NET, wrt=["W2", "b2"])
    assert [line.mistake for line in r.lines] == [None, "error", "error", "not a line"]
    assert "(line 2, column 14)" in r["dW2"].diagnosis
    assert "'dQ'" in r["db2"].diagnosis and "dS" in r["db2"].diagnosis
    assert r.lines[0].equal and r.first_wrong == "dW2"


def test_the_loss_line_and_a_single_expression():
    r = matdiff.compare("dL = 1\ndS = (softmax(S, 2) - Y)/size(X, 1)\ndW2 = H'*dS", of=NET,
                        wrt=["W2"])
    assert r.equal, str(r)
    r = matdiff.compare("dw = X'*(X*w - y)", of="0.5*norm2(X*w - y)^2", wrt=["w"])
    assert r.equal and r.lines[0].name == "dw"
    with pytest.raises(matdiff.MatdiffError, match="not an input"):
        matdiff.compare("dW2 = H'*dS", of=NET, wrt=["W2", "Q"])


@settings(max_examples=12, deadline=None)
@given(programs(), st.data())
def test_matdiffs_own_backward_pass_is_right_and_a_slip_marks_its_line(case, data):
    text, params, _, _ = program_case(case)
    printed = matdiff.grad(text, wrt=params).program_text()
    r = matdiff.compare(printed, of=text, wrt=params)
    assert r.equal, str(r)
    names = [line.name for line in r.lines]
    slipped = data.draw(st.sampled_from(names))
    back = "\n".join(f"{name} = ({rhs}) + 1" if name == slipped else line
                     for line in printed.splitlines()
                     for name, _, rhs in [line.partition(" = ")])
    r = matdiff.compare(back, of=text, wrt=params)
    assert r.first_wrong == slipped and [x.name for x in r.lines if not x.equal] == [slipped], \
        str(r)


@pytest.mark.parametrize(("layers", "act"), [(2, "relu"), (3, "tanh"), (2, "sigmoid")])
def test_the_printed_backward_pass_of_an_mlp_is_right(layers, act):
    text, params, _, _ = mlp(layers, act)
    printed = matdiff.grad(text, wrt=params).program_text()
    r = matdiff.compare(printed, of=text, wrt=params)
    assert r.equal and r.forward, str(r)


def test_the_gradient_of_a_row_vector_input_is_a_row():
    # grad prints dr = y' for a row vector r (dNAME in NAME's shape), and compare judged that
    # very pass wrong ("dr has the shape of r, a column"), reading r' in dy = r' as a row
    program = "r: row vector\ny: vector\nL = r*y"
    g = matdiff.grad(program, wrt=["y", "r"])
    assert matdiff.compare(g.to_text(), of=program, wrt=["y", "r"]).equal
    wrong = matdiff.compare("dr = y\ndy = r", of=program, wrt=["y", "r"])
    assert [line.equal for line in wrong.lines] == [False, False]


def _table_rows(html: str) -> list[list[str]]:
    """The body rows of the first table of a notebook display, each a list of cell HTML."""
    import re

    body = html[html.index("<tbody>"):html.index("</tbody>")]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_a_compared_backward_pass_displays_its_lines_as_a_table():
    """In a notebook: the verdict, then one row per line (name, answer, verdict, mistake,
    the right gradient), the mathematics as MathML, the report as text below."""
    import html as html_module

    pytest.importorskip("latex2mathml")
    back = _planted(NET_BACK, "dZ1", "dH").replace("db2 = sum(dS, 1)'\n", "")
    r = matdiff.compare(back, of=NET, wrt=NET_WRT)
    shown = r._repr_html_()
    assert shown.startswith('<div class="matdiff matdiff-pass-comparison">')
    assert html_module.escape(str(r).splitlines()[0], quote=True) in shown
    rows = _table_rows(shown)
    assert [row[0] for row in rows] == [f"<code>{line.name}</code>" for line in r.lines]
    for row, line in zip(rows, r.lines):
        name, answer, verdict, mistake, expected = row
        assert ("wrong" in verdict) != line.equal
        assert (line.mistake or "") in mistake and html_module.escape(line.diagnosis) in mistake
        assert expected.startswith("<math") and "matdiff-latex" not in expected
        assert answer.startswith("<math") if line.answer else "(no line)" in answer
    assert [row[0] for row in rows if "wrong" in row[2]] == ["<code>dZ1</code>",
                                                              "<code>db2</code>"]
    assert "<details><summary>as text</summary>" in shown


def test_a_line_may_use_the_loss_itself():
    """d/da of sum(exp(P + a)) is the loss L itself: `da = L` reads the program's last
    name, as matdiff's own pass of such a program prints it."""
    program = "a: scalar\nP: matrix\nH = P + a + 2\nL = sum(exp(H))"
    assert matdiff.compare("da = L\ndP = exp(H)", of=program, wrt=["a", "P"]).equal
    r = matdiff.compare("da = 2*L\ndP = exp(H)", of=program, wrt=["a", "P"])
    assert not r.equal and r.first_wrong == "da" and r["da"].mistake == "factor"
