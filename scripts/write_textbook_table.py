"""Write docs/derivatives.md: every textbook row, matdiff's answer, and the figures.

    python scripts/write_textbook_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from textbook_table import ROWS, check_row, markdown  # noqa: E402


def main() -> int:
    results = [check_row(row) for row in ROWS]
    out = ROOT / "docs" / "derivatives.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(markdown(results), encoding="utf-8")
    met = sum(r.meets_bar for r in results)
    print(f"{out}: {met} of {len(results)} rows meet the bar; "
          f"{sum(r.ratio > 1 for r in results)} longer than the textbook")
    return 0


if __name__ == "__main__":
    sys.exit(main())
