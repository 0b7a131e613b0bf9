"""One request of the web page, answered with matdiff's public API.

Beside `matdiff` itself it reads helpers the API does not offer, all
read-only: `language.parse_declarations` (the declare box's syntax),
`printing` (`LAYOUTS`, `latex_name` for the page's LaTeX of a name,
`NOTATIONS`: the answer carries the derivative in every notation, so one added
to printing/notations.py shows on the page with no edit here),
`verify.check_bytes` (a check's memory, known before it runs), `explain`
(`sections` and `equation`, the steps grouped for the page) and
`wrt.wrt_names` (the reading of `wrt` that every entry point shares). `.importlinter`
forbids the web page any other stage (the IR, derive, simplify, codegen, ...).

`answer(payload)` turns the JSON the page posts into `(status, body)`: 200 and
every view of the derivative, 400 and the error's message and position for bad
input, 500 and one plain line for anything else. It runs either in the server's
thread or in a worker process (see workers.py), so it takes and returns plain
JSON-ready data and never raises.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from typing import Any

import matdiff
from matdiff.printing.latex import latex_name

from ..language import parse_declarations
from ..printing import LAYOUTS, NOTATIONS
from ..wrt import wrt_names

__all__ = ["answer", "parse_declarations", "render_mathml", "mathml_available",
           "set_memory_budget", "EXAMPLES", "LAYOUTS", "MAX_EXPRESSION", "DEFAULT_MEMORY_MB"]

log = logging.getLogger("matdiff.web")

MAX_EXPRESSION = 4000  # characters: far beyond any formula a person types
CHECK_TOLERANCE = 1e-6  # a correct derivative is ~1e-10 off; a kink or overflow far more
DEFAULT_MEMORY_MB = 1024  # address space of one worker process (see workers.py)
BASELINE_MB = 256  # what Python, NumPy and matdiff take before any value is drawn
_budget: list[int | None] = [(DEFAULT_MEMORY_MB - BASELINE_MB) * 2**20]


def set_memory_budget(megabytes: int) -> None:
    """The memory a derivative's check may take: the worker's limit less its baseline.

    0 means no limit (the server was started with --memory 0).
    """
    _budget[0] = max(megabytes - BASELINE_MB, 16) * 2**20 if megabytes > 0 else None

# The page's one-click examples, from the seed notes (tests derive every one).
EXAMPLES: list[dict[str, Any]] = [
    {"title": "a neuron", "expression": "max(0, w'*x + b)", "wrt": "w",
     "declare": "b=scalar", "order": 1},
    {"title": "its loss", "expression": "mean((y - max(0, X*w + b)).^2)", "wrt": "w",
     "declare": "", "order": 1},
    {"title": "a quadratic form", "expression": "x'*A*x", "wrt": "x",
     "declare": "", "order": 1},
    {"title": "symmetric A", "expression": "x'*A*x", "wrt": "x",
     "declare": "A=symmetric matrix", "order": 1},
    {"title": "softmax", "expression": "softmax(x)", "wrt": "x", "declare": "", "order": 1},
    {"title": "a logistic Hessian", "expression": "sum(log(1 + exp(-y .* (X*w))))",
     "wrt": "w", "declare": "", "order": 2},
    {"title": "a 3-tensor", "expression": "W*x", "wrt": "W", "declare": "", "order": 1},
    {"title": "a two-layer net", "expression": "b1, b2: vector\nz1 = W1*x + b1\n"
     "h1 = relu(z1)\nz2 = W2*h1 + b2\nL = -y'*log(softmax(z2))",
     "wrt": "W1, b1, W2, b2", "declare": "", "order": 1},
    {"title": "batch norm", "expression": "g, c: vector\nM = X - mean(X, 1)\n"
     "V = mean(M.^2, 1)\nXh = M./sqrt(V + 1e-5)\nY = Xh.*g' + c'\n"
     "L = sum(sum(Y.*G))  # G: the gradient from the layers above",
     "wrt": "X, g, c", "declare": "", "order": 1},
]


class InputError(matdiff.MatdiffError):
    """A field of the request is missing or malformed; `field` names it for the page."""

    status = 400

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class TooLarge(InputError):
    """The sizes asked for need more memory than a derivative may take here (422)."""

    status = 422


def _megabytes(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{max(n / 2**20, 1):.0f} MB"


def _afford(d: matdiff.Derivative, declarations: dict[str, str]) -> None:
    """Refuse, before allocating anything, a check the memory budget cannot hold."""
    from matdiff.verify import check_bytes

    budget = _budget[0]
    need = check_bytes(d.ir, d.function.ir, d.wrt, d.variables, d.raw)
    if budget is not None and need > budget:
        raise TooLarge(f"checking this derivative numerically needs about {_megabytes(need)} "
                       f"with these sizes, more than the {_megabytes(budget)} one derivative "
                       "may use on this server; declare smaller or symbolic sizes "
                       "(matrix(m, n)), or restart the server with a larger --memory",
                       "declare" if declarations else "expression")


def mathml_available() -> bool:
    """Whether the optional `web` extra (latex2mathml) is installed."""
    try:
        import latex2mathml.converter  # noqa: F401
    except ImportError:
        return False
    return True


# latex2mathml writes \operatorname{step} and \max as operators (<mo>), which browsers
# space as if they were '+'; a multi-letter name is an identifier (<mi>), set upright.
_NAMED_OPERATOR = re.compile(r"<mo>([A-Za-z]{2,})</mo>")
# A minus first in a group or right after another operator (an opening bracket, '=', ',')
# is a sign: prefix form, no spacing. After a closing bracket it stays binary.
_SIGN = re.compile(r"(<mrow>|<mo[^>]*>(?!&#x00029;|&#x0005D;|&#x0007D;|&#x0007C;)[^<]*</mo>)"
                   r"<mo>&#x02212;</mo>")


_RIGHT_CELL = re.compile(r'<mtd columnalign="right">(.*?)</mtd>')


def render_mathml(latex: str) -> str | None:
    """LaTeX as display MathML (browsers draw it natively), or None without latex2mathml."""
    try:
        from latex2mathml.converter import convert
    except ImportError:
        return None
    # latex2mathml has no `aligned` (a backward pass is one): `split` is the same
    # right-left column pair.
    latex = latex.replace("{aligned}", "{split}")
    try:
        mathml = convert(latex, display="block")
    except Exception:  # a construct latex2mathml cannot read: the page shows the source
        log.warning("latex2mathml could not convert %r", latex, exc_info=True)
        return None
    mathml = _NAMED_OPERATOR.sub(r"<mi>\1</mi>", mathml)
    # MathML Core lays a cell out from its start, ignoring columnalign: the page's CSS
    # starts a right-aligned cell from the right, so its content is one row.
    mathml = _RIGHT_CELL.sub(r'<mtd columnalign="right"><mrow>\1</mrow></mtd>', mathml)
    return _SIGN.sub(r'\1<mo form="prefix">&#x02212;</mo>', mathml)


def _field(payload: dict[str, Any], name: str, default: Any, kind: type) -> Any:
    value = payload.get(name, default)
    if value is None:
        value = default
    if kind is int and isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(f"'{name}' must be {'a whole number' if kind is int else 'text'}, "
                         f"not {value!r:.40}", name)
    return value


def _request(payload: Any) -> tuple[str, str, dict[str, str], int, str]:
    """The validated fields: expression, wrt, declarations, order, layout."""
    if not isinstance(payload, dict):
        raise InputError("the request must be a JSON object", "body")
    expression = _field(payload, "expression", "", str)
    if not expression.strip():
        raise InputError("type an expression, such as x'*A*x", "expression")
    if len(expression) > MAX_EXPRESSION:
        raise InputError(f"the expression is longer than {MAX_EXPRESSION} characters",
                         "expression")
    wrt = _field(payload, "wrt", "", str).strip()
    if not wrt:
        raise InputError("name the variable to differentiate with respect to", "wrt")
    declare = payload.get("declare") or ""
    if isinstance(declare, dict) and all(isinstance(v, str) for v in declare.values()):
        declarations = {str(k): v for k, v in declare.items()}
    elif isinstance(declare, str):
        try:
            declarations = parse_declarations(declare)
        except matdiff.MatdiffError as e:
            raise InputError(e.message, "declare") from None
    else:
        raise InputError("'declare' must be text such as 'A=symmetric matrix'", "declare")
    order = _field(payload, "order", 1, int)
    layout = _field(payload, "layout", "shape", str)
    if layout not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}",
                         "layout")
    return expression, wrt, declarations, order, layout


def _shape_text(shape: list[str]) -> str:
    return " x ".join(shape) if shape else "scalar"


def _lhs(wrt: str, order: int, f: str = "f") -> str:
    """`∂f/∂x` (or `∂²f/∂x²`), the left side of the answer; f is shown above it."""
    f = latex_name(f)
    if order == 1:
        return f"\\frac{{\\partial {f}}}{{\\partial {latex_name(wrt)}}}"
    return f"\\frac{{\\partial^{{{order}}} {f}}}{{\\partial {latex_name(wrt)}^{{{order}}}}}"


def layout_note(function_axes: int, wrt_axes: int, order: int) -> str:
    """Why the three layouts agree or differ for this derivative (see docs/printing.md)."""
    axes = function_axes + order * wrt_axes
    if axes == 0:
        return "A number: the same in every layout."
    if order > 1 or axes > 2:
        what = "a Hessian" if order == 2 and axes == 2 else f"a tensor of {axes} axes"
        return (f"The three layouts print the same here: a layout chooses how the two axes "
                f"of a first derivative are arranged (row or column, a matrix or its "
                f"transpose), and this derivative is {what}, printed in the shape layout: "
                "shape(f) followed by shape(x) for each order.")
    if function_axes == 0:
        kind = "a column" if wrt_axes == 1 else "a matrix shaped like the variable"
        other = "a row" if wrt_axes == 1 else "its transpose"
        return (f"The gradient of a number: the shape and denominator layouts give {kind}, "
                f"the numerator layout {other}.")
    if wrt_axes == 0:
        return ("The derivative of a vector by a number: the shape and numerator layouts "
                "give a column, the denominator layout a row.")
    return ("A Jacobian: the shape and numerator layouts put the function's entries down "
            "and the variable's across; the denominator layout is its transpose.")


def _check(d: matdiff.Derivative) -> dict[str, Any]:
    """The finite-difference check, JSON-ready (NaN becomes null with a note)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            error = float(d.check())
    except matdiff.MatdiffError as e:
        return {"max_relative_error": None, "ok": False, "note": e.message}
    if not math.isfinite(error):
        return {"max_relative_error": None, "ok": False,
                "note": "not a number: the function overflows at the random values drawn"}
    ok = error < CHECK_TOLERANCE
    note = ("agrees with central finite differences at random values" if ok else
            "differs from finite differences: a kink (max, abs, step) near the random "
            "values drawn, or a bug worth reporting")
    return {"max_relative_error": error, "ok": ok, "note": note}


