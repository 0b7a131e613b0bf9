"""The layers and losses of real networks, on a batch, with their textbook gradients.

Each layer is a scalar function (a loss, or a layer's output weighted by an
upstream gradient `G`, which is how a backward pass meets it) and, per
variable, the gradient a textbook writes, in the input language. Used by
tests/test_layer_gallery.py (every gradient against finite differences, against
the textbook form, compiled, explained) and by scripts/write_layers_gallery.py
(docs/layers.md).

Batches hold one example per row: `X` is n x p, a bias `b` is added to every
row as `b'`, one-hot targets `Y` are declared `one-hot rows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Layer", "LAYERS", "layer_values", "check_layer", "markdown"]


@dataclass(frozen=True)
class Layer:
    name: str
    expression: str
    declare: dict
    textbook: dict          # wrt -> the textbook gradient, in the input language
    note: str = ""
    values: dict = field(default_factory=dict)  # name -> "positive" | "one-hot" | "binary"


BATCH = {"X": "matrix(n, p)", "G": "matrix(n, k)", "T": "matrix(n, k)"}
LINEAR = BATCH | {"W": "matrix(p, k)", "b": "vector(k)"}
MLP2 = BATCH | {"W1": "matrix(p, h)", "b1": "vector(h)", "W2": "matrix(h, k)",
                "b2": "vector(k)"}
MLP3 = MLP2 | {"W2": "matrix(h, q)", "b2": "vector(q)", "W3": "matrix(q, k)",
               "b3": "vector(k)"}

LAYERS: list[Layer] = [
    Layer("linear layer with bias (backward pass of X*W + b' with upstream gradient G)",
          "sum(G .* (X*W + b'))", LINEAR,
          {"W": "X'*G", "b": "sum(G, 1)'", "X": "G*W'"},
          "The bias gradient is the column sums of G (a sum over the batch)."),
    Layer("two-layer MLP, squared error",
          "sum((relu(X*W1 + b1')*W2 + b2' - T).^2)/2", MLP2,
          {"W2": "relu(X*W1 + b1')'*(relu(X*W1 + b1')*W2 + b2' - T)",
           "b2": "sum(relu(X*W1 + b1')*W2 + b2' - T, 1)'",
           "W1": "X'*(step(X*W1 + b1').*((relu(X*W1 + b1')*W2 + b2' - T)*W2'))",
           "b1": "sum(step(X*W1 + b1').*((relu(X*W1 + b1')*W2 + b2' - T)*W2'), 1)'"}),
    Layer("three-layer MLP, squared error",
          "sum((tanh(tanh(X*W1 + b1')*W2 + b2')*W3 + b3' - T).^2)/2", MLP3,
          {"W3": "tanh(tanh(X*W1 + b1')*W2 + b2')'"
                 "*(tanh(tanh(X*W1 + b1')*W2 + b2')*W3 + b3' - T)",
           "b3": "sum(tanh(tanh(X*W1 + b1')*W2 + b2')*W3 + b3' - T, 1)'"}),
    Layer("softmax cross-entropy on a batch with one-hot rows (mean over the batch)",
          "-sum(Y .* logsoftmax(X*W + b', 2))/size(X, 1)",
          LINEAR | {"Y": "one-hot rows(n, k)"},
          {"W": "X'*(softmax(X*W + b', 2) - Y)/size(X, 1)",
           "b": "sum(softmax(X*W + b', 2) - Y, 1)'/size(X, 1)",
           "X": "(softmax(X*W + b', 2) - Y)*W'/size(X, 1)"},
          "`Y` is declared `one-hot rows`, so the simplifier may use that each row of `Y` "
          "(and of `softmax(Z, 2)`) sums to 1: this is what turns the gradient into the "
          "textbook's `softmax - Y`. The longhand `log(exp(Z)*vector(1))` reads as "
          "`logsumexp(Z, 2)` and gives the same result.",
          values={"Y": "one-hot"}),
    Layer("binary cross-entropy with logits (labels 0/1)",
          "sum(softplus(X*w) - y .* (X*w))", {"X": "matrix(n, p)", "w": "vector(p)",
                                                "y": "vector(n)"},
          {"w": "X'*(sigmoid(X*w) - y)"}, values={"y": "binary"}),
    Layer("mean squared error", "mean((X*w - y).^2)",
          {"X": "matrix(n, p)", "w": "vector(p)", "y": "vector(n)"},
          {"w": "2*X'*(X*w - y)/size(X, 1)"}),
    Layer("L2 penalty", "c*sum(W.^2)/2", {"W": "matrix(p, k)", "c": "scalar"},
          {"W": "c*W"}),
    Layer("L1 penalty", "c*norm1(W)", {"W": "matrix(p, k)", "c": "scalar"},
          {"W": "c*sign(W)"}),
    Layer("row-wise layer norm (upstream gradient G)",
          "sum(G .* ((X - mean(X, 2)) ./ sqrt(mean((X - mean(X, 2)).^2, 2) + e)))",
          {"X": "matrix(n, k)", "G": "matrix(n, k)", "e": "scalar"},
          {"X": "(G - mean(G, 2) - ((X - mean(X, 2))./sqrt(mean((X - mean(X, 2)).^2, 2) + e))"
                ".*mean(G.*(X - mean(X, 2))./sqrt(mean((X - mean(X, 2)).^2, 2) + e), 2))"
                "./sqrt(mean((X - mean(X, 2)).^2, 2) + e)"},
          "Each row is centred and scaled by its own standard deviation (`e` keeps the root "
          "away from 0). The textbook writes the gradient with the normalised rows "
          "x̂ = (X - mean(X, 2))./σ: (G - mean(G, 2) - x̂.*mean(G.*x̂, 2))./σ.",
          values={"e": "positive"}),
    Layer("one head of attention (upstream gradient G)",
          "sum(G .* (softmax(Q*K'/sqrt(d), 2)*V))",
          {"Q": "matrix(n, p)", "K": "matrix(m, p)", "V": "matrix(m, k)", "G": "matrix(n, k)",
           "d": "scalar"},
          {"V": "softmax(Q*K'/sqrt(d), 2)'*G",
           "Q": "(softmax(Q*K'/sqrt(d), 2).*(G*V' - (softmax(Q*K'/sqrt(d), 2).*(G*V'))"
                "*vector(1)))*K/sqrt(d)",
           "K": "(softmax(Q*K'/sqrt(d), 2).*(G*V' - (softmax(Q*K'/sqrt(d), 2).*(G*V'))"
                "*vector(1)))'*Q/sqrt(d)"},
          "The softmax runs along each row (one query per row). Its Jacobian is applied "
          "row by row, `S.*(D - (S.*D)*vector(1))` with `D = G*V'`, never as a dense "
          "4-tensor.",
          values={"d": "positive"}),
    Layer("one step of an RNN cell (upstream gradient g)",
          "g'*tanh(W*h + U*x + b)",
          {"W": "matrix(k, k)", "U": "matrix(k, p)", "h": "vector(k)", "x": "vector(p)",
           "b": "vector(k)", "g": "vector(k)"},
          {"W": "(g.*(1 - tanh(W*h + U*x + b).^2))*h'",
           "h": "W'*(g.*(1 - tanh(W*h + U*x + b).^2))",
           "b": "g.*(1 - tanh(W*h + U*x + b).^2)"}),
    Layer("residual block (upstream gradient G)",
          "sum(G .* (X + relu(X*W1)*W2))",
          {"X": "matrix(n, k)", "G": "matrix(n, k)", "W1": "matrix(k, h)",
           "W2": "matrix(h, k)"},
          {"X": "G + (step(X*W1).*(G*W2'))*W1'",
           "W1": "X'*(step(X*W1).*(G*W2'))",
           "W2": "relu(X*W1)'*G"}),
    Layer("convolution layer, one channel (upstream gradient G)",
          "sum(G .* (conv2(X, K) + b))",
          {"X": "matrix(6, 6)", "K": "matrix(3, 3)", "b": "scalar", "G": "matrix(4, 4)"},
          {"K": "conv2(X, G)", "X": "conv2(G, rot180(K), 2)", "b": "sum(G)"},
          "Deep learning's convolution is a cross-correlation (PyTorch's `conv2d`, one "
          "channel, one image: sizes are numbers). Its kernel gradient correlates the input "
          "with the upstream gradient; its input gradient is the full correlation (padding "
          "k - 1) with the kernel turned by 180 degrees. See docs/tutorial/convolution.md."),
]


def layer_values(layer: Layer, seed: int = 0) -> dict[str, np.ndarray]:
    """Random values with small sizes, inside each function's domain."""
    import matdiff

    rng = np.random.default_rng(seed)
    sizes = {"n": 5, "p": 4, "k": 3, "h": 4, "q": 3, "m": 4}
    e = matdiff.parse(layer.expression, layer.declare)
    values: dict[str, np.ndarray] = {}
    for name, v in e.variables.items():
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in v.shape)
        kind = layer.values.get(name)
        if kind == "binary":
            values[name] = rng.choice([0.0, 1.0], shape)
        elif kind == "one-hot":
            values[name] = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
        elif kind == "positive":
            values[name] = rng.uniform(0.5, 2.0, shape)
        else:
            values[name] = rng.uniform(-1.0, 1.0, shape) * (0.5 if v.ndim == 2 else 1.0)
    return values


