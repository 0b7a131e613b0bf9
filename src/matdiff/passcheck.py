"""Checking a hand-written backward pass line by line: `matdiff.compare(answer, of=program,
wrt=[...])` with an answer of `dNAME = ...` lines.

A line `dNAME = expr` states the gradient of the program's loss with respect to
NAME (an input or an intermediate), in NAME's shape: the total derivative, every
path from NAME to the loss. Its expression may use the program's inputs, its
intermediates and the `d` names of earlier lines. Each line is judged given the
right values of the lines before it (they are replaced by the right gradients),
so one slip condemns one line, not the rest; the line gets the full diagnosis
of matdiff.compare. A line for a name the program does not have, and a
gradient asked for in `wrt` that no line gives, are reported as lines too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import MatdiffError

__all__ = ["compare", "compare_pass", "PassComparison", "LineCheck", "is_backward_pass"]

LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.*?)\s*$")
DECLARATION = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*:[^=]*$")


def compare(answer: str, of: str, wrt, declare: Mapping[str, str] | None = None,
            order: int = 1, layout: str = "shape", seed: int = 0):
    """matdiff.compare: a backward pass (`dNAME = ...` lines, or `wrt` a list) is checked
    line by line here; one expression goes to matdiff.comparison.compare."""
    from .comparison import compare as compare_one

    if isinstance(answer, str) and answer.strip() and (not isinstance(wrt, str) or
                                                       is_backward_pass(answer)):
        if order != 1:
            raise MatdiffError("a backward pass holds gradients: order must be 1")
        return compare_pass(answer, of, wrt, declare=declare, seed=seed)
    return compare_one(answer, of, wrt, declare=declare, order=order, layout=layout, seed=seed)


def is_backward_pass(answer: str) -> bool:
    """Whether the answer is written as assignments (`dW = ...`), not one expression."""
    return any(LINE.match(part) for part in _parts(answer))


def _parts(text: str) -> list[str]:
    return [part for _, _, part in _placed_parts(text)]


def _placed_parts(text: str) -> list[tuple[int, int, str]]:
    """The statements of the answer, each with its line and the column it starts at
    (lines, or ';' within a line; '#' starts a comment)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        column = 1
        for part in line.split(";"):
            if part.strip():
                out.append((number, column, part))
            column += len(part) + 1
    return out


_POSITION = re.compile(r"\s*\(line (\d+), column (\d+)\)\s*$")


def _located(message: str, line: int, column: int) -> str:
    """A message about one line's expression, its position made the answer's."""
    m = _POSITION.search(message)
    if not m:
        return f"{message} (line {line})"
    return f"{message[:m.start()]} (line {line}, column {column + int(m.group(2)) - 1})"


@dataclass
class LineCheck:
    """The verdict on one line: its `name` (dW1), whether it is right (`equal`), the
    `mistake` and its `diagnosis` when not, and the right gradient (`expected`)."""

    name: str
    answer: str
    equal: bool
    mistake: str | None = None
    diagnosis: str = ""
    expected: str = ""
    line: int = 0
    comparison: Any = field(default=None, repr=False)
    expected_latex: str | None = field(default=None, repr=False)  # for a notebook's MathML

    def __bool__(self) -> bool:
        return self.equal

    def __str__(self) -> str:
        head = f"{self.name} = {self.answer}" if self.answer else self.name
        if self.equal:
            return f"  right  {head}"
        out = [f"  wrong  {head}", f"         ({self.mistake}) {self.diagnosis}"]
        if self.expected:
            out.append(f"         the right {self.name}: {self.expected}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        record = {"name": self.name, "answer": self.answer, "equal": self.equal,
                  "mistake": self.mistake, "diagnosis": self.diagnosis,
                  "expected": self.expected, "line": self.line}
        if self.comparison is not None:
            c = self.comparison.to_dict()
            record.update({k: c[k] for k in ("point", "answer_value", "expected_value")})
        return record