def _notations(d: matdiff.Derivative, layout: str = "shape") -> list[dict[str, str]]:
    """The derivative in every notation of printing.NOTATIONS, in its order, for the page."""
    return [{"name": n.name, "summary": n.summary, "printed": d.printed(n.name, layout)}
            for n in NOTATIONS.values()]


def _view(produce: Any) -> str | None:
    """One optional view (steps, code); a MatdiffError leaves it out, not the answer."""
    try:
        return str(produce())
    except matdiff.MatdiffError as e:
        return f"(not available: {e.message})"


def _at(field: str, e: matdiff.MatdiffError) -> InputError:
    """The same error, charged to the box the page shows it under."""
    return InputError(e.message, field)


def _derivative(expression: str, wrt: str, declarations: dict[str, str],
                order: int) -> matdiff.Derivative:
    """matdiff.diff, with each error charged to its box: declare, order, expression or wrt.

    Each declaration is read alone (`parse(name, {name: type})`) and the order
    tried on `x`, so their errors never land on the expression; a `wrt` the
    parsed expression does not have is the wrt box's fault.
    """
    for name, kind in declarations.items():
        try:
            matdiff.parse(name, {name: kind})
        except matdiff.MatdiffError as e:
            raise _at("declare", e) from None
    try:
        matdiff.diff("x", wrt="x", order=order)
    except matdiff.MatdiffError as e:
        raise _at("order", e) from None
    function = matdiff.parse(expression, declarations or None)
    try:
        return matdiff.diff(function, wrt=wrt, order=order)
    except matdiff.MatdiffError as e:
        if wrt not in function.variables:
            raise _at("wrt", e) from None
        raise


