"""Steps as plain text, Markdown with LaTeX, LaTeX, or HTML with MathML.

The formats are a name-keyed registry (FORMATS); an unknown name is an
error listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import MatdiffError

__all__ = ["render_steps", "FORMATS", "sections", "equation"]

_HEADINGS = {
    "lower": "Start from the derivative one order lower",
    "introduce": "Introduce intermediate variables",
    "local": "Local derivatives",
    "chain": "Combine by the chain rules",
    "differential": "Take differentials, piece by piece",
    "read": "Read the derivative off the differential",
    "substitute": "Substitute back",
    "simplify": "Simplify",
    "derivative": "Differentiate",
    "result": "Result",
    "layout": "In matdiff's shape layout",
}


def sections(steps) -> list[tuple[str, list]]:
    """The steps grouped under their headings, in order (as every format shows them)."""
    return _sections(steps)


def equation(step, latex: bool = False) -> str:
    """One step's equation: `lhs = before = after`, or a rewrite `before -> after`."""
    if latex:
        lhs, before, after = step.lhs_latex, step.before_latex, step.after_latex
        arrow = " \\;\\to\\; "
    else:
        lhs, before, after = step.lhs, step.before, step.after
        arrow = " -> "
    if step.kind == "simplify" and not lhs:
        return f"{before}{arrow}{after}" if before else after
    return _equation(lhs, before, after)


def _sections(steps) -> list[tuple[str, list]]:
    sections: list[tuple[str, list]] = []
    for s in steps:
        heading = _HEADINGS.get(s.kind, _HEADINGS["chain"] if s.kind == "cases" else s.kind)
        if not sections or sections[-1][0] != heading:
            sections.append((heading, []))
        sections[-1][1].append(s)
    return sections


def _equation(lhs: str, before: str, after: str, eq: str = " = ") -> str:
    parts = [p for p in (lhs, before, after) if p]
    return eq.join(parts)


def _text(steps) -> str:
    lines: list[str] = []
    for k, (heading, group) in enumerate(_sections(steps), 1):
        lines.append(f"{k}. {heading}")
        for s in group:
            if s.kind == "simplify" and not s.lhs:
                body = f"{s.before} -> {s.after}" if s.before else s.after
            else:
                body = _equation(s.lhs, s.before, s.after)
            label = "" if s.kind == "introduce" else f"   [{s.rule}]"
            lines.append(f"   {body}{label}")
            if s.note and s.kind not in ("introduce",):
                lines.append(f"      {s.note}")
    return "\n".join(lines)


def _markdown(steps) -> str:
    lines: list[str] = []
    for k, (heading, group) in enumerate(_sections(steps), 1):
        lines.append(f"{k}. **{heading}**")
        lines.append("")
        for s in group:
            if s.kind == "simplify" and not s.lhs_latex:
                body = (f"{s.before_latex} \\;\\to\\; {s.after_latex}" if s.before_latex
                        else s.after_latex or s.after)
            else:
                body = _equation(s.lhs_latex, s.before_latex, s.after_latex)
            rule = "" if s.kind == "introduce" else f" — *{s.rule}*"
            note = f": {s.note}" if s.note and s.kind != "introduce" else ""
            lines.append(f"   - ${body}${rule}{note}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _escape(s: str) -> str:
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
             "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
             "^": r"\textasciicircum{}"}
    return "".join(table.get(ch, ch) for ch in s)


def _latex(steps) -> str:
    rows: list[str] = []
    for heading, group in _sections(steps):
        rows.append(f"&\\textbf{{{_escape(heading)}}} \\\\")
        for s in group:
            if s.kind == "simplify" and not s.lhs_latex:
                left, right = s.before_latex or "", s.after_latex or _escape(s.after)
                eq = "&\\to " if left else "& "
            else:
                left = s.lhs_latex
                right = _equation("", s.before_latex, s.after_latex)
                eq = "&= "
            tag = "" if s.kind == "introduce" else f" && \\text{{{_escape(s.rule)}}}"
            rows.append(f"{left} {eq}{right}{tag} \\\\")
    if rows:
        rows[-1] = rows[-1].removesuffix(" \\\\")
    return "\\begin{align*}\n" + "\n".join(rows) + "\n\\end{align*}"


def _html(steps) -> str:
    """The steps as HTML, their equations in MathML (a notebook's display, offline)."""
    from ..printing.html import code, escape, mathml

    items: list[str] = []
    for heading, group in _sections(steps):
        rows = []
        for s in group:
            latex = equation(s, latex=True)
            body = mathml(latex, display=False) if latex.strip() else code(s.after)
            rule = "" if s.kind == "introduce" else f"<em>{escape(s.rule)}</em>"
            note = f": {escape(s.note)}" if s.note and s.kind != "introduce" else ""
            why = f"<div style='margin-left:1.5em'>{rule}{note}</div>" if rule or note else ""
            rows.append(f"<li style='margin:0.4em 0'>{body}{why}</li>")
        items.append(f"<li><strong>{escape(heading)}</strong>"
                     f"<ul style='list-style:none;padding-left:1em'>{''.join(rows)}</ul></li>")
    return f'<ol class="matdiff-steps">{"".join(items)}</ol>'


FORMATS: dict[str, Callable] = {"text": _text, "markdown": _markdown, "latex": _latex,
                                "html": _html}


def render_steps(steps, format: str = "text") -> str:
    """The steps in one of FORMATS: "text", "markdown" (with LaTeX), "latex" or "html"."""
    if format not in FORMATS:
        raise MatdiffError(f"unknown format {format!r}; choose one of: {', '.join(FORMATS)}")
    return FORMATS[format](steps)
