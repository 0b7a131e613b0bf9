"""The LaTeX printer: the notation of the article and the Matrix Cookbook.

`x^\\top`, `A^{-1}`, `\\odot` for the element-wise product, `\\oslash` for
the element-wise quotient, `\\frac{a}{b}`, `\\operatorname{diag}`, `I` for
the identity, `\\mathbf{1}` for a vector of ones, `\\sigma` for the
sigmoid; index notation as `T_{ijk} = \\delta_{ij} x_{k}`. Products are
juxtaposed, as in print.
"""

from __future__ import annotations

import re

from ..ir.ops import SPECS, spelling
from .form import Form
from .precedence import ATOM
from .printer import Printer, number_text

__all__ = ["LatexPrinter", "latex_name"]

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
}

_CALLED = [op for op, spec in SPECS.items() if spec.latex and not spec.operator]
# function name -> LaTeX operator (a call prints as operator(arguments)): the op spec's
# spellings, and the functions that print as calls without being ops of their own
FUNCTIONS = {
    **{spelling(op): SPECS[op].latex for op in _CALLED if "{0}" not in SPECS[op].latex},
    "diag": r"\operatorname{diag}", "tr": r"\operatorname{tr}", "sum": r"\operatorname{sum}",
    "mean": r"\operatorname{mean}", "ones": r"\operatorname{ones}",
}
# function name -> LaTeX template over {0} (sqrt, abs, norm2, inv); a template starting
# with {0} is postfix and brackets a compound argument
TEMPLATES = {spelling(op): SPECS[op].latex for op in _CALLED if "{0}" in SPECS[op].latex}


def latex_name(name: str) -> str:
    """w1 -> w_{1}, W_out -> W_{out}, alpha -> \\alpha, bias -> \\mathrm{bias}."""
    m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name)
    if m and (len(m.group(1)) == 1 or m.group(1) in _GREEK):
        return f"{latex_name(m.group(1))}_{{{m.group(2)}}}"
    head, sep, tail = name.partition("_")
    if sep and tail:
        return f"{latex_name(head)}_{{{tail}}}"
    if name in _GREEK:
        return "\\" + name
    if len(name) == 1:
        return name
    return f"\\mathrm{{{name}}}"


def _subscript(names: list[str]) -> str:
    """ijk for one-letter indices; i,j,k1 when a name is longer (so it reads unambiguously)."""
    return ("," if any(len(n) > 1 for n in names) else "").join(names)


def _visible_product(left: str, right: str) -> str:
    """The product of two juxtaposed factors: `\\cdot` where a number would run into the
    next factor (2 \\cdot 3, 2 \\cdot \\mathbf{1}); a space otherwise."""
    if right[:1].isdigit() or (left[-1:].isdigit() and right.startswith("\\mathbf{1}")):
        return " \\cdot "
    return " "


