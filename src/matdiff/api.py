"""The public objects: a parsed Expression and its Derivative.

Both wrap an IR root. Everything they show or compute is delegated to the
stage that owns it (printing, explain, evaluate, verify, codegen), imported
lazily so that `import matdiff` and the command line start fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from .errors import MatdiffError, MatdiffWarning
from .ir.expr import Expr, set_text_printer
from .signature import shape_text
from .typing import Declarations, Orient, Shape
from .wrt import one_wrt, wrt_names

__all__ = ["Expression", "Derivative", "parse", "diff", "value_and_grad", "Declarations"]


def _ir_text(e: Expr) -> str:
    from .printing import to_text

    return to_text(e)


set_text_printer(_ir_text)  # str(ir node) prints text; the IR itself imports no printer


@contextmanager
def engine_errors(what: str) -> Iterator[None]:
    """Turn an unexpected exception from inside the engine into a MatdiffError.

    Input errors are MatdiffErrors already; anything else is an engine bug, but
    the user still gets one clear line instead of a traceback.
    """
    try:
        yield
    except MatdiffError:
        raise
    except MemoryError as e:  # sizes from the input too large for this machine
        raise MatdiffError(f"not enough memory while {what}: {e}") from e
    except (TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError,
            OverflowError, RecursionError, AssertionError) as e:
        raise MatdiffError(f"internal error while {what} ({type(e).__name__}: {e}); "
                           "please report it") from e


class Expression:
    """A parsed, shape-checked expression.

    `shape` holds symbolic dimensions (`('n',)`); `variables` maps each
    name to its IR leaf (with `.shape`); `orientation` is `"row"` when the
    surface value is a row vector such as `x'*A` (evaluated as a 1-D array).

    Examples:
        >>> e = matdiff.parse("x'*A*x")
        >>> e
        <Expression x'*A*x : scalar>
        >>> print(e.evaluate({"x": np.array([1.0, 2.0]), "A": np.eye(2)}))
        5.0
    """

    # the declarations it was parsed with (parse sets them); diff and value_and_grad accept
    # an already-parsed Expression with declare= only where it agrees with these
    declarations: Mapping[str, str] = MappingProxyType({})

    def __init__(self, ir: Expr, text: str, variables: dict[str, Expr],
                 orientation: Orient = None,
                 assumptions: Mapping[str, str] | None = None, program: Any = None,
                 reasons: Mapping[str, str] | None = None) -> None:
        self.ir = ir
        self.text = text
        self.variables = variables
        self.orientation = orientation
        self._assumptions = dict(assumptions or {})
        self._reasons = dict(reasons or {})
        self.program = program  # language.program.Program when written as one, else None

    @property
    def assumptions(self) -> dict[str, str]:
        """The undeclared names' kinds, as matdiff inferred them: name -> scalar/vector/matrix
        (from their use, else their first letter; `assumption_reasons` says which).

        Declaring a name (`declare={"lam": "scalar"}`) takes it out of this list.
        """
        return dict(self._assumptions)

    @property
    def assumption_reasons(self) -> dict[str, str]:
        """Why each name of `assumptions` has its kind: "first letter", or the use that
        decided it ("a divisor after '/' at column 9")."""
        return {n: self._reasons.get(n, "first letter") for n in self._assumptions}

    def assumptions_text(self) -> str:
        """The assumptions as one sentence ("" when there are none)."""
        return assumptions_text(self._assumptions, self._reasons)

    @property
    def shape(self) -> Shape:
        return self.ir.shape

    @property
    def rows(self) -> frozenset[str]:
        """The variables that are row vectors: a row's value is a 1-D array like a
        column's, so only its declaration says that it prints as a row."""
        if self.program is not None:
            return self.program.rows & frozenset(self.variables)
        from .language.types import Dims, parse_declaration

        return frozenset(n for n, spec in self.declarations.items() if n in self.variables
                         and parse_declaration(n, spec, Dims()).kind == "row")

    def evaluate(self, values: Mapping[str, Any], dims: Mapping[str, int] | None = None) -> Any:
        """The value as a NumPy array (a float for a scalar), dimensions bound from `values`.

        `dims` gives sizes that no value tells, as for `eye` or `vector(1)` alone.
        """
        from .evaluate import evaluate

        with engine_errors("evaluating"):
            return evaluate(self._evaluated(), values, self.variables, dims=dims)

    def _evaluated(self) -> Expr:
        """The IR evaluate computes: the stable form (log(det(K)) as logdet(K), finite
        where it is), found once."""
        from .simplify import stabilize

        if "_stable" not in self.__dict__:
            self._stable = stabilize(self.ir)
        return self._stable

    def printed(self, notation: str = "text") -> str:
        """The expression in a notation of printing.NOTATIONS ("text", "latex", "mathml")."""
        from .printing import print_expression

        return print_expression(self.ir, notation, orientation=self.orientation,
                                variables=self.variables, declare=self._declarations(),
                                rows=self.rows)

    def to_text(self) -> str:
        """The expression in matdiff's text language (what `str()` gives); it parses back.

        (A layout arranges a derivative: Derivative.to_text takes one.)
        """
        return self.printed("text")

    def latex(self) -> str:
        """The expression as LaTeX, in the article's notation."""
        return self.printed("latex")

    @property
    def record(self):
        """The frozen record the stages below the API are handed (ir/record.py)."""
        from .ir.record import FunctionRecord

        return FunctionRecord(self.ir, self.text, self.variables, self.orientation,
                              getattr(self, "program", None), dict(self._declarations()),
                              self.rows)

    def _declarations(self) -> Mapping[str, str]:
        """The user's declarations: printed text is written to parse back with them."""
        return getattr(self, "declarations", None) or {}

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.to_text()} : {shape_text(self.shape)}>"

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def _display_latex(self) -> str:
        return self.latex()

    def _repr_html_(self) -> str:
        """MathML (a notebook draws it offline), the text in the language, the shape."""
        from .printing.html import card, code, mathml

        with engine_errors("printing"):
            return card(f"{type(self).__name__} : {shape_text(self.shape)}",
                        mathml(self._display_latex()), f"<p>{code(self.to_text())}</p>",
                        kind=type(self).__name__.lower())


