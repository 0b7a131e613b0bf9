"""The text printer: the input language, so that what prints parses back.

Spelling follows docs/language.md: `*` for matrix products and scaling, `.*`
and `./` element-wise, `/` by a scalar, `^` on scalars and `.^` on arrays,
`'` for the transpose, `vector(c)`, `matrix(c)`, `eye`, `numel(x)` and
`size(A, k)` for a size. Index notation (tensors of three or more axes) is
the one output that does not parse back; it reads `T[i,j,k] = δ[i,j]*x[k]`.
"""

from __future__ import annotations

from .form import Form
from .precedence import ATOM
from .printer import Printer, number_text

__all__ = ["TextPrinter"]


class TextPrinter(Printer):
    """Forms to the input language."""

    def _print_sym(self, f: Form, parts: list[str]) -> str:
        return f.value

    def _print_num(self, f: Form, parts: list[str]) -> str:
        return number_text(f.value)

    def _print_call(self, f: Form, parts: list[str]) -> str:
        return f"{f.value}({', '.join(parts)})"

    def _print_ones(self, f: Form, parts: list[str]) -> str:
        """vector(c), or vector(c, n) with its size written (sizes.py)."""
        name = "vector" if f.orient == "c" else "matrix"
        return f"{name}({', '.join([number_text(f.value), *parts])})"

    def _print_eye(self, f: Form, parts: list[str]) -> str:
        return f"eye({parts[0]})" if parts else "eye"

    def _print_empty(self, f: Form, parts: list[str]) -> str:
        return "[]"  # max(X, [], 2)

    def _print_block(self, f: Form, parts: list[str]) -> str:
        rows, k = [], 0
        for n in f.value:
            rows.append(", ".join(parts[k:k + n]))
            k += n
        return "[" + "; ".join(rows) + "]"

    def size_factors(self, f: Form) -> tuple[str, ...]:
        return f.value[1]

    def _print_size(self, f: Form, parts: list[str]) -> str:
        return "*".join(f.value[1])

    def _print_t(self, f: Form, parts: list[str]) -> str:
        return parts[0] + "'"

    def _print_pow(self, f: Form, parts: list[str]) -> str:
        op = "^" if f.args[0].orient == "s" else ".^"
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

    def index_result(self, result: str, names: list[str], body: str) -> str:
        return f"{result}[{','.join(names)}] = {body}"

    def index_entry(self, s: str, arg: Form, names: list[str]) -> str:
        base = s if self.precedence(arg) >= ATOM else self.bracket(s)
        return f"{base}[{','.join(names)}]"

    def index_delta(self, i: str, j: str) -> str:
        return f"δ[{i},{j}]"

    def index_product(self, items: list[str]) -> str:
        return "*".join(items) or "1"

    def index_sum(self, names: list[str], body: str) -> str:
        return f"Σ_{(',' if any(len(n) > 1 for n in names) else '').join(names)}({body})"

    def index_call(self, name: str, args: list[str]) -> str:
        return f"{name}({', '.join(args)})"

    def index_pow(self, base: str, ex: str) -> str:
        return f"{base}^{ex}"

    def index_block(self, name: str, items: list[str]) -> str:
        return f"[{'; '.join(items)}]_{name}"