def _function_name(function: matdiff.Expression) -> str:
    """A program's own name for its output (L), as in the backward pass; f otherwise."""
    return function.program.output.name if function.program is not None else "f"


def _several(expression: str, names: list[str], declarations: dict[str, str],
             order: int) -> dict[str, Any]:
    """Every gradient of a program at once: one entry per name, and the backward pass."""
    function = matdiff.parse(expression, declarations or None)
    try:
        grads = matdiff.diff(function, wrt=names, order=order)
    except matdiff.MatdiffError as e:
        if any(n not in function.variables for n in names):
            raise _at("wrt", e) from None
        raise
    f = _function_name(function)
    gradients = []
    for n in names:
        d = grads[n]
        _afford(d, declarations)
        equation = f"{_lhs(n, order, f)} = {d.latex()}"
        gradients.append({"wrt": n, "text": d.to_text(), "latex": d.latex(),
                          "equation_latex": equation, "mathml": render_mathml(equation),
                          "shape_text": _shape_text([str(k) for k in d.shape]),
                          "notations": _notations(d), "check": _check(d)})
    out: dict[str, Any] = {"gradients": gradients, "function_name": f}
    if function.ir.ndim == 0 and order == 1:
        out["backward"] = grads.to_text()
        out["backward_latex"] = grads.latex()
        out["backward_mathml"] = render_mathml(out["backward_latex"])
        out["backward_steps"] = _view(grads.explain)
    return out


