"""Several gradients at once, and the backward pass that computes them.

    g = matdiff.grad(program, wrt=["W1", "b1", "W2", "b2"])
    g["W1"]              # a Derivative, like diff(program, wrt="W1")
    print(g)             # the backward pass: dz2 = ..., dW2 = dz2*h1', ...
    g.latex(), g.explain(), g.evaluate(values), g.check(), g.compile()

`Gradients` is a read-only mapping from each wrt name (in the order given)
to its Derivative, computed on first access. The backward pass is computed
once, on the program's own lines (reverse mode; see matdiff.backward).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .api import Derivative, Expression, diff, engine_errors, parse, parse_text
from .errors import MatdiffError
from .typing import Declarations
from .wrt import wrt_names

__all__ = ["Gradients", "grad", "wrt_names"]


class Gradients(Mapping[str, Derivative]):
    """wrt name -> Derivative, with the backward pass that computes them all."""

    def __init__(self, function: Expression, wrt: Sequence[str], order: int = 1) -> None:
        self.function = function
        self.wrt = tuple(wrt_names(wrt))
        self.order = order
        self._derivatives: dict[str, Derivative] = {}
        self._backward = None
        self._inlined: dict | None = None
        for name in self.wrt:  # fail early on a name that is no input
            if name not in function.variables:
                diff(function, wrt=name, order=order)

    # ------------------------------------------------------------ the mapping

    def __getitem__(self, name: str) -> Derivative:
        if name not in self.wrt:
            raise KeyError(name)
        if name not in self._derivatives:
            if self.order == 1 and self.function.ir.ndim == 0:
                self._derivatives[name] = self._from_backward(name)
            else:
                self._derivatives[name] = diff(self.function, wrt=name, order=self.order)
        return self._derivatives[name]

    def _from_backward(self, name: str) -> Derivative:
        """The gradient read off the backward pass: its error signals written out over the
        inputs. One reverse sweep serves every name, where deriving each gradient again
        runs forward mode through the whole program once per name (24 gradients of a
        12-layer MLP: 4 ms instead of some 150)."""
        if self._inlined is None:
            try:
                with engine_errors("differentiating"):
                    self._inlined = self.backward.inlined()[0]
            except MatdiffError:  # the pass cannot be built: each gradient on its own
                self._inlined = {}
        if name not in self._inlined:
            return diff(self.function, wrt=name)
        return _SharedDerivative(self._inlined[name], self.function, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.wrt)

    def __len__(self) -> int:
        return len(self.wrt)

    # ------------------------------------------------------------ the backward pass

    @property
    def backward(self):
        """The reverse-mode pass (matdiff.backward.BackwardPass) over the program's lines."""
        if self._backward is None:
            from .backward import backward_pass, stable_program
            from .backward.split import shares_a_signal, split_pass
            from .language.program import single
            from .simplify import stabilize

            if self.order != 1:
                raise MatdiffError("the backward pass is of first derivatives (order=1)")
            f = self.function
            # an expression is differentiated in its stable form, as diff does; a program
            # line by line
            if f.program is not None:
                program = stable_program(f.program)
            else:
                program = single(stabilize(f.ir), f.variables, f.text,
                                 "scalar" if f.ir.ndim == 0 else "col", f.declarations)
                # the pre-activations named when an error signal is shared: printed once
                # (backward/split.py), where the one-line pass repeats it in each gradient
                shared = split_pass(program.output.local, f.variables, self.wrt, f.text,
                                    f.declarations)
                if shared is not None and shares_a_signal(shared):
                    self._backward = shared
                    return shared
            with engine_errors("differentiating"):
                self._backward = backward_pass(program, self.wrt)
        return self._backward

    def to_text(self) -> str:
        """The backward pass as a matdiff program over the forward program's names."""
        from .backward.render import backward_text

        with engine_errors("printing"):
            return backward_text(self.backward)

    def latex(self) -> str:
        from .backward.render import backward_latex

        with engine_errors("printing"):
            return backward_latex(self.backward)

    def explain(self, format: str = "text") -> str:
        """Each line of the backward pass with the vector chain rule that gives it.

        A `str` that a notebook shows with its mathematics (printing.html.Rich).
        """
        from .backward.render import backward_explain
        from .printing.html import Rich, card, mathml

        with engine_errors("explaining"):
            text = backward_explain(self.backward, format=format)
            rows = backward_explain(self.backward, format="latex").split(" \\\\\n")

        def html() -> str:  # the title, then one equation and its rule a line
            title = re.sub(r"^\\text\{(.*)\}$", r"\1", rows[0])
            items = "".join(f"<li style='margin:0.4em 0'>{mathml(r, display=False)}</li>"
                            for r in rows[1:])
            return card(title, f"<ol>{items}</ol>", kind="explain")

        return Rich(text, html=html,
                    markdown=lambda: backward_explain(self.backward, format="markdown"))

    def program_text(self) -> str:
        """The forward program followed by the backward pass: one program computing both
        (declarations given by declare= first)."""
        from .language.program import declared_in_text

        f = self.function
        forward = f.text if f.program is not None else f"f = {f.text}"
        inside = declared_in_text(f.text) if f.program is not None else set()
        # declare= written in, so the text parses and evaluates from the values alone
        given = [f"{name}: {spec}" for name, spec in f.declarations.items()
                 if name not in inside and name in f.variables]
        return "\n".join([*given, forward.rstrip(), self.to_text()])

    def names(self) -> dict[str, str]:
        """wrt name -> the name of its line in the backward pass (W1 -> dW1)."""
        return dict(self.backward.gradient_names)

    def evaluate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every gradient's value, computed by running the backward pass after the forward one."""
        from .backward.render import named_lines
        from .evaluate import evaluate
        from .ir.expr import topo_order
        from .ir.ops import Op

        bp = self.backward
        env = dict(values)
        leaves = bp.program.leaves
        lines = named_lines(bp)
        # only the forward lines the pass reads: one it no longer needs (`e = exp(z)` under
        # a log(sum(e)) taken as logsumexp(z)) may overflow where the gradient is finite
        needed = {n.name for _, e in lines for n in topo_order(e) if n.op is Op.VAR}
        for s in reversed(bp.program.statements):
            if s.name in needed:
                needed |= {n.name for n in topo_order(s.local) if n.op is Op.VAR}
        with engine_errors("evaluating"):
            for s in bp.program.statements:
                if s.name in needed:
                    env[s.name] = evaluate(s.local, env, leaves)
            for name, e in lines:
                env[name] = evaluate(e, env, leaves)
        return {w: env[bp.gradient_names[w]] for w in self.wrt}

    def check(self, values: Mapping[str, Any] | None = None, seed: int = 0) -> float:
        """The largest relative error of any gradient against central finite differences."""
        return max(self[name].check(values, seed) for name in self.wrt)

    def compile(self):
        """fn(**values) -> (value, (gradient, ...)): see matdiff.value_and_grad (a program's
        forward pass once, every gradient from the shared error signals)."""
        from .api import value_and_grad

        return value_and_grad(self.function, list(self.wrt))

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.function.text, "wrt": list(self.wrt),
                "gradients": {n: self[n].to_dict() for n in self.wrt},
                "backward": self.to_text() if self.function.ir.ndim == 0 else None}

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Gradients of {self.function.text!r} wrt {', '.join(self.wrt)}>"

    # a notebook shows the backward pass (MathML in HTML: no network needed)
    def _repr_html_(self) -> str:
        from .printing.html import card, code, details, mathml, pre

        with engine_errors("printing"):
            math = mathml(self.latex())
            text = self.to_text()
        return card(f"Gradients wrt {', '.join(self.wrt)}: the backward pass", math,
                    details("as text", pre(text)),
                    details("of the function", pre(self.function.text)),
                    f"<p>then {code('.compile()')} for one function computing them all</p>",
                    kind="gradients")

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def _repr_markdown_(self) -> str:
        return f"$$ {self.latex()} $$"