class LatexPrinter(Printer):
    """Forms to LaTeX math (no surrounding dollars)."""

    def bracket(self, s: str) -> str:
        return f"\\left({s}\\right)"

    def _print_sym(self, f: Form, parts: list[str]) -> str:
        return latex_name(f.value)

    def _print_num(self, f: Form, parts: list[str]) -> str:
        s = number_text(f.value)
        if "e" in s:
            mant, _, ex = s.partition("e")
            return f"{mant} \\cdot 10^{{{int(ex)}}}"
        return s

    def _print_call(self, f: Form, parts: list[str]) -> str:
        name = f.value
        if name in TEMPLATES:
            template = TEMPLATES[name]
            arg = parts[0]
            if template.startswith("{0}") and self.precedence(f.args[0]) < ATOM:
                arg = self.bracket(arg)
            return template.replace("{0}", arg)
        op = FUNCTIONS[name]
        return f"{op}\\left({', '.join(parts)}\\right)"

    def _print_ones(self, f: Form, parts: list[str]) -> str:
        if parts:  # its size written: 1_m, 0_{m x n}
            size = " \\times ".join(parts)
            one = r"\mathbf{0}" if f.value == 0.0 else r"\mathbf{1}"
            one = f"{one}_{{{size}}}"
            return one if f.value in (0.0, 1.0) else f"{number_text(f.value)} \\cdot {one}"
        if f.value == 0.0:
            return r"\mathbf{0}" if f.orient == "c" else "0"
        one = r"\mathbf{1}" if f.orient == "c" else r"\mathbf{1}\mathbf{1}^\top"
        return one if f.value == 1.0 else f"{number_text(f.value)} \\cdot {one}"

    def _print_eye(self, f: Form, parts: list[str]) -> str:
        return f"I_{{{parts[0]}}}" if parts else "I"

    def _print_empty(self, f: Form, parts: list[str]) -> str:
        return r"[\,]"  # max(X, [], 2), as MATLAB writes it

    def _print_block(self, f: Form, parts: list[str]) -> str:
        # a zero block spread through variables (0*x*y', for the text to parse back) is 0
        parts = [self.raw_parts[k][: self.raw_parts[k].index(" ")]
                 if a.kind == "mul" and a.value == "spread" and " " in self.raw_parts[k] else s
                 for k, (a, s) in enumerate(zip(f.args, parts))]
        rows, k = [], 0
        for n in f.value:
            rows.append(" & ".join(parts[k:k + n]))
            k += n
        return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"

    def size_factors(self, f: Form) -> tuple[str, ...]:
        return f.value[2]

    def _print_size(self, f: Form, parts: list[str]) -> str:
        return " ".join(f.value[2])

    def _print_t(self, f: Form, parts: list[str]) -> str:
        inner = f.args[0]
        if inner.kind == "call" and inner.value == "inv":  # inv(A)' -> A^{-\top}
            return parts[0].replace("^{-1}", "^{-\\top}")
        if inner.kind == "ones" and inner.value == 1.0 and not inner.args:
            return r"\mathbf{1}^\top"
        return parts[0] + "^\\top"

    def _print_pow(self, f: Form, parts: list[str]) -> str:
        circ = "" if f.args[0].orient == "s" else "\\circ "
        base, inner = parts[0], f.args[0]
        if inner.kind == "t" or (inner.kind == "call" and inner.value == "inv"):
            base = self.bracket(base)  # (x^\\top)^{2}: one superscript per base
        return f"{base}^{{{circ}{self.raw_parts[1]}}}"  # the braces group the exponent

    def _print_neg(self, f: Form, parts: list[str]) -> str:
        return "-" + parts[0]

    def _print_mul(self, f: Form, parts: list[str]) -> str:
        out = parts[0]
        for s in parts[1:]:
            out += _visible_product(out, s) + s
        return out

    def _print_had(self, f: Form, parts: list[str]) -> str:
        return " \\odot ".join(parts)

    def _print_ediv(self, f: Form, parts: list[str]) -> str:
        return f"{parts[0]} \\oslash {parts[1]}"

    def _print_sdiv(self, f: Form, parts: list[str]) -> str:
        top, bottom = self.raw_parts
        return f"\\frac{{{top}}}{{{bottom}}}"

    # ------------------------------------------------------------ index notation

    def index_result(self, result: str, names: list[str], body: str) -> str:
        return f"{result}_{{{_subscript(names)}}} = {body}"

    def index_entry(self, s: str, arg: Form, names: list[str]) -> str:
        if arg.kind == "sym" and s.endswith("}") and "_{" in s:  # h_{1}[k] -> h_{1,k}
            head, _, sub = s[:-1].partition("_{")
            return f"{head}_{{{sub},{_subscript(names)}}}"
        base = s if arg.kind == "sym" else self.bracket(s)
        return f"{base}_{{{_subscript(names)}}}"

    def index_delta(self, i: str, j: str) -> str:
        return f"\\delta_{{{_subscript([i, j])}}}"

    def index_product(self, items: list[str]) -> str:
        return " ".join(items) or "1"

    def index_sum(self, names: list[str], body: str) -> str:
        return f"\\sum_{{{_subscript(names)}}} {body}"

    def index_call(self, name: str, args: list[str]) -> str:
        op = FUNCTIONS.get(name, f"\\operatorname{{{name}}}")
        return f"{op}\\left({', '.join(args)}\\right)"

    def index_block(self, name: str, items: list[str]) -> str:
        return r"\begin{bmatrix} " + r" \\ ".join(items) + r" \end{bmatrix}_{" + name + "}"

    def index_pow(self, base: str, ex: str) -> str:
        return f"{base}^{{{ex}}}"