def derive(payload: Any) -> dict[str, Any]:
    """Every view of the derivative the payload asks for; raises MatdiffError on bad input.

    A `wrt` naming several variables ("W1, b1") adds every gradient and, for a
    scalar function, the backward pass; the main views show the first name.
    """
    expression, wrt, declarations, order, layout = _request(payload)
    names = _names(wrt)
    if len(names) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", matdiff.MatdiffWarning)
            several = _several(expression, names, declarations, order)
        record = derive({**payload, "wrt": names[0]})
        record.update(several, wrt=wrt)
        return record
    with warnings.catch_warnings():  # the assumptions go into the answer instead
        warnings.simplefilter("ignore", matdiff.MatdiffWarning)
        d = _derivative(expression, wrt, declarations, order)
    _afford(d, declarations)  # before any value is drawn
    record = d.to_dict()
    latex = d.latex(layout=layout)
    name = _function_name(d.function)
    function_latex = f"{latex_name(name)} = {d.function.latex()}"
    equation = f"{_lhs(wrt, order, name)} = {latex}"
    shape = record["shape"]
    return {
        "expression": expression, "wrt": wrt, "order": order, "layout": layout,
        "declare": declarations,
        "text": d.to_text(layout=layout),
        "latex": latex,
        "notations": _notations(d, layout),
        "function_name": name,
        "function_latex": function_latex,
        "equation_latex": equation,
        "function_mathml": render_mathml(function_latex),
        "mathml": render_mathml(equation),
        "mathml_available": mathml_available(),
        "shape": shape,
        "shape_text": _shape_text(shape),
        "function_shape": record["function_shape"],
        "variables": {name: _shape_text(s) for name, s in record["variables"].items()},
        "layout_note": layout_note(len(record["function_shape"]),
                                   len(record["variables"].get(wrt, [])), order),
        "assumptions": d.assumptions,
        "assumptions_text": d.assumptions_text(),
        "check": _check(d),
        "steps": _view(lambda: d.explain(format="text")),
        "steps_typeset": _typeset_steps(d),
        "steps_markdown": _view(lambda: d.explain(format="markdown")),
        "source": _view(d.source),
        **_comparison(payload, expression, wrt, declarations, order, layout),
    }


def _names(wrt: str) -> list[str]:
    """The names of the wrt box ("W1, b1"), each once: read as every `wrt=` is."""
    try:
        return wrt_names(wrt)
    except matdiff.MatdiffError as e:
        raise InputError(f"{e}: name each variable once, separated by commas", "wrt") from e


def check_backward(payload: Any) -> dict[str, Any]:
    """"Check my backward pass": the learner's lines `dNAME = ...` judged line by line by
    matdiff.compare(answer, of=program, wrt=[...]). A pass that does not parse is
    reported in the comparison (with its line and column), not as the request's error."""
    expression, wrt, declarations, _, _ = _request(payload)
    names = _names(wrt)
    text = payload.get("answer")
    if not isinstance(text, str) or not text.strip():
        raise InputError("write your backward pass, one line `dNAME = ...` each", "answer")
    if len(text) > MAX_EXPRESSION:
        raise InputError(f"the backward pass is longer than {MAX_EXPRESSION} characters",
                         "answer")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", matdiff.MatdiffWarning)
            result = matdiff.compare(text, of=expression, wrt=names,
                                     declare=declarations or None)
    except matdiff.MatdiffError as e:
        return {"comparison": {"error": {"message": e.message, "line": e.line,
                                         "column": e.column, "text": text}}}
    record = result.to_dict()
    record["summary"] = str(result)
    record["equal"] = bool(result.equal)
    lines = getattr(result, "lines", None)
    if lines is not None:  # each line's verdict, in the order written
        record["first_wrong"] = result.first_wrong
        record["lines"] = [{"name": line.name, "equal": bool(line.equal),
                            "mistake": line.mistake,
                            "expected": None if line.expected is None else str(line.expected),
                            # optional: the sentence saying what went wrong, and where
                            "diagnosis": getattr(line, "diagnosis", None),
                            "line": getattr(line, "line", None)}
                           for line in lines]
    return {"comparison": record}