class _SharedDerivative(Derivative):
    """A gradient taken from the backward pass. `raw` (the forward-mode derivative before
    simplification, which only the step-by-step explanation shows) is derived on first
    use."""

    def __init__(self, ir, function: Expression, wrt: str) -> None:
        super().__init__(ir, function, wrt, 1, None)

    @property
    def raw(self):
        if self._raw is None:
            from .derive import differentiate

            with engine_errors("differentiating"):
                self._raw = differentiate(self.function.ir, self.function.variables[self.wrt])
        return self._raw

    @raw.setter
    def raw(self, value) -> None:
        self._raw = value


def several(f: str | Expression, wrt: Sequence[str], declare: Declarations = None,
            order: int = 1, of: str | None = None) -> Gradients:
    """matdiff.diff with a list of names."""
    function = f if isinstance(f, Expression) else parse(f, declare, of)
    return Gradients(function, wrt, order=order)


def grad(f: str | Expression, wrt: str | Sequence[str], declare: Declarations = None,
         of: str | None = None) -> Derivative | Gradients:
    """The gradient of a scalar function or program: one Derivative for a name,
    a Gradients mapping (with the backward pass) for a list of names. A loss is a scalar:
    undeclared names in it are typed so (`reg` in `... + reg*sum(W.^2)`)."""
    function = f if isinstance(f, Expression) else parse_text(f, declare, 3, of,
                                                                goal="scalar")
    if function.ir.ndim != 0:
        shape = " x ".join(str(d) for d in function.ir.shape)
        raise MatdiffError(f"a gradient needs a scalar function; this one has shape {shape} "
                           "(use diff for a Jacobian)")
    names = wrt_names(wrt)
    if isinstance(wrt, str) and len(names) == 1:
        return diff(function, wrt=names[0])
    return Gradients(function, names)
