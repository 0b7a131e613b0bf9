"""The text printer: the input language, so that what prints parses back.

Spelling follows LANGUAGE.md: `*` for matrix products and scaling, `.*`
and `./` element-wise, `/` by a scalar, `^` on scalars and `.^` on arrays,
`'` for the transpose, `vector(c)`, `matrix(c)`, `eye`, `numel(x)` for a
size. Index notation (tensors of three or more axes) is the one output
that does not parse back; it reads `T[i,j,k] = δ[i,j]*x[k]`.
"""

from __future__ import annotations

from .form import Form
from .precedence import ATOM, MUL, precedence
from .printer import Printer, format_number

__all__ = ["TextPrinter"]


class TextPrinter(Printer):
    """Forms to the input language."""

    def _print_sym(self, f: Form, parts: list[str]) -> str:
        return f.value

    def _print_num(self, f: Form, parts: list[str]) -> str:
        return format_number(f.value)

    def _print_call(self, f: Form, parts: list[str]) -> str:
        return f"{f.value}({', '.join(parts)})"

    def _print_ones(self, f: Form, parts: list[str]) -> str:
        return f"{'vector' if f.shape == 'c' else 'matrix'}({format_number(f.value)})"

    def _print_eye(self, f: Form, parts: list[str]) -> str:
        return "eye"

    def _print_size(self, f: Form, parts: list[str]) -> str:
        _, uncovered = f.value
        return "*".join([f"numel({p})" for p in parts] + [str(d) for d in uncovered])

    def _print_t(self, f: Form, parts: list[str]) -> str:
        return parts[0] + "'"

    def _print_pow(self, f: Form, parts: list[str]) -> str:
        op = "^" if f.args[0].shape == "s" else ".^"
        return f"{parts[0]}{op}{parts[1]}"

    def _print_neg(self, f: Form, parts: list[str]) -> str:
        return "-" + parts[0]

    def _print_mul(self, f: Form, parts: list[str]) -> str:
        return "*".join(parts)

    def _print_had(self, f: Form, parts: list[str]) -> str:
        return ".*".join(parts)

    def _print_ediv(self, f: Form, parts: list[str]) -> str:
        return f"{parts[0]}./{parts[1]}"

    def _print_sdiv(self, f: Form, parts: list[str]) -> str:
        return f"{parts[0]}/{parts[1]}"

    # ------------------------------------------------------------ index notation

    def _print_index(self, f: Form, parts: list[str]) -> str:
        names, body = f.value
        return f"T[{','.join(names)}] = {self.index_item(body, f, parts)}"

    def index_item(self, node: tuple, f: Form, parts: list[str]) -> str:
        kind = node[0]
        if kind == "num":
            return format_number(node[1])
        if kind == "entry":
            _, k, names = node
            s, arg = parts[k], f.args[k]
            if not names:
                return s if precedence(arg) >= MUL else f"({s})"
            base = s if precedence(arg) >= ATOM else f"({s})"
            return f"{base}[{','.join(names)}]"
        if kind == "delta":
            return f"δ[{node[1]},{node[2]}]"
        if kind == "prod":
            if node[1] and node[1][0][0] == "num" and node[1][0][1] in (1.0, -1.0):
                rest = self.index_item(("prod", node[1][1:]), f, parts)
                return ("-" if node[1][0][1] < 0 else "") + rest
            items = [self.index_item(x, f, parts) for x in node[1]]
            items = [f"({s})" if x[0] == "add" else s for x, s in zip(node[1], items)]
            return "*".join(items) or "1"
        if kind == "sum":
            return f"Σ_{''.join(node[1])}({self.index_item(node[2], f, parts)})"
        if kind == "add":
            out = ""
            for k, (sign, item) in enumerate(node[1]):
                s = self.index_item(item, f, parts)
                out += (" - " if sign < 0 else " + ") + s if k else ("-" if sign < 0 else "") + s
            return out
        if kind == "call":
            return f"{node[1]}({', '.join(self.index_item(x, f, parts) for x in node[2])})"
        if kind == "pow":
            base, ex = (self.index_item(x, f, parts) for x in node[1:])
            return f"({base})^{ex}" if node[1][0] not in ("entry", "num") else f"{base}^{ex}"
        raise ValueError(f"unknown index item {kind}")  # pragma: no cover