def _typeset_steps(d: matdiff.Derivative) -> list[dict[str, Any]] | None:
    """The derivation for the page: one section per heading, each step's equation as
    MathML (None without the web extra: the page shows the text) with its rule beside it."""
    from matdiff.explain import equation, sections

    try:
        steps = d.steps
    except matdiff.MatdiffError:
        return None
    out = []
    for heading, group in sections(steps):
        rows = []
        for s in group:
            latex = equation(s, latex=True)
            rows.append({"kind": s.kind, "rule": "" if s.kind == "introduce" else s.rule,
                         "note": "" if s.kind == "introduce" else s.note,
                         "text": equation(s), "latex": latex,
                         "mathml": render_mathml(latex) if latex else None})
        out.append({"heading": heading, "steps": rows})
    return out


def _comparison(payload: dict[str, Any], expression: str, wrt: str,
                declarations: dict[str, str], order: int, layout: str) -> dict[str, Any]:
    """"Check my answer": when the payload carries an `answer`, matdiff.compare's verdict
    (a bad answer is reported here, under the answer box, not as the page's error)."""
    text = payload.get("answer")
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if not isinstance(text, str) or len(text) > MAX_EXPRESSION:
        raise InputError("the answer must be text, at most "
                         f"{MAX_EXPRESSION} characters", "answer")
    try:
        result = matdiff.compare(text, of=expression, wrt=wrt, declare=declarations or None,
                                 order=order, layout="numerator" if layout == "numerator"
                                 else "shape")
    except matdiff.MatdiffError as e:
        return {"comparison": {"error": {"message": e.message, "line": e.line,
                                         "column": e.column, "text": text}}}
    record = result.to_dict()
    record["summary"] = str(result)
    return {"comparison": record}


def error_body(e: matdiff.MatdiffError, payload: Any = None) -> dict[str, Any]:
    """A MatdiffError as the page shows it: message, position and the offending text."""
    field = getattr(e, "field", None)
    if field is None and e.line is not None:
        field = "expression"
    text = e.text
    if text is None and field == "expression" and isinstance(payload, dict):
        text = payload.get("expression") if isinstance(payload.get("expression"), str) else None
    return {"error": {"message": e.message, "line": e.line, "column": e.column,
                      "kind": type(e).__name__, "field": field, "text": text,
                      "detail": str(e),
                      # the kinds assumed before typing failed ("assuming x: vector ...")
                      "assumptions_text": getattr(e, "assumptions_text", "")}}


def _out_of_memory() -> dict[str, Any]:
    budget = _budget[0]
    limit = f" (about {_megabytes(budget)})" if budget else ""
    return {"error": {"message": "this derivative needed more memory than one derivative may "
                                 f"use on this server{limit}; declare smaller sizes",
                      "line": None, "column": None, "kind": "TooLarge", "field": None,
                      "text": None}}


def answer(payload: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for one request; never raises, never shows a traceback."""
    try:
        if isinstance(payload, dict) and payload.get("task") == "check_backward":
            return 200, check_backward(payload)
        return 200, derive(payload)
    except matdiff.MatdiffError as e:
        if isinstance(e.__cause__, MemoryError):
            return 422, _out_of_memory()
        return getattr(e, "status", 400), error_body(e, payload)
    except MemoryError:
        return 422, _out_of_memory()
    except Exception as e:  # an engine bug: logged on the server, one line for the user
        log.exception("unexpected error answering %r", payload)
        return 500, {"error": {"message": f"internal error ({type(e).__name__}); "
                                          "please report it with the expression",
                               "line": None, "column": None, "kind": "InternalError",
                               "field": None, "text": None}}
