"""The backward pass as text (a matdiff program), as LaTeX, and explained line by line.

Text: one assignment per line, `dz2 = softmax(z2) - y`, over the forward
program's names; appended to the forward program it parses and computes
the gradients. LaTeX: error signals are `\\delta_{z_2}` (the gradient of
the function with respect to z2), gradients `\\frac{\\partial L}{\\partial
W_1}`, the element-wise product `\\odot`.
"""

from __future__ import annotations

from ..ir import expr as ir
from ..ir.expr import Expr
from ..ir.substitute import substitute
from ..language.program import intermediate_leaf
from ..printing import expression_form, to_text
from ..printing.latex import LatexPrinter, latex_name
from .reverse import BackwardPass

__all__ = ["named_lines", "backward_text", "backward_latex", "backward_explain"]


def named_lines(bp: BackwardPass) -> list[tuple[str, Expr]]:
    """(name, expression) per line, forward values written by their names (h1, not relu(z1))."""
    names: dict[Expr, Expr] = {}
    for s in bp.program.statements:
        if s.name is not None and s.local.args:
            names[s.local] = intermediate_leaf(s.name, s.local.shape)
    return [(ln.name, substitute(ln.expr, names) if names else ln.expr) for ln in bp.lines]


def row_names(bp: BackwardPass) -> frozenset[str]:
    """The row vectors among the names: the program's, and the error signal or gradient
    of each (a row's gradient is a row)."""
    rows = bp.program.rows
    return rows | {ln.name for ln in bp.lines if ln.of in rows}


def _orientation(bp: BackwardPass, line) -> str | None:
    """dNAME has NAME's orientation: a row's is a row, a column's a column."""
    if line.of in bp.program.rows:
        return "row"
    return "col" if line.expr.ndim == 1 else None


def _line_text(bp: BackwardPass, line, e: Expr, leaves) -> str:
    if line.kind == "gradient" and ir.is_zero(e) and e.ndim:
        return f"0*{line.of}"  # a zero of the input's own shape (matrix(0) would not say which)
    return to_text(e, orientation=_orientation(bp, line), variables=leaves,
                   declare=dict(bp.program.declarations), rows=row_names(bp))


def _line_form(bp: BackwardPass, line, e: Expr, leaves):
    return expression_form(e, _orientation(bp, line), leaves, dict(bp.program.declarations),
                           row_names(bp))


def defined_lines(bp: BackwardPass) -> list:
    """The forward statements a printed pass writes itself: the pre-activations matdiff
    named in a single expression (split.py), which no user line defines."""
    named = set(bp.program.named)
    return [s for s in bp.program.statements if s.name in named]


def _defined_text(bp: BackwardPass, s) -> str:
    return to_text(s.local, orientation="row" if s.kind == "row" else
                   "col" if s.local.ndim == 1 else None,
                   variables=bp.program.leaves, declare=dict(bp.program.declarations),
                   rows=row_names(bp))


def _defined_form(bp: BackwardPass, s):
    return expression_form(s.local, "row" if s.kind == "row" else
                           "col" if s.local.ndim == 1 else None, bp.program.leaves,
                           dict(bp.program.declarations), row_names(bp))


def backward_text(bp: BackwardPass) -> str:
    leaves = bp.program.leaves
    return "\n".join([*(f"{s.name} = {_defined_text(bp, s)}" for s in defined_lines(bp)),
                      *(f"{name} = {_line_text(bp, ln, e, leaves)}"
                        for ln, (name, e) in zip(bp.lines, named_lines(bp)))])


def _function_latex(bp: BackwardPass) -> str:
    out = bp.program.output
    return latex_name(out.name) if out.name else "f"


class _BackwardLatex(LatexPrinter):
    """Error signals as deltas, gradients as partial derivatives."""

    def __init__(self, symbols: dict[str, str]) -> None:
        super().__init__()
        self.symbols = symbols

    def _print_sym(self, f, parts):
        return self.symbols.get(f.value) or super()._print_sym(f, parts)


def _symbols(bp: BackwardPass) -> dict[str, str]:
    f = _function_latex(bp)
    out = {}
    for ln in bp.lines:
        if ln.kind == "signal":
            out[ln.name] = f"\\delta_{{{latex_name(ln.of)}}}"
        else:
            out[ln.name] = f"\\frac{{\\partial {f}}}{{\\partial {latex_name(ln.of)}}}"
    return out


