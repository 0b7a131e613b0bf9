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

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .api import Declarations, Derivative, Expression, _parse, diff, engine_errors, parse
from .errors import MatdiffError

__all__ = ["Gradients", "grad", "wrt_names"]


def wrt_names(wrt: Any) -> list[str]:
    """A name, a list of names or "W1,b1" -> the list of names (duplicates an error)."""
    items = [wrt] if isinstance(wrt, str) else wrt
    if not isinstance(items, list | tuple) or not items:
        raise MatdiffError(f"wrt must be a variable name or a list of them, not {wrt!r}")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise MatdiffError(f"wrt must be a variable name or a list of them, not {wrt!r}")
        for part in item.split(","):
            part = part.strip()
            if not part:
                raise MatdiffError(f"an empty name in wrt={wrt!r}")
            if part in names:
                raise MatdiffError(f"wrt names '{part}' twice")
            names.append(part)
    return names


class Gradients(Mapping[str, Derivative]):
    """wrt name -> Derivative, with the backward pass that computes them all."""

    def __init__(self, function: Expression, wrt: Sequence[str], order: int = 1) -> None:
        self.function = function
        self.wrt = tuple(wrt_names(list(wrt) if isinstance(wrt, list | tuple) else wrt))
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
            from .backward import backward_pass
            from .language.program import single

            if self.order != 1:
                raise MatdiffError("the backward pass is of first derivatives (order=1)")
            f = self.function
            program = f.program or single(f.ir, f.variables, f.text,
                                          "scalar" if f.ir.ndim == 0 else "col",
                                          f.declarations)
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
        """Each line of the backward pass with the vector chain rule that gives it."""
        from .backward.render import backward_explain

        with engine_errors("explaining"):
            return backward_explain(self.backward, format=format)

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
        from .evaluate import evaluate

        bp = self.backward
        env = dict(values)
        leaves = bp.program.leaves
        with engine_errors("evaluating"):
            for s in bp.program.statements:
                if s.name is not None:
                    env[s.name] = evaluate(s.local, env, leaves)
            from .backward.render import named_lines

            for name, e in named_lines(bp):
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
    function = f if isinstance(f, Expression) else _parse(f, declare, 3, of, goal="scalar")
    if function.ir.ndim != 0:
        shape = " x ".join(str(d) for d in function.ir.shape)
        raise MatdiffError(f"a gradient needs a scalar function; this one has shape {shape} "
                           "(use diff for a Jacobian)")
    if isinstance(wrt, str) and "," not in wrt:
        return diff(function, wrt=wrt)
    return Gradients(function, wrt_names(wrt))