@dataclass
class Result:
    layer: Layer
    wrt: str
    printed: str
    fd_error: float       # matdiff's check(): relative error against central differences
    same: bool            # printed and textbook forms evaluate to d.evaluate's numbers
    compiled: bool        # the compiled gradient equals d.evaluate's
    explained: int        # number of explanation steps

    @property
    def ratio(self) -> float:
        return _length(self.printed) / _length(self.layer.textbook[self.wrt])


def _length(text: str) -> int:
    return len(text.replace(" ", ""))


def _evaluate_text(text: str, layer: Layer, values: dict) -> np.ndarray:
    import matdiff

    return np.asarray(matdiff.parse(text, layer.declare).evaluate(values), dtype=np.float64)


FD_BOUND = 1e-8  # the check column states a bound: the last digits differ between BLAS builds


def _bound(error: float) -> str:
    """The finite-difference error as a bound, so the file is the same on every machine."""
    return f"< {FD_BOUND:.0e}" if error < FD_BOUND else f"{error:.0e}"


def check_layer(layer: Layer, seed: int = 0) -> list[Result]:
    """Derive every gradient of a layer and check it four ways."""
    import matdiff

    values = layer_values(layer, seed)
    out = []
    for wrt, textbook in layer.textbook.items():
        d = matdiff.diff(layer.expression, wrt=wrt, declare=layer.declare)
        printed = str(d)
        want = np.asarray(d.evaluate(values), dtype=np.float64)
        same = all(np.allclose(_evaluate_text(t, layer, values), want, rtol=1e-7, atol=1e-9)
                   for t in (printed, textbook))
        compiled = np.allclose(np.asarray(d.compile()(**values), dtype=np.float64), want,
                               rtol=1e-9, atol=1e-12)
        out.append(Result(layer, wrt, printed, float(d.check(values=values)), same,
                          bool(compiled), len(d.steps)))
    return out


