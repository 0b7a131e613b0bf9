"""Rich displays for notebooks: HTML with MathML, which needs no network.

Jupyter shows an object's `_repr_html_` before its `_repr_markdown_` or
`_repr_latex_`; LaTeX needs MathJax (from the network, or a local install)
while MathML is drawn by the browser itself. So each public object gives
HTML whose mathematics is MathML (through latex2mathml, the `web` extra),
and keeps its Markdown/LaTeX displays for other front ends. Without
latex2mathml the LaTeX source is shown in a <code> element.

`Rich` is a str that displays richly: `explain()` returns one, so code that
used the string (printing it, comparing it, writing it to a file) is
unchanged while a notebook shows the steps as mathematics.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = ["mathml", "math_or_code", "escape", "Rich", "table", "card", "image_data_uri", "code",
           "pre", "details", "lines_html", "comparison_html", "pass_comparison_html",
           "step_check_html", "fit_result_html", "compiled_html"]

# latex2mathml sets \operatorname{step} and \max as operators (<mo>), which browsers
# space as if they were '+'; a multi-letter name is an identifier (<mi>), set upright.
_NAMED_OPERATOR = re.compile(r"<mo>([A-Za-z]{2,})</mo>")
# a minus first in a group or right after an operator is a sign: prefix form, no spacing
_SIGN = re.compile(r"(<mrow>|<mo[^>]*>(?!&#x00029;|&#x0005D;|&#x0007D;|&#x0007C;)[^<]*</mo>)"
                   r"<mo>&#x02212;</mo>")


def escape(text: str) -> str:
    return html.escape(str(text), quote=True)


def mathml(latex: str, display: bool = True) -> str:
    """LaTeX as MathML (drawn by the browser, offline), or its escaped source in <code>.

    display=False: inline (left-aligned in a list), still with full-size fractions.
    """
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return _source(latex)
    # latex2mathml has no `aligned` or `align*`: `split` is the same column pair
    text = re.sub(r"\{(aligned|align\*?)\}", "{split}", latex)
    if not display:
        text = "\\displaystyle " + text
    try:
        out = convert(text, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - a construct latex2mathml cannot read: show the source
        return _source(latex)
    out = _NAMED_OPERATOR.sub(r"<mi>\1</mi>", out)
    return _SIGN.sub(r'\1<mo form="prefix">&#x02212;</mo>', out)


def _source(latex: str) -> str:
    return f'<code class="matdiff-latex">{escape(latex)}</code>'


def table(rows: Iterable[Sequence[str]], header: Sequence[str] | None = None) -> str:
    """An HTML table of cells that are HTML already (escape text cells first)."""
    head = ("<thead><tr>" + "".join(f"<th style='text-align:left'>{h}</th>" for h in header)
            + "</tr></thead>") if header else ""
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in row)
                   + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def card(title: str, *parts: str, kind: str = "") -> str:
    """One object's display: a titled block (title is text, parts are HTML)."""
    cls = f"matdiff matdiff-{kind}" if kind else "matdiff"
    return (f'<div class="{cls}"><div><strong>{escape(title)}</strong></div>'
            + "".join(parts) + "</div>")


def image_data_uri(data: bytes, mime: str = "image/png") -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class Rich(str):
    """A string that a notebook shows as HTML (and Markdown): `str` everywhere else.

    Made with the text and callables giving the HTML and Markdown, called only
    when a notebook asks.
    """

    def __new__(cls, text: str, html: Callable[[], str] | None = None,
                markdown: Callable[[], str] | None = None) -> Rich:
        obj = super().__new__(cls, text)
        obj._html = html
        obj._markdown = markdown
        return obj

    def _repr_html_(self) -> str:
        if self._html is not None:
            return self._html()
        return f"<pre>{escape(str(self))}</pre>"

    def _repr_markdown_(self) -> str | None:
        return self._markdown() if self._markdown is not None else None

    def __reduce__(self):  # pickles (and copies) as the plain string it is
        return (str, (str(self),))


# ---------------------------------------------------------------- the objects' displays
# Each takes the object and reads its public attributes only, so this module imports
# nothing of matdiff and every layer can call it.

def code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def details(summary: str, body: str) -> str:
    return f"<details><summary>{escape(summary)}</summary>{body}</details>"


def lines_html(latex_rows: Sequence[str]) -> str:
    """Equations one below the other, each its own MathML block."""
    return "".join(f"<div>{mathml(row)}</div>" for row in latex_rows)


