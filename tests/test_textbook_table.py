"""The quality bar: textbook derivatives, printed as short as the textbook writes them.

For each row of tests/textbook_table.py, matdiff's printed derivative and the
textbook form must both evaluate to d.evaluate's numbers, and for at least 90%
of the rows the printed form is at most 1.25 times the textbook's length (spaces
removed). docs/derivatives.md, written by scripts/write_textbook_table.py, must
be current.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from textbook_table import BAR, ROWS, check_row, markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "derivatives.md"


@pytest.fixture(scope="module")
def results():
    return [check_row(row) for row in ROWS]


def test_the_table_has_at_least_forty_rows():
    assert len(ROWS) >= 40
    assert len({(r.expression, r.wrt, r.order) for r in ROWS}) == len(ROWS)


def test_every_printed_form_evaluates_to_the_derivative(results):
    wrong = [(r.row.expression, r.row.wrt, r.printed) for r in results if not r.same]
    assert not wrong


def test_ninety_percent_are_at_most_a_quarter_longer_than_the_textbook(results):
    met = sum(r.meets_bar for r in results)
    assert met >= 0.9 * len(results), [(r.row.expression, r.printed, round(r.ratio, 2))
                                       for r in results if not r.meets_bar]
    assert all(r.ratio <= 2 * BAR for r in results)


def test_the_docs_table_is_current(results):
    assert DOCS.read_text(encoding="utf-8") == markdown(results), \
        "run: python scripts/write_textbook_table.py"
