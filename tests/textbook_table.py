"""Textbook derivatives, each with its textbook form written in the input language.

Sources: the Matrix Cookbook (Petersen & Pedersen, Nov 2012; equation
numbers in brackets), the reference section of "The Matrix Calculus You
Need For Deep Learning" (Parr & Howard; "article"), and standard
deep-learning results ("DL"). Used by tests/test_textbook_table.py (the
quality bar: same numbers, at most 1.25 times the textbook's length) and by
scripts/write_textbook_table.py (docs/derivatives.md).

The Cookbook writes derivatives of scalars with respect to matrices in the
shape of the matrix, and of scalars with respect to vectors as columns:
that is matdiff's default "shape" layout, so its forms compare directly.
The article writes gradients as rows; its rows are compared in the same
shape layout (the article's `x'` is the column `x` here).

`values` names variables needing a special domain: "positive", "simplex"
(non-negative entries summing to 1, a probability vector), "pm1" (labels
+1 or -1), "binary" (labels 0 or 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Row", "ROWS", "row_values"]


@dataclass(frozen=True)
class Row:
    expression: str
    wrt: str
    textbook: str
    source: str
    declare: dict = field(default_factory=dict)
    order: int = 1
    values: dict = field(default_factory=dict)


V = {"a": "vector", "b": "vector", "c": "vector", "d": "vector"}
SYM = "symmetric matrix"

ROWS: list[Row] = [
    # ---- the article: element-wise operators, scalar expansion, reductions
    Row("w + x", "w", "eye", "article, element-wise binary operators"),
    Row("w - x", "w", "eye", "article, element-wise binary operators"),
    Row("w .* x", "w", "diag(x)", "article, element-wise binary operators"),
    Row("w ./ x", "w", "diag(1./x)", "article, element-wise binary operators"),
    Row("x + z", "z", "vector(1)", "article, scalar expansion", {"z": "scalar"}),
    Row("x * z", "x", "z*eye", "article, scalar expansion", {"z": "scalar"}),
    Row("x * z", "z", "x", "article, scalar expansion", {"z": "scalar"}),
    Row("sum(x)", "x", "vector(1)", "article, vector sum reduction"),
    Row("sum(x * z)", "z", "sum(x)", "article, vector sum reduction", {"z": "scalar"}),
    Row("sum(x * z)", "x", "z*vector(1)", "article, vector sum reduction", {"z": "scalar"}),
    Row("w' * x", "w", "x", "article, the dot product"),
    Row("max(0, w'*x + b)", "w", "step(w'*x + b)*x", "article, neuron activation",
        {"b": "scalar"}),
    Row("max(0, w'*x + b)", "b", "step(w'*x + b)", "article, neuron activation",
        {"b": "scalar"}),
    Row("mean((y - max(0, X*w + b)).^2)", "w",
        "2*X'*((max(0, X*w + b) - y).*step(X*w + b))/numel(y)", "article, loss gradient",
        {"b": "scalar"}),
    Row("mean((y - max(0, X*w + b)).^2)", "b",
        "2*step(X*w + b)'*(max(0, X*w + b) - y)/numel(y)", "article, loss gradient",
        {"b": "scalar"}),
    # ---- the Matrix Cookbook: linear and quadratic forms
    Row("x'*a", "x", "a", "Cookbook (69)", V),
    Row("a'*X*b", "X", "a*b'", "Cookbook (70)", V),
    Row("a'*X'*b", "X", "b*a'", "Cookbook (71)", V),
    Row("a'*X*a", "X", "a*a'", "Cookbook (72)", V),
    Row("b'*X'*X*c", "X", "X*(b*c' + c*b')", "Cookbook (77)", V),
    Row("x'*B*x", "x", "(B + B')*x", "Cookbook (81)"),
    Row("b'*X'*D*X*c", "X", "D'*X*b*c' + D*X*c*b'", "Cookbook (82)", V),
    Row("(X*b + c)'*D*(X*b + c)", "X", "(D + D')*(X*b + c)*b'", "Cookbook (83)", V),
    Row("x'*W*x", "x", "2*W*x", "Cookbook (81), W symmetric", {"W": SYM}),
    Row("(x - A*s)'*W*(x - A*s)", "s", "-2*A'*W*(x - A*s)", "Cookbook (84)", {"W": SYM}),
    Row("(x - A*s)'*W*(x - A*s)", "x", "2*W*(x - A*s)", "Cookbook (87)", {"W": SYM}),
    Row("(x - A*s)'*W*(x - A*s)", "A", "-2*W*(x - A*s)*s'", "Cookbook (88)", {"W": SYM}),
    Row("(x - s)'*W*(x - s)", "x", "2*W*(x - s)", "Cookbook (85)", {"W": SYM}),
    Row("(x - s)'*W*(x - s)", "s", "-2*W*(x - s)", "Cookbook (86)", {"W": SYM}),
    Row("(A*x - b)'*(A*x - b)", "x", "2*A'*(A*x - b)", "Cookbook (78), B = D = A, C = I", V),
    Row("(B*x + b)'*C*(D*x + d)", "x", "B'*C*(D*x + d) + D'*C'*(B*x + b)", "Cookbook (78)", V),
    # ---- norms
    Row("norm2(x)", "x", "x/norm2(x)", "Cookbook (129), a = 0"),
    Row("norm2(x)^2", "x", "2*x", "Cookbook (131)"),
    Row("norm2(x - a)", "x", "(x - a)/norm2(x - a)", "Cookbook (129)", V),
    Row("norm2(X)^2", "X", "2*X", "Cookbook, Frobenius norm (sec. 2.7)"),
    # ---- traces
    Row("tr(X)", "X", "eye", "Cookbook (99)"),
    Row("tr(X*A)", "X", "A'", "Cookbook (100)"),
    Row("tr(A*X*B)", "X", "A'*B'", "Cookbook (101)"),
    Row("tr(A*X'*B)", "X", "B*A", "Cookbook (102)"),
    Row("tr(X'*A)", "X", "A", "Cookbook (103)"),
    Row("tr(A*X')", "X", "A", "Cookbook (104)"),
    Row("tr(X*X)", "X", "2*X'", "Cookbook (106)"),
    Row("tr(X*X*B)", "X", "(X*B + B*X)'", "Cookbook (107)"),
    Row("tr(X'*B*X)", "X", "B*X + B'*X", "Cookbook (108)"),
    Row("tr(B*X*X')", "X", "B*X + B'*X", "Cookbook (109)"),
    Row("tr(X*B*X')", "X", "X*B' + X*B", "Cookbook (111)"),
    Row("tr(X'*X*B)", "X", "X*B' + X*B", "Cookbook (113)"),
    Row("tr(A*X*B*X)", "X", "A'*X'*B' + B'*X'*A'", "Cookbook (114)"),
    Row("tr(X'*X)", "X", "2*X", "Cookbook (115)"),
    Row("tr(B'*X'*C*X*B)", "X", "C'*X*B*B' + C*X*B*B'", "Cookbook (116)"),
    Row("tr(X'*B*X*C)", "X", "B*X*C + B'*X*C'", "Cookbook (117)"),
    Row("tr(A*X*B*X'*C)", "X", "A'*C'*X*B' + C*A*X*B", "Cookbook (118)"),
    Row("tr((A*X*B + C)*(A*X*B + C)')", "X", "2*A'*(A*X*B + C)*B'", "Cookbook (119)"),
    # ---- determinants and inverses
    Row("det(X)", "X", "det(X)*inv(X)'", "Cookbook (49)"),
    Row("logdet(X)", "X", "inv(X)'", "Cookbook (57)"),
    Row("a'*inv(X)*b", "X", "-inv(X)'*a*b'*inv(X)'", "Cookbook (61)", V),
    Row("tr(A*inv(X)*B)", "X", "-(inv(X)*B*A*inv(X))'", "Cookbook (63)"),
    # ---- deep learning
    Row("sigmoid(z)", "z", "diag(sigmoid(z).*(1 - sigmoid(z)))", "DL, the sigmoid"),
    Row("tanh(z)", "z", "diag(1 - tanh(z).^2)", "DL, tanh"),
    Row("relu(W*x + b)", "b", "diag(step(W*x + b))", "DL, a ReLU layer", {"b": "vector"}),
    Row("W*x + b", "x", "W", "DL, a linear layer"),
    Row("softmax(z)", "z", "diag(softmax(z)) - softmax(z)*softmax(z)'",
        "DL, the softmax Jacobian"),
    Row("logsumexp(z)", "z", "softmax(z)", "DL, log-sum-exp"),
    Row("logsumexp(z) - y'*z", "z", "softmax(z) - y", "DL, softmax cross-entropy"),
    Row("-y'*log(softmax(z))", "z", "softmax(z) - y",
        "DL, cross-entropy of softmax (y a probability vector)", values={"y": "simplex"}),
    Row("sum(log(1 + exp(-y .* (X*w))))", "w", "-X'*(y.*sigmoid(-y.*(X*w)))",
        "DL, logistic loss (labels +-1)", values={"y": "pm1"}),
    Row("-y'*log(sigmoid(X*w)) - (1 - y)'*log(1 - sigmoid(X*w))", "w",
        "X'*(sigmoid(X*w) - y)", "DL, binary cross-entropy of logistic regression",
        values={"y": "binary"}),
    Row("1./(1 + exp(-z))", "z", "diag(sigmoid(z).*(1 - sigmoid(z)))",
        "DL, the sigmoid written out"),
    Row("sum(softplus(X*w)) - y'*X*w", "w", "X'*(sigmoid(X*w) - y)",
        "DL, logistic loss (labels 0/1)", values={"y": "binary"}),
    Row("sum(softplus(X*w)) - y'*X*w", "w", "X'*diag(sigmoid(X*w).*(1 - sigmoid(X*w)))*X",
        "DL, logistic-regression Hessian", order=2, values={"y": "binary"}),
    Row("norm2(X*w - y)^2", "w", "2*X'*(X*w - y)", "DL, least squares"),
    Row("norm2(X*w - y)^2 + lambda*norm2(w)^2", "w", "2*X'*(X*w - y) + 2*lambda*w",
        "DL, ridge regression", {"lambda": "scalar"}),
    Row("x'*A*x", "x", "A + A'", "Cookbook (81), the Hessian", order=2),
    # ---- cancellations (issue 20): a power over its base, an inverse inverted, a number
    # kept in front of the sum it scales
    Row("log(x^2)", "x", "2/x", "calculus, a power over its base", {"x": "scalar"}),
    Row("log(sin(x^3)^2)", "x", "6*x^2*cos(x^3)/sin(x^3)", "calculus, the chain rule",
        {"x": "scalar"}),
    Row("x'*inv(inv(A))*x", "x", "(A + A')*x", "Cookbook (81), an inverse inverted"),
    Row("2*sum(-y .* logsoftmax(z))", "z", "2*(softmax(z) - y)",
        "DL, a scaled cross-entropy", {"y": "probability vector"}),
    Row("sum(sigmoid(z))", "z", "diag(sigmoid(z).*(1 - sigmoid(z)).*(1 - 2*sigmoid(z)))",
        "DL, the sigmoid's second derivative", order=2),
    # ---- as short as the textbook (issue 20): a number into a reciprocal, an inverse's
    # transpose, a variable's mean, sums along one axis collected, the hinge losses' margins
    # expanding their 1, layer norm's mean
    Row("sum(log(x.^2))", "x", "2./x", "calculus, a power over its base, entry by entry"),
    Row("tr(inv(X')*A)", "X", "-inv(X)'*A*inv(X)'", "Cookbook (63), inv(X') = inv(X)'"),
    Row("mean(x)^2", "x", "2*mean(x)*vector(1)/numel(x)", "DL, the mean"),
    Row("sum(logsumexp(X*W + b', 2)) - sum(sum(Y .* (X*W + b')))", "b",
        "sum(softmax(X*W + b', 2) - Y, 1)'", "DL, the batched softmax layer's bias gradient",
        {"b": "vector"}),
    Row("sum(max(0, 1 - y.*(X*w)))", "w", "-X'*(y.*step(1 - y.*(X*w)))",
        "DL, the hinge loss (SVM)", values={"y": "pm1"}),
    Row("sum(sum(max(0, X*W - sum(X*W.*Y, 2) + 1)))", "W",
        "X'*(step(X*W - sum(X*W.*Y, 2) + 1) - diag(sum(step(X*W - sum(X*W.*Y, 2) + 1), 2))*Y)",
        "DL, the multiclass hinge loss (cs231n; the true class adds a constant 1 per row)",
        {"Y": "one-hot rows"}),
    Row("mean((x - mean(x)).^2)", "x", "2*(x - mean(x))/numel(x)", "DL, the variance"),
    Row("norm2(x - mean(x))", "x", "(x - mean(x))/norm2(x - mean(x))",
        "Cookbook (129), a = mean(x)"),
    Row("g'*((x - mean(x))/sqrt(mean((x - mean(x)).^2) + eps))", "x",
        "(g - mean(g) - (x - mean(x))*mean(g.*(x - mean(x)))/(mean((x - mean(x)).^2) + eps))"
        "/sqrt(mean((x - mean(x)).^2) + eps)", "DL, layer norm (upstream gradient g)",
        {"eps": "scalar", "g": "vector"}, values={"eps": "positive"}),
    Row("sum(sum(G.*((X - mean(X, 1))./sqrt(mean((X - mean(X, 1)).^2, 1) + eps))))", "X",
        "(G - mean(G, 1) - (X - mean(X, 1)).*mean(G.*(X - mean(X, 1)), 1)./(mean((X - "
        "mean(X, 1)).^2, 1) + eps))./sqrt(mean((X - mean(X, 1)).^2, 1) + eps)",
        "DL, batch norm (upstream gradient G)", {"eps": "scalar"}, values={"eps": "positive"}),
    # ---- stable forms (issue 18): functions written through exp, derived through softmax,
    # tanh and logsumexp (tensorgrad's problems)
    Row("exp(z)/sum(exp(z))", "z", "diag(softmax(z)) - softmax(z)*softmax(z)'",
        "DL, softmax written through exp"),
    Row("(exp(z) - exp(-z))./(exp(z) + exp(-z))", "z", "diag(1 - tanh(z).^2)",
        "DL, tanh written through exp"),
    Row("-y'*log(exp(z)/sum(exp(z)))", "z", "diag(softmax(z)) - softmax(z)*softmax(z)'",
        "tensorgrad, the cross-entropy Hessian written through exp", {"y": "probability vector"},
        order=2),
    Row("-sum(sum(Y.*log(exp(Z)./sum(exp(Z), 2))))", "Z", "softmax(Z, 2) - Y",
        "DL, batched cross-entropy written through exp", {"Y": "one-hot rows"}),
]


def row_values(row: Row, seed: int = 0) -> dict[str, np.ndarray]:
    """Random values for a row's variables, inside each function's domain."""
    import matdiff
    from matdiff.verify import random_values

    e = matdiff.parse(row.expression, row.declare)
    positive = any(f in row.expression for f in ("log(", "sqrt(", "logdet("))
    values = random_values(e.variables, seed, positive=positive and "softmax" not in
                           row.expression and "exp(" not in row.expression)
    rng = np.random.default_rng(seed + 7)
    for name, kind in row.values.items():
        shape = np.shape(values[name])
        if kind == "positive":
            values[name] = rng.uniform(0.5, 2.0, shape)
        elif kind == "simplex":
            p = rng.uniform(0.1, 1.0, shape)
            values[name] = p / p.sum()
        elif kind == "pm1":
            values[name] = rng.choice([-1.0, 1.0], shape)
        elif kind == "binary":
            values[name] = rng.choice([0.0, 1.0], shape)
    return values


# ---------------------------------------------------------------- checking and the docs table

@dataclass(frozen=True)
class Result:
    row: Row
    printed: str          # matdiff's answer, text
    ratio: float          # its length over the textbook's, spaces removed
    same: bool            # printed form and textbook form evaluate to d.evaluate's numbers

    @property
    def meets_bar(self) -> bool:
        return self.same and self.ratio <= BAR


BAR = 1.25


def _length(text: str) -> int:
    """The length without spaces, a size written into a constant not counted: the
    textbook's bare I is matdiff's eye(numel(x)), whose size is there to be evaluated."""
    return len(_unsized(text).replace(" ", ""))


def _unsized(text: str) -> str:
    """eye(numel(x)) -> eye, vector(1, size(X, 1)) -> vector(1)."""
    out, k = [], 0
    while k < len(text):
        m = re.compile(r"\b(eye\(|vector\([^,()]*,|matrix\([^,()]*,)").search(text, k)
        if not m:
            out.append(text[k:])
            break
        out.append(text[k:m.start()] + (m.group(1)[:-1] if m.group(1) == "eye(" else
                                          m.group(1)[:-1] + ")"))
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        k = j
    return "".join(out)


def check_row(row: Row, seed: int = 0) -> Result:
    """Derive, print, and compare the printed and the textbook forms numerically."""
    import matdiff
    from printing_support import declarations, evaluate_text

    d = matdiff.diff(row.expression, wrt=row.wrt, declare=row.declare, order=row.order)
    printed = str(d)
    values = row_values(row, seed)
    want = np.asarray(d.evaluate(values), dtype=np.float64)
    decl = declarations(d.function.variables)
    same = all(np.allclose(evaluate_text(t, d.shape, values, decl), want, rtol=1e-7,
                           atol=1e-9) for t in (printed, row.textbook))
    return Result(row, printed, _length(printed) / _length(row.textbook), same)


def markdown(results: list[Result]) -> str:
    """docs/derivatives.md: the whole table, with its figures."""
    met = sum(r.meets_bar for r in results)
    longer = [r for r in results if r.ratio > 1.0]
    lines = [
        "# Textbook derivatives, as matdiff prints them",
        "",
        "Generated by `scripts/write_textbook_table.py` from `tests/textbook_table.py`; "
        "`tests/test_textbook_table.py` checks that this file is current. Each row: the "
        "expression, the variable, matdiff's printed derivative (the default shape layout: "
        "exactly what `d.evaluate` returns) and the textbook form written in the input "
        "language. Both forms are evaluated at random values and agree with `d.evaluate` "
        "in every row marked ✓. *Length* is matdiff's length over the textbook's, spaces "
        "removed; the bar is 1.25.",
        "",
        f"**{met} of {len(results)} rows** evaluate equal and are at most {BAR} times the "
        f"textbook's length ({100 * met / len(results):.0f}%); "
        f"{len(longer)} rows are longer than their textbook form at all.",
        "",
        "| # | expression | wrt | matdiff | textbook | source | length | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(results, 1):
        row = r.row
        wrt = row.wrt + ("" if row.order == 1 else f" (order {row.order})")
        decl = ", ".join(f"{n}: {t}" for n, t in row.declare.items()
                         if re.search(rf"\b{n}\b", row.expression))
        expr = f"`{row.expression}`" + (f" ({decl})" if decl else "")
        ok = "✓" if r.meets_bar else ("longer" if r.same else "✗")
        lines.append(f"| {k} | {_cell(expr)} | {row.wrt if row.order == 1 else wrt} | "
                     f"`{_cell(r.printed)}` | `{_cell(row.textbook)}` | {_cell(row.source)} | "
                     f"{r.ratio:.2f} | {ok} |")
    lines += ["", "## Rows longer than their textbook form", ""]
    for r in longer:
        lines.append(f"- `{r.row.expression}` with respect to `{r.row.wrt}`: matdiff prints "
                     f"`{r.printed}`, the textbook `{r.row.textbook}` ({r.ratio:.2f}x). "
                     f"{NOTES.get((r.row.expression, r.row.wrt), '')}".rstrip())
    if not longer:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


NOTES = {
    ("g'*((x - mean(x))/sqrt(mean((x - mean(x)).^2) + eps))", "x"):
        "matdiff applies the centring matrix `eye - matrix(1)/n` to the whole bracket where "
        "the textbook has already multiplied it out (`g - mean(g)`, and `(x - mean(x))'` "
        "unchanged by it, its entries summing to 0); that last identity is not a rewrite rule.",
    ("sum(sum(G.*((X - mean(X, 1))./sqrt(mean((X - mean(X, 1)).^2, 1) + eps))))", "X"):
        "The same centring, per column, plus two spellings the printer does not choose: "
        "`G*diag(1./s)` for `G./s'` and `sum(G, 1)/size(G, 1)` outside a product for "
        "`mean(G, 1)`.",
    ("-y'*log(softmax(z))", "z"):
        "The textbook form assumes `sum(y) = 1` (a one-hot or probability vector y); "
        "matdiff makes no such assumption, and `sum(y)*softmax(z) - y` is the derivative "
        "for every y. With `logsumexp(z) - y'*z`, the same loss for a probability vector, "
        "matdiff prints the textbook's `softmax(z) - y`.",
}