@dataclass
class PassComparison:
    """The verdict on a backward pass: `equal` when every line is right and every
    gradient asked for is given; `lines` (LineCheck, in the answer's order, then the
    missing ones); `first_wrong`, the name of the first wrong line (None if none);
    `forward`, the lines that restate the forward program (not judged)."""

    answer: str
    lines: list[LineCheck]
    forward: list[str] = field(default_factory=list)  # lines restating the program: skipped

    @property
    def equal(self) -> bool:
        return all(line.equal for line in self.lines)

    @property
    def first_wrong(self) -> str | None:
        return next((line.name for line in self.lines if not line.equal), None)

    @property
    def mistake(self) -> str | None:
        return None if self.equal else "backward pass"

    def __bool__(self) -> bool:
        return self.equal

    def __getitem__(self, name: str) -> LineCheck:
        for line in self.lines:
            if line.name == name:
                return line
        raise KeyError(name)

    def __str__(self) -> str:
        wrong = [line for line in self.lines if not line.equal]
        head = "equal: every line of the backward pass is right" if not wrong else \
            (f"not equal: {len(wrong)} of {len(self.lines)} lines wrong, the first "
             f"{self.first_wrong} (each line judged given the right values of the lines "
             "before it)")
        if self.forward:
            head += (f"\n  ({len(self.forward)} line{'s' if len(self.forward) > 1 else ''} of "
                     "the forward program and its declarations read as the program's, not "
                     "judged)")
        return "\n".join([head, *(str(line) for line in self.lines)])

    def _repr_html_(self) -> str:  # a notebook's display (printing/html.py)
        from .printing.html import pass_comparison_html

        return pass_comparison_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "equal": self.equal, "first_wrong": self.first_wrong,
                "lines": [line.to_dict() for line in self.lines], "forward": list(self.forward)}


class _Function:
    """What the comparison reads of a derivative's function."""

    def __init__(self, ir, variables, text: str) -> None:
        self.ir, self.variables, self.text, self.shape = ir, variables, text, ir.shape


class _Target:
    """The gradient of the program's loss with respect to one of its names, over the
    inputs, with the interface matdiff.comparison reads of a Derivative."""

    order = 1

    def __init__(self, function, program, name: str) -> None:
        from .derive import differentiate
        from .ir import expr as ir
        from .ir.substitute import substitute
        from .simplify import simplify

        self.name, self.wrt = name, name
        self.variables = dict(program.inputs)
        statement = program.intermediates.get(name)
        leaf = program.inputs[name] if statement is None else \
            ir.var(name, statement.local.shape)
        # dNAME has NAME's shape: a row for an intermediate or an input that is a row vector
        self.row = statement.kind == "row" if statement is not None else name in program.rows
        self.rows = program.rows   # names whose value is a row vector: read and printed so
        env: dict = {}   # each name's expression over the inputs and the leaf
        for s in program.statements:
            e = substitute(s.local, {v: env[v.name] for v in _leaves(s.local) if v.name in env})
            if s.name is not None:
                env[s.name] = leaf if s.name == name else e
            cut = env[s.name] if s.name is not None else e
        back = {leaf: statement.inlined} if statement is not None else {}
        raw = differentiate(cut, leaf)
        simplified = simplify(raw)
        self.raw = substitute(raw, back)
        self.ir = substitute(simplified, back)
        self.shape = self.ir.shape
        self.function = _Function(program.output.inlined, {**self.variables, name: leaf},
                                  function.text)
        self._folded = _fold(simplified, {e: ir.var(n, e.shape) for n, e in env.items()
                                          if n != name and e.op.value != "var"})

    def to_text(self, layout: str = "shape") -> str:
        from .printing import to_text

        return to_text(self._folded, orientation="row" if self.row else None, variables=None,
                       rows=self.rows)

    def latex(self, layout: str = "shape") -> str:
        from .printing import to_latex

        return to_latex(self._folded, orientation="row" if self.row else None, variables=None,
                        rows=self.rows)

    @property
    def record(self):
        """What the diagnoses (mistakes.py, slips.py) read, as a Derivative's record."""
        from .ir.record import DerivativeRecord, FunctionRecord

        f = self.function
        return DerivativeRecord(self.ir, self.raw, FunctionRecord(f.ir, f.text, f.variables),
                                self.wrt, self.order, self.variables)


def _leaves(e) -> list:
    from .ir.expr import topo_order
    from .ir.ops import Op

    return [n for n in topo_order(e) if n.op is Op.VAR]


def _fold(e, names: dict):
    """e with each intermediate's expression written as its name (the right gradient in
    the program's own names)."""
    from .slips import FOLD, fold

    token = FOLD.set(names)
    try:
        return fold(e)
    finally:
        FOLD.reset(token)