class Derivative(Expression):
    """d^order f / d wrt^order, a tensor of shape shape(f) + shape(wrt) * order.

    It prints in the text language (the printed form parses back and evaluates
    to what `evaluate` returns), as LaTeX, and as the derivation's steps; it
    checks itself against finite differences and compiles to NumPy.

    Examples:
        >>> d = matdiff.diff("tanh(x)", wrt="x")
        >>> print(d)
        diag(1 - tanh(x).^2)
        >>> print(d.latex())
        \\operatorname{diag}\\left(1 - \\tanh\\left(x\\right)^{\\circ 2}\\right)
        >>> d.check() < 1e-6
        True
    """

    def __init__(self, ir: Expr, function: Expression, wrt: str, order: int,
                 raw: Expr, stable: Expr | None = None, stable_log: Sequence = ()) -> None:
        # a derivative is a tensor in the shape convention: it has no row orientation
        super().__init__(ir, function.text, function.variables, None, function.assumptions,
                         reasons=function.assumption_reasons)
        self.function = function
        self.wrt = wrt
        self.order = order
        self.raw = raw  # the engine's result before the simplifier's rewrites
        # the function as differentiated: its spelled-out forms (exp(X)./sum(exp(X), 2))
        # rewritten to the stable functions (softmax(X, 2)), and those rewrites
        self.stable = function.ir if stable is None else stable
        self.stable_log = list(stable_log)

    def _evaluated(self) -> Expr:
        return self.ir  # derived from the stable form already, and simplified

    @property
    def rows(self) -> frozenset[str]:
        return self.function.rows

    @property
    def record(self):
        """The frozen record explain/ and the checker are handed (ir/record.py)."""
        from .ir.record import DerivativeRecord

        return DerivativeRecord(self.ir, self.raw, self.function.record, self.wrt, self.order,
                                self.variables, self.stable, tuple(self.stable_log))

    def printed(self, notation: str = "text", layout: str = "shape") -> str:
        """The derivative in a notation of printing.NOTATIONS, arranged in `layout`
        (one of printing.LAYOUTS)."""
        from .printing import print_derivative

        with engine_errors("printing"):
            return print_derivative(self.ir, self.function.ir, self.wrt, self.order, layout,
                                    notation, self.function.orientation,
                                    self.function.variables, self.function._declarations(),
                                    self.rows)

    def to_text(self, layout: str = "shape") -> str:
        """The derivative as text, arranged in `layout` (one of printing.LAYOUTS)."""
        return self.printed("text", layout)

    def latex(self, layout: str = "shape") -> str:
        """The derivative as LaTeX, arranged in `layout` (one of printing.LAYOUTS)."""
        return self.printed("latex", layout)

    def check(self, values: Mapping[str, Any] | None = None, seed: int = 0) -> float:
        """Max relative error against central finite differences (random values if none)."""
        from .verify import check

        with engine_errors("checking"):
            return check(self.ir, self.function.ir, self.wrt, self.order, self.variables,
                         values, seed)

    def check_steps(self, values: Mapping[str, Any] | None = None, seed: int = 0):
        """Check every step of the derivation numerically (matdiff.explain.check): each
        definition, local derivative, chain-rule product, rewrite and printed text.

        Returns a StepCheck: `ok` (also its truth value), `failures`, `max_error`, and
        `unchecked`: the steps not finite at these values (not checkable here, not failed).
        """
        from .explain import check_steps

        with engine_errors("checking the steps"):
            return check_steps(self.record, values, seed)

    @property
    def steps(self) -> list:
        """The derivation, rule by rule (see matdiff.explain)."""
        from .explain import derive_steps

        with engine_errors("explaining"):
            return derive_steps(self.record)

    def explain(self, format: str = "text") -> str:
        """The steps rendered as "text", "markdown", "latex" or "html".

        The string a notebook shows as the steps with their mathematics (HTML
        with MathML): it is a `str`, displayed richly (printing.html.Rich).
        """
        from .explain import render_steps
        from .printing.html import Rich

        steps = self.steps
        return Rich(render_steps(steps, format=format),
                    html=lambda: render_steps(steps, format="html"),
                    markdown=lambda: render_steps(steps, format="markdown"))

    def _doc_texts(self) -> tuple[str, str]:
        """The function's and the derivative's text, for a generated module's docstring."""
        from .codegen import doc_text

        return doc_text(self.function.to_text), doc_text(self.to_text)

    def compile(self, structured: bool = False, backend: str | None = None):
        """A fast function fn(**values) computing this derivative.

        backend: a name in `matdiff.codegen.BACKENDS` ("torch", "jax", ...;
        "array-api" is one portable module, its namespace found per call); None
        runs each call on the library of the values passed (NumPy for numbers
        and lists).
        """
        from .codegen import compile_derivative

        with engine_errors("compiling"):
            fn = compile_derivative(self.ir, self.variables, self.wrt, self.order, structured,
                                    *self._doc_texts(), backend=backend)
        options = "".join(f", {k}={v!r}" for k, v in (("structured", structured),
                                                      ("backend", backend)) if v)
        fn.origin, fn.expression = f"{self._call_text()}.compile({options[2:]})", self.text
        return fn

    def source(self, shapes: Mapping[str, Sequence[int]] | None = None,
               backend: str | None = None) -> str:
        """The generated module behind compile() (NumPy, or `backend`'s), as text; planned
        for `shapes` ({name: shape}, as the compiled function plans for its arguments).

        It starts with a comment saying what made it (matdiff's version and this
        call), the expression, the sizes planned by default, and its license."""
        from .codegen import derivative_source

        options = "".join(f", {k}={v!r}" for k, v in (("shapes", shapes), ("backend", backend))
                          if v and v != "numpy")  # numpy: the default's module
        with engine_errors("generating code"):
            return derivative_source(self.ir, self.variables, self.wrt, self.order,
                                     *self._doc_texts(), shapes=shapes, backend=backend,
                                     made_by=f"{self._call_text()}.source({options[2:]})",
                                     expression=self.text)

    def _call_text(self) -> str:
        """The call that makes this derivative: matdiff.diff('...', wrt='x', ...)."""
        declare = dict(self.function.declarations)
        return (f"matdiff.diff({self.text!r}, wrt={self.wrt!r}"
                + (f", declare={declare!r}" if declare else "")
                + (f", order={self.order}" if self.order != 1 else "") + ")")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the derivative."""
        return {
            "expression": self.function.text,
            "wrt": self.wrt,
            "order": self.order,
            "shape": [str(d) for d in self.shape],
            "function_shape": [str(d) for d in self.function.shape],
            "variables": {name: [str(d) for d in v.shape] for name, v in self.variables.items()},
            "derivative": self.to_text(),
            "latex": self.latex(),
            "assumptions": self.assumptions,
            "assumption_reasons": self.assumption_reasons,
        }

    def _display_latex(self) -> str:
        """d/dx (f) = the derivative, as LaTeX."""
        from .printing import to_latex
        from .printing.latex import latex_name

        f = to_latex(self.function.ir, orientation=self.function.orientation,
                     variables=self.variables)
        if self.order == 1:
            lhs = f"\\frac{{\\partial}}{{\\partial {latex_name(self.wrt)}}}\\left({f}\\right)"
        else:
            lhs = (f"\\frac{{\\partial^{{{self.order}}}}}{{\\partial "
                   f"{latex_name(self.wrt)}^{{{self.order}}}}}"
                   f"\\left({f}\\right)")
        return f"{lhs} = {self.latex()}"

    def _repr_markdown_(self) -> str:
        return f"$$ {self._display_latex()} $$"


def parse(text: str, declare: Declarations = None, of: str | None = None) -> Expression:
    """Parse and shape-check an expression or a program (see docs/programs.md).

    Declarations map names to types ("symmetric matrix"); `of` names the
    assignment that is the function (default: the last statement).

    Undeclared names take their type from their first letter: `a`-`g`
    scalars, `h`-`z` column vectors, `A`-`Z` matrices.

    Examples:
        >>> matdiff.parse("W*x + b", declare={"b": "vector"})
        <Expression W*x + b : n>
        >>> e = matdiff.parse("x'*A*x", declare={"A": "symmetric matrix(3)"})
        >>> e.variables["x"].shape
        (3,)
    """
    return parse_text(text, declare, stacklevel=3, of=of)


def parse_text(text: str, declare: Declarations, stacklevel: int, of: str | None = None,
               goal: str | None = None) -> Expression:
    """parse() as matdiff's own entry points call it (grad, fit, compare, the command line):
    the assumptions are warned at the frame `stacklevel` up (as warnings.warn counts from
    here: 3 is the caller's caller), where the user's call is.

    `goal="scalar"`: the text is a loss (grad, fit, value_and_grad), which types names.
    What was assumed is warned also when typing then fails, and carried on the error.
    """
    from .language import build
    from .language.program import build_program, is_program

    program = None
    inferred: dict = {}
    declared = set(declare) if isinstance(declare, Mapping) else set()
    try:
        with engine_errors("parsing"):
            if of is None and not is_program(text):
                ir, variables, orientation = build(text, declare, goal, inferred)
            else:
                program = build_program(text, declare, of, goal, inferred)
                out = program.output
                ir, variables = out.inlined, program.inputs
                orientation = "row" if out.kind == "row" else None
    except MatdiffError as e:
        assumed = {n: i for n, i in inferred.items() if n not in declared}
        if assumed:
            e.assumptions = _kind_words(assumed)
            e.assumptions_text = assumptions_text(e.assumptions, _reasons(assumed))
            warnings.warn(e.assumptions_text, MatdiffWarning, stacklevel=stacklevel)
        raise
    if program is not None:
        declared |= program.declared
    assumed = {n: i for n, i in inferred.items() if n in variables and n not in declared}
    assumptions = _kind_words(assumed)
    reasons = _reasons(assumed)
    if assumptions:
        warnings.warn(assumptions_text(assumptions, reasons), MatdiffWarning,
                      stacklevel=stacklevel)
    e = Expression(ir, text, variables, orientation, assumptions, program, reasons)
    e.declarations = MappingProxyType(dict(declare) if isinstance(declare, Mapping) else {})
    return e




def _kind_words(inferred: Mapping[str, Any]) -> dict[str, str]:
    from .language.kinds import KIND_WORDS

    return {n: KIND_WORDS[i.kind] for n, i in inferred.items()}


def _reasons(inferred: Mapping[str, Any]) -> dict[str, str]:
    return {n: i.reason for n, i in inferred.items()}


def _spelled(spec: object) -> object:
    return " ".join(spec.lower().split()) if isinstance(spec, str) else spec


def _declarations_agree(expr: Expression, declare: Declarations) -> None:
    """declare= types names while parsing: an already-parsed Expression keeps its types, so
    declarations that differ from those it was parsed with are an error, not ignored."""
    if not declare:
        return
    if not isinstance(declare, Mapping):
        raise MatdiffError(f"declare must be a dict of name -> type, not {type(declare).__name__}")
    had = expr.declarations
    differ = [name for name, spec in declare.items()
              if _spelled(had.get(name)) != _spelled(spec)]
    if differ:
        was = ", ".join(f"{n}: {had[n]}" if n in had else f"{n} undeclared" for n in differ)
        raise MatdiffError(
            f"declare={{{', '.join(f'{n!r}: {declare[n]!r}' for n in differ)}}} cannot re-type "
            f"an expression that is already parsed ({was} when it was parsed); give the text "
            "instead, or parse it with these declarations: matdiff.parse(text, declare=...)")


def assumptions_text(assumptions: Mapping[str, str],
                     reasons: Mapping[str, str] | None = None) -> str:
    """'assuming N: scalar (a divisor after '/' at column 5), lambda: vector (first letter);
    declare them to change' (or "" for none): each name inferred from its use with that
    use, then the names the first letter decided."""
    if not assumptions:
        return ""
    reasons = reasons or {}
    used = [f"{name}: {kind} ({reasons[name]})" for name, kind in assumptions.items()
            if reasons.get(name, "first letter") != "first letter"]
    letter = [f"{name}: {kind}" for name, kind in assumptions.items()
              if reasons.get(name, "first letter") == "first letter"]
    parts = used + ([", ".join(letter) + " (first letter)"] if letter else [])
    return (f"assuming {', '.join(parts)}; declare "
            f"{'it' if len(assumptions) == 1 else 'them'} to change")


def diff(expr: str | Expression, wrt: str, declare: Declarations = None,
         order: int = 1, of: str | None = None) -> Derivative:
    """The derivative of `expr` by the one variable `wrt`, of any order >= 1.

    The package's `matdiff.diff` calls this for one name (and `grad` for several); its
    docstring has the examples.
    """
    from .derive import differentiate
    from .simplify import simplify, stabilize_logged

    if isinstance(expr, Expression):
        _declarations_agree(expr, declare)
    function = expr if isinstance(expr, Expression) else parse_text(expr, declare, 4, of)
    wrt = one_wrt(wrt)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise MatdiffError(f"order must be a whole number >= 1, not {order!r}")
    if order > 4:
        raise MatdiffError(f"order {order} is beyond the supported maximum of 4")
    target = function.variables.get(wrt)
    if target is None:
        names = list(function.variables)
        known = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") or "none"
        if function.program is not None and wrt in function.program.intermediates:
            raise MatdiffError(f"'{wrt}' is an intermediate of the program, not an input; "
                               f"differentiate with respect to inputs ({known}), or end the "
                               f"program at it with of='{wrt}'")
        raise MatdiffError(f"'{wrt}' does not occur in the expression (its variables: {known}); "
                           "declare it to get a zero derivative")
    with engine_errors("differentiating"):
        stable, log = stabilize_logged(function.ir)
        raw = stable
        for _ in range(order):
            raw = differentiate(raw, target)
        simplified = simplify(raw)
    return Derivative(simplified, function, wrt, order, raw, stable, log)


def value_and_grad(expr: str | Expression, wrt: str | Sequence[str],
                   declare: Declarations = None, of: str | None = None,
                   backend: str | None = None) -> Any:
    """fn(**values) -> (value, gradient) of a scalar expression, sharing the forward pass.

    With a list of names, the gradients come back as a tuple in that order.
    backend: the array library (see Derivative.compile; None: the values').
    A program's gradients come from its backward pass (shared error signals).
    """
    from .codegen import compile_value_and_grad, doc_text

    if isinstance(expr, Expression):
        _declarations_agree(expr, declare)
    f = expr if isinstance(expr, Expression) else parse_text(expr, declare, 3, of,
                                                                      goal="scalar")
    if f.ir.ndim != 0:
        shape = " x ".join(str(s) for s in f.ir.shape)
        raise MatdiffError(f"value_and_grad needs a scalar expression; this one is {shape}")
    names = wrt_names(wrt)  # "W,b" as ["W", "b"]: the reading diff and grad share
    single = isinstance(wrt, str) and len(names) == 1
    from .backward import backward_pass
    from .simplify import stabilize

    stable = stabilize(f.ir)  # exp(X)./sum(exp(X), 2) computed as softmax(X, 2), as diff does
    from .backward import stable_program

    program, bp = (stable_program(f.program) if f.program is not None else None), None
    if program is None:  # the pre-activations named, so the gradients share their signals
        from .backward.split import split_pass

        bp = split_pass(stable, f.variables, names, f.text, f.declarations)
        program = bp.program if bp is not None else None
    if program is not None:
        from .backward.render import named_lines
        from .language.program import intermediate_leaf

        for n in names:
            if n not in f.variables:
                diff(f, wrt=n)  # the error that names the problem
        with engine_errors("differentiating"):
            bp = bp or backward_pass(program, names)
            program = bp.program  # its lines as the backward pass reads them (stable logs)
            out = program.output
            lines = [(s.name, s.local) for s in program.statements]
            lines += named_lines(bp)
        value = out.local if out.name is None else intermediate_leaf(out.name, out.local.shape)
        grads = [intermediate_leaf(bp.gradient_names[n], f.variables[n].shape) for n in names]
        with engine_errors("compiling"):
            fn = compile_value_and_grad(value, grads, names, f.variables, single,
                                        doc_text(f.to_text), backend=backend, lines=lines)
    else:
        grads = [diff(f, wrt=n) for n in names]
        variables = dict(f.variables)
        for g in grads:
            variables.update(g.variables)
        with engine_errors("compiling"):
            fn = compile_value_and_grad(stable, [g.ir for g in grads], names, variables, single,
                                        doc_text(f.to_text), backend=backend)
    declare = dict(f.declarations)
    fn.origin = (f"matdiff.value_and_grad({f.text!r}, wrt={wrt!r}"
                 + (f", declare={declare!r}" if declare else "")
                 + (f", backend={backend!r}" if backend else "") + ")")
    fn.expression = f.text
    return fn