def markdown(results: list[Result]) -> str:
    """docs/layers.md."""
    lines = [
        "# Layers and losses on a batch",
        "",
        "Generated by `scripts/write_layers_gallery.py` from `tests/layers_gallery.py`; "
        "`tests/test_layer_gallery.py` checks that this file is current. Batches hold one example "
        "per row (`X` is n x p), a bias is added to every row by implicit expansion (`b'`), "
        "and a layer inside a network meets its backward pass as `sum(G .* layer)` with the "
        "upstream gradient `G`. For every gradient: matdiff's printed form (what "
        "`matdiff.diff(...)` prints; it parses back), the textbook form written by hand, "
        "the finite-difference check (`d.check()`, relative error, shown as a bound), "
        "and whether the printed form, the textbook form, `d.evaluate` and `d.compile()` "
        "agree at random values. Every derivation is also explained step by step (`d.explain()`).",
        "",
    ]
    by_layer: dict[str, list[Result]] = {}
    for r in results:
        by_layer.setdefault(r.layer.name, []).append(r)
    for name, rs in by_layer.items():
        layer = rs[0].layer
        decl = ", ".join(f"`{n}: {t}`" for n, t in layer.declare.items()
                         if n in _names(layer.expression))
        lines += [f"## {name[0].upper()}{name[1:]}", "", f"    {layer.expression}", "",
                  f"Declared: {decl}." if decl else "", ""]
        lines += ["| wrt | matdiff | textbook | check | agree |", "|---|---|---|---|---|"]
        for r in rs:
            ok = "✓" if r.same and r.compiled else "✗"
            lines.append(f"| {r.wrt} | `{_cell(r.printed)}` | `{_cell(layer.textbook[r.wrt])}` "
                         f"| {_bound(r.fd_error)} | {ok} |")
        if layer.note:
            lines += ["", layer.note]
        lines.append("")
    return "\n".join(line for line in lines).rstrip() + "\n"


def _names(text: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