def compare_pass(answer: str, of: str, wrt: str | Sequence[str] | None = None,
                 declare: Mapping[str, str] | None = None, seed: int = 0) -> PassComparison:
    """Judge a backward pass (`dNAME = ...` lines) against the program `of`."""
    from .api import parse_text
    from .comparison import declaration_of, judge_answer, latex_or_none, statement_declaration
    from .language.program import single

    if isinstance(of, str):
        function = parse_text(of, declare, 4)
    else:
        function = of
    # the declarations say which inputs are row vectors (dr of a row r is a row)
    program = function.program or single(function.ir, function.variables, function.text,
                                          "scalar", function.declarations)
    if program.output.local.shape != ():
        raise MatdiffError("a backward pass is checked for a scalar loss; the program ends in "
                           f"a value of shape {program.output.local.shape}")
    wanted = [wrt] if isinstance(wrt, str) else list(wrt or [])
    for w in wanted:
        if w not in program.inputs:
            raise MatdiffError(f"'{w}' is not an input of the program (its inputs: "
                               f"{', '.join(program.inputs)})")
    program, helpers, undefined = _named_by_answer(answer, function, program, declare)
    names = {**{n: declaration_of(v, n in program.rows) for n, v in program.inputs.items()},
             **{n: statement_declaration(s) for n, s in program.intermediates.items()}}
    # every name the program computes, the loss too (`da = L` for L = sum(exp(P + a)))
    inter = {n: (statement_declaration(s), s.inlined) for n, s in program.intermediates.items()}
    inter.update(helpers)
    targets: dict[str, _Target] = {}
    lines: list[LineCheck] = []
    given: dict[str, tuple[str, Any]] = {}   # earlier lines: dNAME -> the right gradient
    skipped: list[str] = []
    for k, column, part in _placed_parts(answer):
        m = LINE.match(part)
        if (not m and DECLARATION.match(part)) or (m and m.group(1) in program.intermediates) \
                or (m and m.group(1) in helpers):
            skipped.append(part.strip())  # the forward program, restated: not judged
            continue
        if m and m.group(1) in undefined:
            lines.append(LineCheck(m.group(1), m.group(2), False, *undefined[m.group(1)],
                                   line=k))
            continue
        if not m:
            lines.append(LineCheck("?", part.strip(), False, "not a line",
                                   "a line of a backward pass is written dNAME = expression",
                                   line=k))
            continue
        lhs, rhs = m.group(1), m.group(2)
        target = lhs[1:] if lhs.startswith("d") else None
        if target in helpers or target in undefined:
            lines.append(LineCheck(lhs, rhs, False, "unknown name",
                                   f"{target} is not a value the function computes, so {lhs} "
                                   "is no gradient", line=k))
            continue
        if target not in names:
            known = ", ".join("d" + n for n in names)
            lines.append(LineCheck(lhs, rhs, False, "unknown name",
                                   f"{lhs} is not the gradient of a name of the program: a "
                                   f"line is dNAME for a name the program has ({known})",
                                   line=k))
            continue
        try:
            if target not in targets:
                targets[target] = _Target(function, program, target)
            t = targets[target]
            r = judge_answer(rhs, t, "shape", seed, {**inter, **given}, declare)
        except MatdiffError as e:
            where = column + m.start(2)
            t = targets.get(target)
            lines.append(LineCheck(lhs, rhs, False, "error",
                                   _located(str(e).splitlines()[0], k, where),
                                   _safe_text(t), k,
                                   expected_latex=None if t is None else latex_or_none(t.latex)))
        else:
            lines.append(LineCheck(lhs, rhs, r.equal, r.mistake, r.diagnosis, r.expected, k, r,
                                   r.expected_latex))
        if target in targets:
            given[lhs] = (names[target], targets[target].ir)
    written = {line.name for line in lines}
    for w in wanted:
        if "d" + w not in written:
            if w not in targets:
                targets[w] = _Target(function, program, w)
            t = targets[w]
            lines.append(LineCheck("d" + w, "", False, "missing",
                                   f"no line gives d{w}, the gradient with respect to {w}",
                                   t.to_text(), 0, expected_latex=latex_or_none(t.latex)))
    return PassComparison(answer, lines, skipped)


