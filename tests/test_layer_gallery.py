"""The gallery of layers and losses (tests/layers_gallery.py): every gradient against
finite differences, against its textbook form written by hand, compiled, explained and
printed compactly; docs/layers.md, written by scripts/write_layers_gallery.py, current."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers_gallery import LAYERS, check_layer, markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "layers.md"


@pytest.fixture(scope="module")
def results():
    return [r for layer in LAYERS for r in check_layer(layer)]


def test_the_gallery_covers_the_layers_of_the_issue():
    names = " ".join(layer.name for layer in LAYERS)
    for needle in ("linear layer", "two-layer MLP", "three-layer MLP", "softmax cross-entropy",
                   "binary cross-entropy", "mean squared", "L2", "L1", "layer norm",
                   "attention", "RNN", "residual"):
        assert needle in names, needle


def test_every_gradient_matches_finite_differences(results):
    bad = [(r.layer.name, r.wrt, r.fd_error) for r in results if not r.fd_error < 1e-6]
    assert not bad


def test_printed_and_textbook_forms_agree_with_evaluate_and_compile(results):
    bad = [(r.layer.name, r.wrt, r.printed) for r in results if not (r.same and r.compiled)]
    assert not bad


def test_printed_compactly(results):
    """At most a quarter longer than the textbook for 80% of the gradients, twice at most
    (the layer norm is the longest: its textbook form names the normalised rows)."""
    ratios = [r.ratio for r in results]
    assert sum(x <= 1.25 for x in ratios) >= 0.8 * len(ratios), \
        [(r.layer.name, r.wrt, round(r.ratio, 2)) for r in results if r.ratio > 1.25]
    assert max(ratios) <= 2.0, [(r.layer.name, r.wrt, r.printed) for r in results
                                if r.ratio > 2.0]


def test_every_derivation_is_explained(results):
    assert all(r.explained >= 3 for r in results)


def test_the_docs_gallery_is_current(results):
    assert DOCS.read_text(encoding="utf-8") == markdown(results), \
        "run: python scripts/write_layers_gallery.py"