def math_or_code(latex: str | None, text: str) -> str:
    """Inline MathML of `latex`, or the text in <code> where there is no LaTeX."""
    return mathml(latex, display=False) if latex else code(text)


def comparison_html(c) -> str:
    """A Comparison: the verdict, the answer and the derivative as mathematics (their
    text below, to copy), where they differ."""
    if c.equal:
        how = "symbolically" if c.symbolic else "at random points"
        head = f"equal: the answer is the derivative (checked {how})"
    else:
        head = f"not equal ({c.mistake})"
    rows = [("answer", math_or_code(getattr(c, "answer_latex", None), c.answer)),
            ("the derivative", math_or_code(getattr(c, "expected_latex", None), c.expected))]
    if not c.equal and c.diagnosis:
        rows.append(("diagnosis", escape(c.diagnosis)))
    if getattr(c, "point", None) is not None:
        import numpy as np

        def short(v) -> str:
            return escape(np.array2string(np.asarray(v, float), precision=3,
                                          suppress_small=True, separator=", "))

        at = ", ".join(f"{escape(k)} = {short(v)}" for k, v in c.point.items())
        rows.append(("they differ at", at))
        rows.append(("values", f"answer {short(c.answer_value)}, derivative "
                               f"{short(c.expected_value)}"))
    text = f"answer: {c.answer}\nthe derivative: {c.expected}"
    return card(head, table(rows), details("as text", pre(text)), kind="comparison")


def pass_comparison_html(p) -> str:
    """A compared backward pass (PassComparison): its verdict, then a row per line: the
    name, the answer and the right gradient as mathematics, the verdict and the mistake
    with its diagnosis; the whole report as text below."""
    rows = []
    for line in p.lines:
        answer = math_or_code(getattr(line.comparison, "answer_latex", None), line.answer) \
            if line.answer else "<em>(no line)</em>"
        mistake = "" if line.equal else (f"{escape(line.mistake or '')}: "
                                         f"{escape(line.diagnosis)}")
        rows.append((code(line.name), answer, "right" if line.equal else "<strong>wrong</strong>",
                     mistake, math_or_code(line.expected_latex, line.expected)))
    head = str(p).splitlines()[0]
    return card(head, table(rows, ["line", "answer", "verdict", "mistake", "the right gradient"]),
                details("as text", pre(str(p))), kind="pass-comparison")


def step_check_html(check) -> str:
    """A StepCheck: how many comparisons, the largest error, each failed step."""
    head = (f"{check.comparisons} comparisons, largest relative error {check.max_error:.2e}: "
            + ("every step holds" if check.ok else f"{len(check.failures)} failed"))
    rows = [(f"step {f.index + 1}", escape(f.what), escape(f.detail)) for f in check.failures]
    return card(head, table(rows, ["step", "what", "why"]) if rows else "", kind="step-check")


def fit_result_html(r, plot_png: bytes | None) -> str:
    """A FitResult: the summary, the parameters' shapes, the loss curve inline."""
    rows = [("final loss", f"{r.loss:.6g}"), ("optimizer", escape(r.optimizer)),
            ("epochs", str(r.epochs)), ("why it stopped", escape(r.message or "-")),
            ("gradient evaluations", str(r.gradient_evaluations)),
            ("passes over the data", f"{r.data_passes:.3g}"),
            ("rows per second", f"{r.rows_per_second:,.0f}"),
            ("seconds", f"{r.seconds:.3g}"), ("gradients", escape(r.backend))]
    rows += [(f"param {escape(k)}", f"shape {escape(str(tuple(v.shape)))}")
             for k, v in r.params.items()]
    plot = (f'<img alt="training loss" src="{image_data_uri(plot_png)}"/>' if plot_png
            else "<p><em>(the loss curve needs matplotlib)</em></p>" if r.history else "")
    done = ", converged" if r.converged else ""
    return card(f"FitResult: loss {r.loss:.6g} after {r.epochs} epochs{done}", table(rows),
                plot, kind="fit-result")


def compiled_html(title: str, signature: str, doc: str, variables: Sequence[tuple[str, str]],
                  source: str | None) -> str:
    """A compiled function: how to call it, what it returns, its generated module."""
    parts = [f"<p>{code(signature)}</p>", f"<p>{escape(doc)}</p>",
             table([(code(n), escape(s)) for n, s in variables], ["variable", "shape"])]
    if source is not None:
        parts.append(details("generated module", pre(source)))
    return card(title, *parts, kind="compiled")