def _named_by_answer(answer: str, function, program, declare):
    """The answer's own forward lines (`z1 = X*W1 + b1'`: not dNAME for a name it may use).

    For one expression, each that the expression computes becomes a line of its program,
    so `dz1 = ...` states the gradient with respect to it, as matdiff's own printed pass
    does (gradients.py); any other is a helper value later lines may use (`g = 1 - h.^2`).
    Returns (program, helpers: name -> (declaration, expression over the inputs),
    undefined: name -> (mistake, why its line is wrong))."""
    from .api import parse_text
    from .backward.split import name_nodes
    from .comparison import declaration_of
    from .ir.expr import variables as ir_variables
    from .ir.substitute import substitute
    from .language import RESERVED
    from .language.program import intermediate_leaf

    taken = set(program.inputs) | set(program.intermediates)
    placed = [(k, column, m) for k, column, part in _placed_parts(answer)
              if (m := LINE.match(part))]
    written = {m.group(1) for _, _, m in placed}
    defined: dict[str, tuple[str, Any]] = {}
    rows: set[str] = set()
    undefined: dict[str, str] = {}
    for k, column, m in placed:
        lhs, rhs = m.group(1), m.group(2)
        if lhs in taken or lhs in defined or (lhs.startswith("d") and lhs[1:] in
                                               taken | written):
            continue  # a gradient, or the program restated
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rhs)) - RESERVED
        if names - set(program.inputs) - set(defined):
            continue  # reads names that are no values (earlier d lines): not a forward line
        declared = {n: declaration_of(v, n in program.rows) for n, v in program.inputs.items()}
        declared.update({n: d for n, (d, _) in defined.items()})
        try:
            e = parse_text(rhs, {**dict(declare or {}), **declared}, 4)
        except MatdiffError as err:
            undefined[lhs] = ("error", _located(str(err).splitlines()[0], k,
                                                column + m.start(2)))
            continue
        # the function's own leaves (a probability row or labels are part of the variable),
        # so a value it computes is found as the same node
        value = substitute(e.ir, {v: defined[n][1] if n in defined else program.inputs[n]
                                  for n, v in e.variables.items()
                                  if n in defined or n in program.inputs})
        if set(ir_variables(value)) - set(program.inputs):
            continue
        row = getattr(e, "orientation", None) == "row"
        if row:
            rows.add(lhs)
        defined[lhs] = (declaration_of(intermediate_leaf(lhs, value.shape), row), value)
    if not defined:
        return program, {}, undefined
    if function.program is not None:  # a program's own lines are its names
        return program, defined, undefined

    def named(names):  # the expression's program with these names as its lines
        return name_nodes(program.output.local, program.inputs,
                          [(n, defined[n][1]) for n in names], function.text,
                          dict(program.declarations), {n: "row" for n in rows})

    found = _read(named(defined)) & set(defined)
    missing = [n for n in defined if n not in found]
    for n in missing:  # written another way than the function's text: found by value
        node = _node_of_value(defined[n][1], program.output.local, program.inputs)
        if node is not None:
            defined[n] = (defined[n][0], node)
    if missing:
        found = _read(named(defined)) & set(defined)
    for n in set(defined) - found:  # named for its gradient, yet not computed: wrong
        if "d" + n in written:
            undefined[n] = ("not computed", f"{n} is not a value the function computes, "
                            f"so d{n} is no gradient: a name for a gradient is a sum or "
                            "product the function computes")
            del defined[n]
    if not found:
        return program, defined, undefined
    return (named([n for n in defined if n in found]),
            {n: v for n, v in defined.items() if n not in found}, undefined)


def _read(program) -> set[str]:
    """The names the function reads, through the lines it reads."""
    from .ir.expr import variables as ir_variables

    found = set(ir_variables(program.output.local))
    for st in reversed(program.statements[:-1]):
        if st.name in found:
            found |= set(ir_variables(st.local))
    return found


def _node_of_value(value, root, inputs):
    """The first node of root (inner first) equal to `value` at two random points, the
    learner's `z1 = (r*s)*r'` for the function's `r'*r*s`; None if there is none."""
    from .evaluate import evaluate_each
    from .ir.expr import topo_order
    from .verify import values_in_domain

    nodes = [n for n in topo_order(root) if n.args and n.shape == value.shape]
    if not nodes:
        return None
    for seed in (0, 1):
        try:
            point = values_in_domain(root, inputs, root, seed)
            got = evaluate_each([*nodes, value], point, inputs)
        except (MatdiffError, ArithmeticError, ValueError):
            return None
        want = got[-1]
        if want is None or not np.all(np.isfinite(want)):
            return None
        nodes = [n for n, v in zip(nodes, got) if v is not None and np.shape(v) ==
                 np.shape(want) and np.allclose(v, want, rtol=1e-9, atol=1e-12)]
        if not nodes:
            return None
    return nodes[0]


def _safe_text(t) -> str:
    return "" if t is None else t.to_text()