def backward_latex(bp: BackwardPass) -> str:
    """An aligned block, one equation per line of the backward pass."""
    symbols = _symbols(bp)
    printer = _BackwardLatex(symbols)
    leaves = bp.program.leaves
    rows = [f"{latex_name(s.name)} &= {printer.doprint(_defined_form(bp, s))}"
            for s in defined_lines(bp)]
    rows += [f"{symbols[name]} &= {printer.doprint(_line_form(bp, ln, e, leaves))}"
             for ln, (name, e) in zip(bp.lines, named_lines(bp))]
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _rule(bp: BackwardPass, line) -> str:
    s = line.statement
    target = s.name or "the function"
    if line.kind == "signal":
        sources = list(line.uses) or _senders(bp, line.of)
        note = _stable_note(bp, sources)
        if len(sources) > 1:
            how = " + ".join(sources)
            return (f"error signal of {line.of}: {line.of} is used by {how}, so the vector "
                    f"chain rule adds what each sends back (the transposed Jacobian of each "
                    f"times its error signal){note}")
        return (f"error signal of {line.of}: the vector chain rule through {sources[0]} "
                f"(its transposed Jacobian times its error signal){note}"
                if sources else f"error signal of {line.of}")
    sources = list(line.uses) or [target]
    note = _stable_note(bp, sources)
    if len(sources) > 1:
        return (f"gradient of {line.of}: {line.of} enters {' and '.join(sources)}; the vector "
                f"chain rule sums their parts{note}")
    if not line.uses:
        return f"gradient of {line.of}: the function does not depend on {line.of}"
    return (f"gradient of {line.of}: the vector chain rule through {sources[0]} (the Jacobian "
            f"of {sources[0]} with respect to {line.of}, transposed, times the error signal of "
            f"{sources[0]}){note}")


def _stable_note(bp: BackwardPass, sources: list[str]) -> str:
    """What a sending line's logs of names were taken as (through.py), so the rule says
    why the signal skips the name: `; L takes log(s) as z - logsumexp(z)`."""
    parts = []
    leaves, rows = bp.program.leaves, row_names(bp)
    for r in bp.stable_logs:
        who = r.line or "the function"
        if who in sources:
            log, form = (to_text(e, variables=leaves, rows=rows) for e in (r.log, r.form))
            parts.append(f"{who} takes {log} as {form}")
    if not parts:
        return ""
    return "; " + ", ".join(parts) + " (the same value, in its stable form)"


def _senders(bp: BackwardPass, name: str) -> list[str]:
    """The statements that use `name` (they send it error signals)."""
    out = []
    for s in bp.program.statements:
        if any(n.op.value == "var" and n.name == name for n in ir.topo_order(s.local)):
            out.append(s.name or "the function")
    return out


def backward_explain(bp: BackwardPass, format: str = "text") -> str:
    """Each line with the rule that gives it (the vector chain rule, per line)."""
    from ..errors import MatdiffError

    if format not in ("text", "markdown", "latex"):
        raise MatdiffError(f"format must be text, markdown or latex, not {format!r}")
    symbols = _symbols(bp)
    printer = _BackwardLatex(symbols)
    leaves = bp.program.leaves
    f = bp.program.output.name or "the function"
    out = []
    if format == "text":
        out.append(f"Backward pass of {f} (reverse mode: from the function back to the inputs)")
    elif format == "markdown":
        out.append(f"**Backward pass of {f}** (reverse mode: from the function back to the inputs)")
    else:
        out.append(f"\\text{{Backward pass of {f}}}")

    def step(k: int, name: str, text: str, latex: str, why: str) -> str:
        if format == "text":
            return f"{k}. {name} = {text}\n     {why}"
        if format == "markdown":
            return f"{k}. `{name} = {text}`  \n   {why}"
        return f"{latex} \\quad \\text{{{why}}}"

    defined = defined_lines(bp)
    for k, s in enumerate(defined, 1):
        signal = next((ln.name for ln in bp.lines if ln.of == s.name), f"d{s.name}")
        out.append(step(k, s.name, _defined_text(bp, s),
                        f"{latex_name(s.name)} = {printer.doprint(_defined_form(bp, s))}",
                        f"the pre-activation {s.name}, named so that every gradient through "
                        f"it shares its error signal {signal}"))
    lines = named_lines(bp)
    for k, (ln, (name, e)) in enumerate(zip(bp.lines, lines), len(defined) + 1):
        out.append(step(k, name, _line_text(bp, ln, e, leaves),
                        f"{symbols[name]} = {printer.doprint(_line_form(bp, ln, e, leaves))}",
                        _rule(bp, ln)))
    return "\n".join(out) if format != "latex" else " \\\\\n".join(out)
